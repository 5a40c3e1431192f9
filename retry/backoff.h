// The one exponential back-off: how long to wait before trying again after
// a failure (a server that is away, a board that does not answer, a worker
// process that died). Each retry loop in qatlab -- the worker's and the
// agent's calls to the server, the agent's board reconnects, the server's
// worker restarts -- holds a Backoff with its own limits instead of its own
// arithmetic, so a fix to the sequence lands everywhere at once.
//
// It lives in retry/ rather than server_client/ because the server (its
// worker supervisor) uses it too and must not link the client side.
//
// The sequence: initial, initial*2, ... up to max; each wait may be stretched
// by up to `jitter` of itself (so many clients that lost the same server do
// not return in step). Reset() starts over at initial.
// Thread-safety: none; one Backoff belongs to one retry loop.
#pragma once

#include <chrono>
#include <cstdint>
#include <random>

namespace qatlab {

struct BackoffPolicy {
  std::chrono::milliseconds initial{200};
  std::chrono::milliseconds max{5000};
  // Up to this fraction of each wait is added at random; 0 for a
  // deterministic sequence (tests, the supervisor's log lines).
  double jitter = 0.2;
};

class Backoff {
 public:
  explicit Backoff(BackoffPolicy policy = {});

  // The wait before the next attempt; each call doubles the following one
  // (up to policy.max).
  std::chrono::milliseconds Next();
  // The wait Next() would return before jitter, without advancing.
  std::chrono::milliseconds Peek() const { return next_; }
  // After a success: the next failure waits `initial` again.
  void Reset() { next_ = policy_.initial; }
  // True once no failure happened since the last Reset().
  bool at_start() const { return next_ == policy_.initial; }

 private:
  BackoffPolicy policy_;
  std::chrono::milliseconds next_;
  std::mt19937_64 random_;
};

}  // namespace qatlab
