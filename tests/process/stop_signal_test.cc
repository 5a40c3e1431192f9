// The one stop-signal design: a real SIGTERM/SIGINT sent to this process
// reaches Wait() or the callback, and Finish() ends both.
#include "process/stop_signal.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <future>

namespace qatlab {
namespace {

TEST(StopSignalTest, WaitReturnsTheSignalSentToTheProcess) {
  auto stop = StopSignal::Install();
  ASSERT_TRUE(stop.ok()) << stop.status().ToString();
  // Sent before anyone waits: it must not be lost.
  ASSERT_EQ(::kill(::getpid(), SIGTERM), 0);
  EXPECT_EQ((*stop)->Wait(), SIGTERM);
  ASSERT_EQ(::kill(::getpid(), SIGINT), 0);
  EXPECT_EQ((*stop)->Wait(), SIGINT);
}

TEST(StopSignalTest, FinishWakesWaitWithZeroForGood) {
  auto stop = StopSignal::Install();
  ASSERT_TRUE(stop.ok());
  std::future<int> waited = std::async(std::launch::async, [&] { return (*stop)->Wait(); });
  (*stop)->Finish();
  ASSERT_EQ(waited.wait_for(std::chrono::seconds(10)), std::future_status::ready);
  EXPECT_EQ(waited.get(), 0);
  EXPECT_EQ((*stop)->Wait(), 0);
}

TEST(StopSignalTest, CallbackRunsOnItsOwnThreadForEachSignal) {
  auto stop = StopSignal::Install();
  ASSERT_TRUE(stop.ok());
  std::promise<int> first;
  std::thread::id caller = std::this_thread::get_id();
  std::promise<bool> other_thread;
  (*stop)->OnSignal([&, calls = 0](int signal_number) mutable {
    if (calls++ == 0) {
      other_thread.set_value(std::this_thread::get_id() != caller);
      first.set_value(signal_number);
    }
  });
  ASSERT_EQ(::kill(::getpid(), SIGINT), 0);
  std::future<int> got = first.get_future();
  ASSERT_EQ(got.wait_for(std::chrono::seconds(10)), std::future_status::ready);
  EXPECT_EQ(got.get(), SIGINT);
  EXPECT_TRUE(other_thread.get_future().get());
  // The destructor stops the callback thread; reaching the end is the test.
}

TEST(StopSignalTest, OnlyOneAtATime) {
  auto first = StopSignal::Install();
  ASSERT_TRUE(first.ok());
  auto second = StopSignal::Install();
  EXPECT_EQ(second.status().code(), StatusCode::kFailedPrecondition);
  first->reset();
  EXPECT_TRUE(StopSignal::Install().ok()) << "a new one may be installed once the first is gone";
}

}  // namespace
}  // namespace qatlab
