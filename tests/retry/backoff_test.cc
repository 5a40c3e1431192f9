// The one back-off: the sequence each retry loop waits, with and without
// jitter.
#include "retry/backoff.h"

#include <gtest/gtest.h>

#include <vector>

namespace qatlab {
namespace {

using std::chrono::milliseconds;

TEST(BackoffTest, DoublesFromInitialUpToMaxAndResetStartsOver) {
  // The supervisor's restart waits: half a second doubling to thirty.
  Backoff backoff({milliseconds(500), milliseconds(30000), 0.0});
  std::vector<int64_t> waits;
  for (int i = 0; i < 9; ++i) waits.push_back(backoff.Next().count());
  EXPECT_EQ(waits, (std::vector<int64_t>{500, 1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000}));
  EXPECT_FALSE(backoff.at_start());
  backoff.Reset();
  EXPECT_TRUE(backoff.at_start());
  EXPECT_EQ(backoff.Next().count(), 500);
}

TEST(BackoffTest, JitterOnlyLengthensAWaitAndByAtMostItsFraction) {
  Backoff backoff({milliseconds(200), milliseconds(5000), 0.2});
  int64_t base = 200;
  bool some_jitter = false;
  for (int i = 0; i < 200; ++i) {
    const int64_t wait = backoff.Next().count();
    EXPECT_GE(wait, base);
    EXPECT_LE(wait, base + base / 5);
    some_jitter = some_jitter || wait != base;
    base = std::min<int64_t>(base * 2, 5000);
  }
  EXPECT_TRUE(some_jitter) << "200 waits without any jitter";
}

TEST(BackoffTest, PeekShowsTheNextWaitWithoutAdvancing) {
  Backoff backoff({milliseconds(250), milliseconds(1000), 0.0});
  EXPECT_EQ(backoff.Peek().count(), 250);
  EXPECT_EQ(backoff.Peek().count(), 250);
  backoff.Next();
  EXPECT_EQ(backoff.Peek().count(), 500);
}

}  // namespace
}  // namespace qatlab
