// The one heartbeat loop: keeps a lease (a job's or a measurement's) alive
// from a thread of its own while the holder works, at the interval the
// server set, and says when the server has taken the work back.
//
// A beat answered `cancelled` makes the keeper kCancelled; `lease_lost`, or a
// refusal (kFailedPrecondition, kNotFound: the lease is no longer ours),
// makes it kLost; either is final. A beat that did not reach the server
// (kUnavailable or any other failure) changes nothing: the holder keeps
// working and the keeper tries again sooner (every min(interval, 500 ms)), so
// a restarted server hears from it before the lease runs out.
//
// Progress (a finished epoch) queued with QueueProgress goes out with the
// next beat, sent at once, in order, each until the server took it.
// Thread-safety: every method may be called from any thread.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

#include "qatlab/v1/job.pb.h"
#include "qatlab/v1/worker.pb.h"
#include "status/status.h"

namespace qatlab {

// How often to beat: `server_interval_ms` when the server named one (at
// least 10 ms: a keeper never hammers it); else a third of the time left
// until `lease_deadline_unix_ms` (within 200 ms .. 10 s) when that is known;
// else a second.
std::chrono::milliseconds HeartbeatInterval(int64_t server_interval_ms, int64_t lease_deadline_unix_ms);

class LeaseKeeper {
 public:
  // One heartbeat, carrying `progress` when not null.
  using Beat = std::function<StatusOr<v1::HeartbeatResponse>(const v1::EpochStats* progress)>;
  enum class State { kHeld, kCancelled, kLost };

  // Starts beating (the first beat after one interval). `what` names the
  // lease in log lines ("job j-12", "measurement m-3").
  LeaseKeeper(std::string what, std::chrono::milliseconds interval, Beat beat);
  // Stop()s.
  ~LeaseKeeper();
  LeaseKeeper(const LeaseKeeper&) = delete;
  LeaseKeeper& operator=(const LeaseKeeper&) = delete;

  State state() const;
  bool held() const { return state() == State::kHeld; }

  void QueueProgress(const v1::EpochStats& progress);
  // Waits at most `limit` until every queued progress was delivered or the
  // lease is no longer held; true when nothing is left to deliver.
  bool WaitForProgressDelivered(std::chrono::milliseconds limit);

  // Ends the beats and joins the thread; a beat in flight finishes first
  // (bounded by the Beat's own deadline). Idempotent.
  void Stop();

 private:
  void Run();

  const std::string what_;
  const std::chrono::milliseconds interval_;
  const Beat beat_;

  mutable std::mutex mutex_;
  std::condition_variable changed_;
  State state_ = State::kHeld;          // guarded by mutex_
  std::deque<v1::EpochStats> pending_;  // guarded by mutex_
  bool stopping_ = false;               // guarded by mutex_
  std::thread thread_;                  // started last, in the constructor
};

}  // namespace qatlab
