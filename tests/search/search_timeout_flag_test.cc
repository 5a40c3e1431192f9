// qatctl search --time-limit DURATION: the durations it takes and the ones it
// refuses, naming the text.
#include <gtest/gtest.h>

#include <string>

#include "client/qatctl_search_commands.h"

namespace qatlab {
namespace {

TEST(ParseSearchTimeout, AWholeNumberWithAnOptionalUnitIsSeconds) {
  EXPECT_EQ(*ParseSearchTimeout("90"), 90);
  EXPECT_EQ(*ParseSearchTimeout("90s"), 90);
  EXPECT_EQ(*ParseSearchTimeout("15m"), 15 * 60);
  EXPECT_EQ(*ParseSearchTimeout("2h"), 2 * 3600);
  EXPECT_EQ(*ParseSearchTimeout("365d"), 365 * 24 * 3600);
}

TEST(ParseSearchTimeout, AnythingElseIsRefusedNamingTheText) {
  for (const std::string text : {"", "0", "0s", "-5", "1.5h", "2w", "h", "10 m", "366d", "99999999999999"}) {
    StatusOr<int64_t> seconds = ParseSearchTimeout(text);
    ASSERT_FALSE(seconds.ok()) << text;
    EXPECT_EQ(seconds.status().code(), StatusCode::kInvalidArgument) << text;
    EXPECT_NE(seconds.status().message().find("--time-limit: '" + text + "' is not a duration"), std::string::npos)
        << seconds.status().message();
  }
}

}  // namespace
}  // namespace qatlab
