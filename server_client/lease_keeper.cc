#include "server_client/lease_keeper.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <optional>

namespace qatlab {

using std::chrono::milliseconds;

milliseconds HeartbeatInterval(int64_t server_interval_ms, int64_t lease_deadline_unix_ms) {
  if (server_interval_ms > 0) return milliseconds(std::max<int64_t>(server_interval_ms, 10));
  if (lease_deadline_unix_ms > 0) {
    const int64_t now_ms =
        std::chrono::duration_cast<milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
    return milliseconds(std::clamp<int64_t>((lease_deadline_unix_ms - now_ms) / 3, 200, 10000));
  }
  return milliseconds(1000);
}

LeaseKeeper::LeaseKeeper(std::string what, milliseconds interval, Beat beat)
    : what_(std::move(what)), interval_(interval), beat_(std::move(beat)) {
  thread_ = std::thread([this] { Run(); });
}

LeaseKeeper::~LeaseKeeper() { Stop(); }

LeaseKeeper::State LeaseKeeper::state() const {
  std::lock_guard lock(mutex_);
  return state_;
}

void LeaseKeeper::QueueProgress(const v1::EpochStats& progress) {
  std::lock_guard lock(mutex_);
  pending_.push_back(progress);
  changed_.notify_all();
}

bool LeaseKeeper::WaitForProgressDelivered(milliseconds limit) {
  std::unique_lock lock(mutex_);
  changed_.wait_for(lock, limit, [&] { return pending_.empty() || state_ != State::kHeld; });
  return pending_.empty();
}

void LeaseKeeper::Stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
    changed_.notify_all();
  }
  if (thread_.joinable()) thread_.join();
}

void LeaseKeeper::Run() {
  int failures = 0;
  std::unique_lock lock(mutex_);
  while (true) {
    if (state_ != State::kHeld) {
      // The server has decided; beats would only be refused.
      changed_.wait(lock, [&] { return stopping_; });
      return;
    }
    // After a failed beat, queued progress does not hurry the next attempt
    // (it would spin); the shorter retry wait applies instead.
    const milliseconds wait = failures > 0 ? std::min(interval_, milliseconds(500)) : interval_;
    changed_.wait_for(lock, wait, [&] { return stopping_ || (failures == 0 && !pending_.empty()); });
    if (stopping_) return;
    std::optional<v1::EpochStats> progress;
    if (!pending_.empty()) progress = pending_.front();
    lock.unlock();
    StatusOr<v1::HeartbeatResponse> answer = beat_(progress ? &*progress : nullptr);
    lock.lock();
    if (answer.ok()) {
      if (failures > 0) spdlog::info("{}: heartbeats reach the server again", what_);
      failures = 0;
      if (progress && !pending_.empty()) pending_.pop_front();
      if (state_ == State::kHeld && answer->cancelled()) {
        spdlog::info("{}: cancelled by the server", what_);
        state_ = State::kCancelled;
      } else if (state_ == State::kHeld && answer->lease_lost()) {
        spdlog::warn("{}: the server took the lease back", what_);
        state_ = State::kLost;
      }
    } else if (answer.status().code() == StatusCode::kFailedPrecondition ||
               answer.status().code() == StatusCode::kNotFound) {
      // The lease is no longer ours: re-queued, finished elsewhere, cancelled.
      if (state_ == State::kHeld) {
        spdlog::warn("{}: heartbeat refused ({}); the lease is gone", what_, answer.status().ToString());
        state_ = State::kLost;
      }
      if (progress && !pending_.empty()) pending_.pop_front();
    } else {
      // The server is away: keep working, keep trying. The first failure of
      // a run is logged and then every tenth, so an absent server does not
      // flood the log.
      if (failures++ % 10 == 0) spdlog::warn("{}: heartbeat failed ({}); retrying", what_, answer.status().ToString());
    }
    changed_.notify_all();
  }
}

}  // namespace qatlab
