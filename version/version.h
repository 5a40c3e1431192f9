// The version of qatlab this binary was built from, in one place: what every
// program's --version prints and what a job's run record names as the engine
// version (worker/run_record.h).
#pragma once

#include <string>

namespace qatlab {

// "<project version>" or, when the build was configured in a git checkout,
// "<project version>+g<12 hex digits of the commit>" (e.g. "0.1.0+g8e4f5bb0c1d2").
// The commit is read when CMake configures, not at every build.
const std::string& QatlabVersion();

}  // namespace qatlab
