// JobLogSink (worker/job_log.h) on a logger of its own: it captures only
// between Begin and End, keeps whole lines and, past its limit, the tail.
#include "worker/job_log.h"

#include <memory>
#include <string>

#include <gtest/gtest.h>
#include <spdlog/logger.h>

namespace qatlab {
namespace {

TEST(JobLogSink, CapturesOnlyBetweenBeginAndEnd) {
  auto sink = std::make_shared<JobLogSink>(1 << 20);
  spdlog::logger logger("test", sink);
  logger.info("before the job");
  sink->Begin();
  logger.info("leased job j-1");
  logger.warn("job j-1 failed: no such file");
  const std::string text = sink->End();
  logger.info("after the job");
  EXPECT_EQ(text.find("before the job"), std::string::npos) << text;
  EXPECT_EQ(text.find("after the job"), std::string::npos) << text;
  EXPECT_NE(text.find("Z info leased job j-1\n"), std::string::npos) << text;
  EXPECT_NE(text.find("Z warning job j-1 failed: no such file\n"), std::string::npos) << text;
  EXPECT_EQ(sink->End(), "");
}

TEST(JobLogSink, KeepsTheTailOfALongLog) {
  constexpr size_t kLimit = 4096;
  auto sink = std::make_shared<JobLogSink>(kLimit);
  spdlog::logger logger("test", sink);
  sink->Begin();
  for (int i = 0; i < 1000; ++i) logger.info("line {:04d}", i);
  const std::string text = sink->End();
  const size_t first_newline = text.find('\n');
  ASSERT_NE(first_newline, std::string::npos);
  EXPECT_TRUE(text.starts_with("[")) << text.substr(0, 200);
  EXPECT_NE(text.find("bytes of earlier log dropped"), std::string::npos);
  const std::string kept = text.substr(first_newline + 1);
  EXPECT_LE(kept.size(), kLimit + kLimit / 4);
  EXPECT_GE(kept.size(), kLimit - 100);
  EXPECT_NE(kept.find("line 0999\n"), std::string::npos);
  EXPECT_EQ(kept.find("line 0000"), std::string::npos);
  // Whole lines only: the kept text starts at a line's beginning.
  EXPECT_EQ(kept.find(" info line "), kept.find('Z') + 1) << kept.substr(0, 100);
}

}  // namespace
}  // namespace qatlab
