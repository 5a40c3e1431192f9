#include "version/version.h"

namespace qatlab {

const std::string& QatlabVersion() {
  static const std::string* const version = [] {
    std::string commit = QATLAB_GIT_COMMIT;
    return new std::string(commit.empty() ? std::string(QATLAB_PROJECT_VERSION)
                                          : std::string(QATLAB_PROJECT_VERSION) + "+g" + commit);
  }();
  return *version;
}

}  // namespace qatlab
