// Real processes for the end-to-end tests: children whose output goes to a
// log file, commands whose output is captured, free loopback ports and
// temporary directories. Every wait is bounded.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace qatlab::testing {

// A directory under $TMPDIR (or /tmp), removed with its contents on
// destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// A port on 127.0.0.1 that was free a moment ago.
int FreeLoopbackPort();

// True when something accepts TCP connections on 127.0.0.1:`port`.
bool LoopbackPortAccepts(int port);

// A child process. It dies with the test process (PR_SET_PDEATHSIG), and the
// destructor kills (SIGKILL) and reaps it if it still runs.
class ChildProcess {
 public:
  // Starts argv[0] (a path) with argv; stdout and stderr append to
  // `log_path`; `environment` entries are added to (or override) the
  // inherited environment. Returns null when fork fails.
  static std::unique_ptr<ChildProcess> Start(const std::vector<std::string>& argv, const std::string& log_path,
                                             const std::map<std::string, std::string>& environment = {});
  ~ChildProcess();
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  pid_t pid() const { return pid_; }
  void Signal(int signal_number);
  // Waits at most `timeout` for the process to end. Returns its exit status,
  // or 128 + signal when a signal ended it; nullopt when still running.
  std::optional<int> WaitFor(std::chrono::milliseconds timeout);
  bool Running();
  std::string Log() const;

 private:
  ChildProcess(pid_t pid, std::string log_path) : pid_(pid), log_path_(std::move(log_path)) {}
  pid_t pid_;
  std::string log_path_;
  std::optional<int> exit_status_;
};

struct CommandResult {
  int exit_status = -1;  // 128 + signal when killed (also after a timeout)
  bool timed_out = false;
  std::string out;
  std::string err;
};

// Runs a command to completion (killed after `timeout`) and captures both
// output streams.
CommandResult RunCommand(const std::vector<std::string>& argv, std::chrono::milliseconds timeout,
                         const std::map<std::string, std::string>& environment = {});

std::string ReadWholeFile(const std::string& path);

}  // namespace qatlab::testing
