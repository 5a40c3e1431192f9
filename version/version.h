// The version of qatlab: one string for every program's --version and for
// anything that records which build produced it (a job's run record). It is
// the CMake project version, followed by `git describe --always --dirty
// --tags` of the source tree when the build was configured from a git
// checkout: "0.1.0 (8e4f5bb-dirty)", or "0.1.0" alone.
#pragma once

#include <string>

namespace qatlab {

// "0.1.0" or "0.1.0 (8e4f5bb)".
const std::string& QatlabVersion();

// The CMake project version alone: "0.1.0".
const char* QatlabProjectVersion();

// What `<program> --version` prints: "qatctl 0.1.0 (8e4f5bb)".
std::string VersionLine(const std::string& program);

}  // namespace qatlab
