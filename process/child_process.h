// Child processes: the one place that forks and execs. The server's local
// workers, the agent's QEMU, the data fetcher's npm and tar, and the tests'
// servers and commands all start here, so that the rules every child needs
// live once:
//   - everything the child uses is prepared before fork (after fork in a
//     threaded process only async-signal-safe calls are allowed);
//   - the child starts with no blocked signals, whatever mask the starting
//     thread has (a test harness or an embedding program may block some);
//   - a failed exec is reported to the parent as a Status naming the program
//     and errno, through a close-on-exec pipe, not as an exit code 127;
//   - a ChildProcess that is destroyed while its process runs kills (SIGKILL)
//     and reaps it: no zombie and no stray process outlives its owner.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "status/status.h"

namespace qatlab {

// Where one of the child's output streams goes.
enum class ChildOutput {
  kNull,     // /dev/null
  kInherit,  // the parent's stream
  kFile,     // appended to a file (created 0644 when missing)
  kPipe,     // a pipe the parent reads (ChildProcess::stdout_fd/stderr_fd)
};

struct ChildSpec {
  // argv[0] is a path, or a name looked up on PATH when it has no '/'.
  std::vector<std::string> argv;
  // Added to, or overriding, the inherited environment.
  std::map<std::string, std::string> environment;
  // Empty: the parent's working directory.
  std::string working_directory;
  // A descriptor the caller owns (e.g. a memfd holding the input), read by
  // the child as its stdin from the descriptor's current offset; -1: stdin
  // is /dev/null.
  int stdin_fd = -1;
  ChildOutput stdout_to = ChildOutput::kNull;
  std::string stdout_path;  // with kFile
  ChildOutput stderr_to = ChildOutput::kNull;
  std::string stderr_path;  // with kFile; the same path as stdout_path shares one descriptor
  // Truncate kFile outputs instead of appending.
  bool truncate_files = false;
  // Signal the child receives when the thread that started it ends
  // (PR_SET_PDEATHSIG); 0 for none. Start from a thread that lives as long as
  // the child should.
  int death_signal = 0;
  // Put the child in a process group of its own; Signal() and the destructor
  // then reach everything it started too.
  bool own_process_group = false;
};

// Exit status as the shell reports it: the exit code, or 128 + the signal
// that ended the process.
int DecodeWaitStatus(int wait_status);

class ChildProcess {
 public:
  // Starts the child. Errors: the program cannot be executed (NotFound for a
  // missing program, FailedPrecondition otherwise, naming it and errno), an
  // output file or the working directory cannot be opened (IOError), fork
  // fails (ResourceExhausted).
  static StatusOr<std::unique_ptr<ChildProcess>> Start(const ChildSpec& spec);

  // Kills (SIGKILL) and reaps the process if it still runs.
  ~ChildProcess();
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  pid_t pid() const { return pid_; }
  // The read ends of kPipe outputs, owned by this object; -1 otherwise.
  int stdout_fd() const { return stdout_fd_; }
  int stderr_fd() const { return stderr_fd_; }

  // Sends a signal to the process (to its group when own_process_group).
  // Does nothing once it has been reaped.
  void Signal(int signal_number);

  // The exit status if the process has ended (reaping it), else nullopt.
  std::optional<int> Poll();
  // Waits at most `timeout` for the process to end.
  std::optional<int> WaitFor(std::chrono::milliseconds timeout);
  bool Running() { return !Poll().has_value(); }

  // SIGTERM, then SIGKILL if it has not ended within `grace`; reaps it and
  // returns its exit status.
  int Stop(std::chrono::milliseconds grace);

 private:
  ChildProcess(pid_t pid, bool own_group, int stdout_fd, int stderr_fd)
      : pid_(pid), own_group_(own_group), stdout_fd_(stdout_fd), stderr_fd_(stderr_fd) {}

  // Blocks until the process ends; records and returns its exit status.
  int ReapBlocking();

  pid_t pid_;
  bool own_group_;
  int stdout_fd_;
  int stderr_fd_;
  std::optional<int> exit_status_;
};

struct CapturedRun {
  int exit_status = -1;  // 128 + signal when killed, also after a timeout
  bool timed_out = false;
  std::string out;  // the last `keep_bytes` of each stream
  std::string err;
};

// Runs a child to completion with stdout and stderr captured (the spec's
// output fields are overridden), killing it (SIGKILL) after `timeout`.
// Errors: as ChildProcess::Start. A non-zero exit or a timeout is not an error
// here: the caller reads exit_status and timed_out.
StatusOr<CapturedRun> RunToCompletion(ChildSpec spec, std::chrono::milliseconds timeout, size_t keep_bytes = 1 << 20);

}  // namespace qatlab
