// Processes a test starts, on top of the production fork/exec helper
// (process/child_process.h), with what tests need in addition:
//   - LoggedChild: a long-running program (a server, a worker, an agent)
//     whose output goes to a log file the test can read while it runs and
//     print when it fails;
//   - RunCommand: a command run to completion with its output captured.
// Both die with the test: a LoggedChild gets SIGKILL when the thread that
// started it ends and when it is destroyed; a command is killed at its
// timeout.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "process/child_process.h"
#include "status/status.h"

namespace qatlab::test_support {

class LoggedChild {
 public:
  // Starts `argv` (argv[0] a path, or a name on PATH) with stdout and stderr
  // appended to `log_path` and `environment` added to (or overriding) the
  // inherited one. Errors: as ChildProcess::Start.
  static StatusOr<std::unique_ptr<LoggedChild>> Start(const std::vector<std::string>& argv, std::string log_path,
                                                      const std::map<std::string, std::string>& environment = {});

  pid_t pid() const { return process_->pid(); }
  void Signal(int signal_number) { process_->Signal(signal_number); }
  // The exit status (128 + signal when a signal ended it) once the process
  // has ended within `timeout`; nullopt while it runs.
  std::optional<int> WaitFor(std::chrono::milliseconds timeout) { return process_->WaitFor(timeout); }
  bool Running() { return process_->Running(); }
  // SIGTERM, SIGKILL after `grace`; the exit status.
  int Stop(std::chrono::milliseconds grace) { return process_->Stop(grace); }

  // Everything the process has written so far.
  std::string Log() const;
  const std::string& log_path() const { return log_path_; }

 private:
  LoggedChild(std::unique_ptr<ChildProcess> process, std::string log_path)
      : process_(std::move(process)), log_path_(std::move(log_path)) {}

  std::unique_ptr<ChildProcess> process_;
  std::string log_path_;
};

// Runs `argv` to completion, killing it after `timeout`, with both output
// streams captured. A program that cannot be started gives exit_status -1
// and the reason in `err`, so the caller's expectations on the exit status
// and output report it.
CapturedRun RunCommand(const std::vector<std::string>& argv, std::chrono::milliseconds timeout,
                       const std::map<std::string, std::string>& environment = {});

}  // namespace qatlab::test_support
