// In-memory fan-out of job changes, fed by the JobStore after each commit.
//
// Two audiences:
//  - watchers of one job (WatchJob streams): Subscribe(job_id) returns a
//    subscription whose queue receives every update of that job; no database
//    polling per watcher.
//  - lessees long-polling for work (LeaseJob): a generation counter bumped
//    whenever a job becomes QUEUED; WaitForQueueChange sleeps until it moves.
//
// Thread-safe. Shutdown() wakes every waiter so the server stops promptly.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "qatlab/v1/resources.pb.h"

namespace qatlab::server {

// One change of one job: its row after the change, plus what caused it.
struct JobUpdate {
  v1::Job job;
  std::optional<v1::EpochStats> progress;  // a heartbeat's progress event
  std::optional<v1::JobResult> result;     // on completion
  std::string message;                     // e.g. "leased by local-1"
};

bool IsTerminal(v1::JobState state);

class JobNotifier;

// Receives the updates of one job from the moment of subscription.
// Destroying it unsubscribes. Next() may be called from one thread at a time.
class JobSubscription {
 public:
  ~JobSubscription();
  // The next update, or nullopt after `timeout` or once the notifier shut down.
  std::optional<JobUpdate> Next(std::chrono::milliseconds timeout);

 private:
  friend class JobNotifier;
  JobSubscription(JobNotifier* notifier, std::string job_id) : notifier_(notifier), job_id_(std::move(job_id)) {}

  JobNotifier* notifier_;
  const std::string job_id_;
  // Guarded by notifier_->mutex_.
  std::deque<JobUpdate> pending_;
  std::condition_variable ready_;
};

class JobNotifier {
 public:
  JobNotifier() = default;
  JobNotifier(const JobNotifier&) = delete;
  JobNotifier& operator=(const JobNotifier&) = delete;

  std::unique_ptr<JobSubscription> Subscribe(const std::string& job_id);
  void Publish(const JobUpdate& update);

  uint64_t QueueGeneration() const;
  void NotifyQueueChanged();
  // Waits until the generation differs from `seen`, `timeout` passed, or
  // shutdown. Returns true when the generation moved.
  bool WaitForQueueChange(uint64_t seen, std::chrono::milliseconds timeout);

  void Shutdown();
  bool shut_down() const;

 private:
  friend class JobSubscription;
  void Unsubscribe(JobSubscription* subscription);

  mutable std::mutex mutex_;
  std::unordered_map<std::string, std::vector<JobSubscription*>> subscribers_;  // guarded by mutex_
  uint64_t queue_generation_ = 0;                                               // guarded by mutex_
  bool shut_down_ = false;                                                      // guarded by mutex_
  std::condition_variable queue_changed_;
};

}  // namespace qatlab::server
