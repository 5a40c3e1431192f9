// Runs N local qatlab-worker processes and restarts any that die, with
// back-off (0.5 s doubling to 30 s; reset once a worker lived a minute).
// The processes are process::ChildProcess (process/child_process.h); the
// waits are a retry/backoff.h Backoff per worker.
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
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "process/child_process.h"
#include "retry/backoff.h"
#include "status/status.h"

namespace qatlab::server {

struct WorkerSupervisorOptions {
  std::string binary;          // the qatlab-worker executable
  std::string server_address;  // host:port the workers connect to
  int count = 1;
  std::string token_file;  // passed on when non-empty
  std::string data_cache;  // passed on when non-empty
  // Waits before restarting a worker that died; deterministic (no jitter)
  // so the log says exactly when the next start comes.
  BackoffPolicy backoff{std::chrono::milliseconds(500), std::chrono::milliseconds(30000), 0.0};
  // A worker that lived this long before dying starts over at backoff.initial.
  std::chrono::milliseconds backoff_reset_after{60000};
  std::chrono::milliseconds stop_grace{10000};
  // Called on the monitor thread when worker `worker_id` ("local-K") died
  // (not when stopped), with how it ended ("exited with status 1", "killed by
  // signal 9"): the server releases the job it held at once instead of
  // waiting out the lease.
  std::function<void(const std::string& worker_id, const std::string& how)> on_death;
};

class WorkerSupervisor {
 public:
  explicit WorkerSupervisor(WorkerSupervisorOptions options);
  ~WorkerSupervisor();  // Stop()s
  WorkerSupervisor(const WorkerSupervisor&) = delete;
  WorkerSupervisor& operator=(const WorkerSupervisor&) = delete;

  // The argv of worker `index` (1-based), binary first.
  static std::vector<std::string> CommandLine(const WorkerSupervisorOptions& options, int index);
  // `explicit_path` when given (must be executable); else the first
  // executable qatlab-worker next to this executable (/proc/self/exe: the
  // installed layout, <prefix>/bin), in ../worker/ (the build tree), or in a
  // directory of $PATH (empty entries skipped). Else NotFound naming every
  // place looked at and what to pass.
  static StatusOr<std::string> FindWorkerBinary(const std::string& explicit_path);

  // Spawns the workers and the monitor thread.
  Status Start();
  // SIGTERM to every worker, waits up to stop_grace, SIGKILLs the rest.
  void Stop();

  int starts() const;               // processes started so far, restarts included
  std::vector<pid_t> pids() const;  // 0 for a slot waiting to restart

 private:
  struct Slot {
    explicit Slot(const BackoffPolicy& policy) : backoff(policy) {}
    std::unique_ptr<ChildProcess> process;  // null while waiting to restart
    std::chrono::steady_clock::time_point started;
    std::chrono::steady_clock::time_point restart_at;
    Backoff backoff;
  };
  void Monitor();
  // Starts worker `index` in `slot`; called on the monitor thread only, so
  // the death signal is tied to it.
  void Spawn(int index, Slot& slot);
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
