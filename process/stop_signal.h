// The one way a qatlab program hears SIGTERM and SIGINT (the server, the
// worker in both modes, the agent).
//
// An async-signal-safe handler writes the signal number to a close-on-exec
// pipe; the program reads it where it may lock, log and call the server:
// Wait() on a thread of its choosing, or a callback on a thread StopSignal
// owns. A handler, rather than a blocked mask and sigwait, works whichever
// thread the kernel picks -- including threads that libraries (gRPC) started
// before the mask was set, which would otherwise take the signal with its
// default action and kill the process. Child processes are unaffected: exec
// resets handled signals to their defaults (and process/child_process.h
// clears the mask).
#pragma once

#include <functional>
#include <memory>
#include <thread>

#include "status/status.h"

namespace qatlab {

class StopSignal {
 public:
  // Installs the handlers for SIGTERM and SIGINT and unblocks both in the
  // calling thread (a parent may have started us with them blocked).
  // Errors: another StopSignal is installed (FailedPrecondition), the pipe
  // cannot be made (IOError).
  static StatusOr<std::unique_ptr<StopSignal>> Install();

  // Restores the default actions, stops the callback thread (if any) and
  // closes the pipe. Signals that arrive afterwards kill the process.
  ~StopSignal();
  StopSignal(const StopSignal&) = delete;
  StopSignal& operator=(const StopSignal&) = delete;

  // Blocks until SIGTERM or SIGINT arrives, returning its number (a signal
  // that came before the call is not lost), or 0 once Finish() was called.
  // REQUIRES: not called while a callback thread runs (OnSignal).
  int Wait();

  // Wakes Wait() with 0: the program has finished on its own. Safe from any
  // thread; later Wait() calls return 0 too.
  void Finish();

  // Starts a thread that calls `on_signal(signal_number)` for every signal
  // until Finish() (or the destructor). The callback may block; signals that
  // arrive meanwhile are delivered after it returns. At most once.
  void OnSignal(std::function<void(int)> on_signal);

 private:
  StopSignal(int read_fd, int write_fd) : read_fd_(read_fd), write_fd_(write_fd) {}

  int read_fd_;
  int write_fd_;
  std::thread callback_thread_;
};

}  // namespace qatlab
