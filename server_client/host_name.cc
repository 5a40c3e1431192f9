#include "server_client/host_name.h"

#include <unistd.h>

namespace qatlab {

std::string HostName() {
  char name[256] = {};
  if (::gethostname(name, sizeof(name) - 1) != 0 || name[0] == '\0') return "host";
  return name;
}

}  // namespace qatlab
