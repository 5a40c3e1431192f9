#include "retry/backoff.h"

#include <algorithm>

namespace qatlab {

Backoff::Backoff(BackoffPolicy policy) : policy_(policy), next_(policy.initial), random_(std::random_device{}()) {}

std::chrono::milliseconds Backoff::Next() {
  const std::chrono::milliseconds current = next_;
  next_ = std::min(next_ * 2, policy_.max);
  const auto spread = static_cast<int64_t>(static_cast<double>(current.count()) * policy_.jitter);
  if (spread <= 0) return current;
  std::uniform_int_distribution<int64_t> extra(0, spread);
  return current + std::chrono::milliseconds(extra(random_));
}

}  // namespace qatlab
