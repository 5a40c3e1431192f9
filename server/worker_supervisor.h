// Runs N local qatlab-worker processes and restarts any that die, with
// back-off (0.5 s doubling to 30 s; reset once a worker lived a minute).
//
// Each worker runs
//   <binary> --server <address> --worker-id local-K [--token-file F] [--data-cache DIR]
// Workers get SIGTERM when the supervisor stops (and, through
// PR_SET_PDEATHSIG, when the server dies without stopping them), so none is
// left orphaned. Stop() waits a bounded grace period, then SIGKILLs.
// Thread-safety: Start/Stop from one thread; the accessors from any.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "status/status.h"

namespace qatlab::server {

struct RestartBackoff {
  std::chrono::milliseconds initial{500};
  std::chrono::milliseconds max{30000};
  std::chrono::milliseconds reset_after{60000};  // a worker that lived this long starts over at `initial`

  // The wait before restarting a worker that just died after living `lived`,
  // given the wait used before its previous restart (0 for none).
  std::chrono::milliseconds Next(std::chrono::milliseconds previous, std::chrono::milliseconds lived) const;
};

struct WorkerSupervisorOptions {
  std::string binary;          // the qatlab-worker executable
  std::string server_address;  // host:port the workers connect to
  int count = 1;
  std::string token_file;  // passed on when non-empty
  std::string data_cache;  // passed on when non-empty
  RestartBackoff backoff;
  std::chrono::milliseconds stop_grace{10000};
};

class WorkerSupervisor {
 public:
  explicit WorkerSupervisor(WorkerSupervisorOptions options);
  ~WorkerSupervisor();  // Stop()s
  WorkerSupervisor(const WorkerSupervisor&) = delete;
  WorkerSupervisor& operator=(const WorkerSupervisor&) = delete;

  // The argv of worker `index` (1-based), binary first.
  static std::vector<std::string> CommandLine(const WorkerSupervisorOptions& options, int index);
  // `explicit_path` when given (must be executable), else qatlab-worker next
  // to this executable (/proc/self/exe), else NotFound saying what to pass.
  static StatusOr<std::string> FindWorkerBinary(const std::string& explicit_path);

  // Spawns the workers and the monitor thread.
  Status Start();
  // SIGTERM to every worker, waits up to stop_grace, SIGKILLs the rest.
  void Stop();

  int starts() const;        // processes started so far, restarts included
  std::vector<pid_t> pids() const;  // 0 for a slot waiting to restart

 private:
  struct Slot {
    pid_t pid = 0;
    std::chrono::steady_clock::time_point started;
    std::chrono::steady_clock::time_point restart_at;
    std::chrono::milliseconds last_delay{0};
  };
  void Monitor();
  pid_t Spawn(int index);  // called on the monitor thread only
  void TerminateAll();

  const WorkerSupervisorOptions options_;
  std::thread monitor_;
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::vector<Slot> slots_;  // guarded by mutex_
  bool stopping_ = false;    // guarded by mutex_
  int starts_ = 0;           // guarded by mutex_
};

}  // namespace qatlab::server
