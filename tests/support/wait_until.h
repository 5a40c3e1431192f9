// The one way tests wait for something another thread or process does: name
// the event, bound the wait, and say what did not happen when it fails.
//
//   ASSERT_TRUE(WaitUntil([&] { return LoopbackPortAccepts(port); }, 15s,
//                         "qatlab-server to listen on " + address))
//       << server->Log();
//
// A sleep before a check is a guess at how long the other side takes; a
// loaded machine turns the guess into a flaky test. WaitUntil instead checks
// the event itself, often at first and then every 50 ms, until it holds or
// the bound has passed. The bound only limits how long a broken run takes to
// fail, so make it generous: it costs nothing when the event comes.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <string_view>

namespace qatlab::test_support {

// Evaluates `predicate` until it returns true (success) or `timeout` has
// passed; it is evaluated once more at the deadline, and at least once. The
// failure message reads "timed out after <ms> ms waiting for <what>", with
// the time actually waited. `predicate` runs on the calling thread and may
// record what it last saw for the caller's own failure message.
::testing::AssertionResult WaitUntil(const std::function<bool()>& predicate, std::chrono::milliseconds timeout,
                                     std::string_view what);

}  // namespace qatlab::test_support
