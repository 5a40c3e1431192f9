// The heartbeat rule of server/store/lease.h, which the job and measurement queues
// share (their lease mechanics are exercised through job_store_test and
// device_store_test against real SQLite).
#include "server/store/lease.h"

#include <gtest/gtest.h>

namespace qatlab::server {
namespace {

TEST(HeartbeatIntervalTest, IsASecondForLongLeasesSoACancelIsHeardInTime) {
  EXPECT_EQ(HeartbeatIntervalMs(30'000), kCancelLatencyMs);  // the default lease
  EXPECT_EQ(HeartbeatIntervalMs(3'600'000), kCancelLatencyMs);
}

TEST(HeartbeatIntervalTest, IsAQuarterOfShortLeasesSoALostBeatDoesNotLoseTheLease) {
  EXPECT_EQ(HeartbeatIntervalMs(2'000), 500);
  EXPECT_EQ(HeartbeatIntervalMs(100), 25);  // the shortest lease the server accepts
  for (int64_t lease_ms = 1; lease_ms <= 10'000; ++lease_ms) {
    const int64_t interval = HeartbeatIntervalMs(lease_ms);
    EXPECT_GE(interval, 1) << lease_ms;
    EXPECT_LE(interval, kCancelLatencyMs) << lease_ms;
    if (lease_ms >= 4) {
      EXPECT_LT(3 * interval, lease_ms) << "more than a third of a " << lease_ms << " ms lease";
    }
  }
}

}  // namespace
}  // namespace qatlab::server
