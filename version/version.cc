#include "version/version.h"

namespace qatlab {
namespace version_values {
extern const char kProjectVersion[];
extern const char kGitDescribe[];
}  // namespace version_values

const std::string& QatlabVersion() {
  static const std::string version = [] {
    std::string text = version_values::kProjectVersion;
    if (version_values::kGitDescribe[0] != '\0') text += std::string(" (") + version_values::kGitDescribe + ")";
    return text;
  }();
  return version;
}

const char* QatlabProjectVersion() { return version_values::kProjectVersion; }

std::string VersionLine(const std::string& program) { return program + " " + QatlabVersion(); }

}  // namespace qatlab
