#include "tests/support/wait_until.h"

#include <algorithm>
#include <thread>

namespace qatlab::test_support {

::testing::AssertionResult WaitUntil(const std::function<bool()>& predicate, std::chrono::milliseconds timeout,
                                     std::string_view what) {
  using Clock = std::chrono::steady_clock;
  // Events that come quickly are seen quickly; slow ones (a training run, a
  // server start) are not polled hard enough to steal the CPU they need.
  constexpr std::chrono::milliseconds kLongestPause{50};
  const Clock::time_point start = Clock::now();
  const Clock::time_point deadline = start + timeout;
  std::chrono::milliseconds pause{1};
  while (true) {
    if (predicate()) return ::testing::AssertionSuccess();
    const Clock::time_point now = Clock::now();
    if (now >= deadline) break;
    std::this_thread::sleep_for(std::min<Clock::duration>(pause, deadline - now));
    pause = std::min(pause * 2, kLongestPause);
  }
  const auto waited = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start);
  return ::testing::AssertionFailure() << "timed out after " << waited.count() << " ms waiting for " << what;
}

}  // namespace qatlab::test_support
