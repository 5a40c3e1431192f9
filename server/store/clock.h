// The time source of the job store. Lease deadlines are wall-clock
// milliseconds since the Unix epoch because they are persisted and must mean
// the same thing after a restart. Tests inject a ManualClock so lease expiry
// is exercised without sleeping.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>

namespace qatlab::server {

class Clock {
 public:
  virtual ~Clock() = default;
  // Thread-safe.
  virtual int64_t NowUnixMs() const = 0;
};

class SystemClock final : public Clock {
 public:
  int64_t NowUnixMs() const override {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
  }
};

// A clock that moves only when told to. Thread-safe.
class ManualClock final : public Clock {
 public:
  explicit ManualClock(int64_t start_unix_ms) : now_(start_unix_ms) {}
  int64_t NowUnixMs() const override { return now_.load(); }
  void Advance(int64_t ms) { now_ += ms; }

 private:
  std::atomic<int64_t> now_;
};

}  // namespace qatlab::server
