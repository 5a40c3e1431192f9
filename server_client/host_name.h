// The name of this machine, for the default names the worker
// ("<host>-<pid>") and the agent ("<host>-qemu-<board>") report to the server.
#pragma once

#include <string>

namespace qatlab {

// gethostname(), or "host" when the system names none.
std::string HostName();

}  // namespace qatlab
