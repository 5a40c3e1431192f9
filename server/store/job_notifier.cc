#include "server/store/job_notifier.h"

#include <algorithm>

namespace qatlab::server {

bool IsTerminal(v1::JobState state) { return state == v1::SUCCEEDED || state == v1::FAILED || state == v1::CANCELLED; }

JobSubscription::~JobSubscription() { notifier_->Unsubscribe(this); }

std::optional<JobUpdate> JobSubscription::Next(std::chrono::milliseconds timeout) {
  std::unique_lock lock(notifier_->mutex_);
  ready_.wait_for(lock, timeout, [&] { return !pending_.empty() || notifier_->shut_down_; });
  if (pending_.empty()) return std::nullopt;
  JobUpdate update = std::move(pending_.front());
  pending_.pop_front();
  return update;
}

std::unique_ptr<JobSubscription> JobNotifier::Subscribe(const std::string& job_id) {
  std::unique_ptr<JobSubscription> subscription(new JobSubscription(this, job_id));
  std::lock_guard lock(mutex_);
  subscribers_[job_id].push_back(subscription.get());
  return subscription;
}

void JobNotifier::Unsubscribe(JobSubscription* subscription) {
  std::lock_guard lock(mutex_);
  auto it = subscribers_.find(subscription->job_id_);
  if (it == subscribers_.end()) return;
  auto& list = it->second;
  list.erase(std::remove(list.begin(), list.end(), subscription), list.end());
  if (list.empty()) subscribers_.erase(it);
}

void JobNotifier::Publish(const JobUpdate& update) {
  bool queued = update.job.state() == v1::QUEUED;
  std::lock_guard lock(mutex_);
  auto it = subscribers_.find(update.job.id());
  if (it != subscribers_.end()) {
    for (JobSubscription* subscription : it->second) {
      subscription->pending_.push_back(update);
      subscription->ready_.notify_one();
    }
  }
  if (queued) {
    ++queue_generation_;
    queue_changed_.notify_all();
  }
}

uint64_t JobNotifier::QueueGeneration() const {
  std::lock_guard lock(mutex_);
  return queue_generation_;
}

void JobNotifier::NotifyQueueChanged() {
  std::lock_guard lock(mutex_);
  ++queue_generation_;
  queue_changed_.notify_all();
}

bool JobNotifier::WaitForQueueChange(uint64_t seen, std::chrono::milliseconds timeout) {
  std::unique_lock lock(mutex_);
  return queue_changed_.wait_for(lock, timeout, [&] { return queue_generation_ != seen || shut_down_; }) &&
         queue_generation_ != seen;
}

void JobNotifier::Shutdown() {
  std::lock_guard lock(mutex_);
  shut_down_ = true;
  queue_changed_.notify_all();
  for (auto& [id, list] : subscribers_) {
    for (JobSubscription* subscription : list) subscription->ready_.notify_all();
  }
}

bool JobNotifier::shut_down() const {
  std::lock_guard lock(mutex_);
  return shut_down_;
}

}  // namespace qatlab::server
