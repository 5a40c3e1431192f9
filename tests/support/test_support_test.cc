// The test support library: each helper does what its contract says, and a
// failed wait says what it waited for and for how long.
#include <gtest/gtest.h>
#include <signal.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <thread>

#include "tests/support/loopback_port.h"
#include "tests/support/temp_dir.h"
#include "tests/support/test_processes.h"
#include "tests/support/wait_until.h"

namespace qatlab::test_support {
namespace {

using namespace std::chrono_literals;

TEST(TempDir, IsFreshAndGoesWithEverythingInIt) {
  std::string path;
  {
    TempDir first;
    TempDir second;
    path = first.path();
    ASSERT_TRUE(std::filesystem::is_directory(path));
    EXPECT_NE(first.path(), second.path());
    EXPECT_TRUE(std::filesystem::is_empty(path));
    std::filesystem::create_directories(first.File("nested/deeper"));
    std::ofstream(first.File("nested/deeper/file")) << "contents";
    EXPECT_EQ(ReadWholeFile(first.File("nested/deeper/file")), "contents");
  }
  EXPECT_FALSE(std::filesystem::exists(path));
}

TEST(ReadWholeFile, IsEmptyForAMissingFile) { EXPECT_EQ(ReadWholeFile("/nonexistent/qatlab/file"), ""); }

TEST(WaitUntil, SucceedsWhenTheEventComesFromAnotherThread) {
  std::atomic<bool> happened{false};
  std::thread other([&] { happened = true; });
  EXPECT_TRUE(WaitUntil([&] { return happened.load(); }, 10s, "the other thread to run"));
  other.join();
}

TEST(WaitUntil, FailureNamesTheEventAndTheTimeWaited) {
  int checks = 0;
  const auto start = std::chrono::steady_clock::now();
  ::testing::AssertionResult result = WaitUntil([&] { return ++checks < 0; }, 100ms, "pigs to fly");
  const auto waited = std::chrono::steady_clock::now() - start;
  ASSERT_FALSE(result);
  EXPECT_GE(waited, 100ms);
  EXPECT_GT(checks, 2);  // polled, and once more at the deadline
  EXPECT_NE(std::string(result.message()).find("waiting for pigs to fly"), std::string::npos) << result.message();
  EXPECT_NE(std::string(result.message()).find("timed out after 1"), std::string::npos) << result.message();
}

TEST(WaitUntil, ChecksOnceEvenWithNoTimeToWait) {
  int checks = 0;
  EXPECT_TRUE(WaitUntil([&] { return ++checks == 1; }, 0ms, "the first check"));
  EXPECT_EQ(checks, 1);
}

TEST(LoopbackPort, AFreePortAcceptsOnlyOnceAServerListens) {
  const int port = FreeLoopbackPort();
  ASSERT_GT(port, 0);
  EXPECT_FALSE(LoopbackPortAccepts(port));
  TempDir dir;
  // python3 is on every machine that builds qatlab (the client stubs need it).
  StatusOr<std::unique_ptr<LoggedChild>> server = LoggedChild::Start({"python3", "-c",
                                                                      "import socket, time\n"
                                                                      "s = socket.socket()\n"
                                                                      "s.bind(('127.0.0.1', " +
                                                                          std::to_string(port) +
                                                                          "))\n"
                                                                          "s.listen()\n"
                                                                          "print('listening', flush=True)\n"
                                                                          "time.sleep(60)\n"},
                                                                     dir.File("server.log"));
  ASSERT_TRUE(server.ok()) << server.status().ToString();
  EXPECT_TRUE(WaitUntil([&] { return LoopbackPortAccepts(port); }, 30s, "the port to accept")) << (*server)->Log();
  EXPECT_NE((*server)->Log().find("listening"), std::string::npos);
}

TEST(LoggedChild, LogsBothStreamsAndReportsItsExit) {
  TempDir dir;
  StatusOr<std::unique_ptr<LoggedChild>> child =
      LoggedChild::Start({"/bin/sh", "-c", "echo to-out; echo to-err >&2; echo \"$GREETING\"; exit 3"},
                         dir.File("child.log"), {{"GREETING", "hello"}});
  ASSERT_TRUE(child.ok()) << child.status().ToString();
  EXPECT_EQ((*child)->WaitFor(30s), 3);
  EXPECT_EQ((*child)->Log(), "to-out\nto-err\nhello\n");
  EXPECT_EQ((*child)->log_path(), dir.File("child.log"));
}

TEST(LoggedChild, StopEndsARunningChild) {
  TempDir dir;
  StatusOr<std::unique_ptr<LoggedChild>> child =
      LoggedChild::Start({"/bin/sh", "-c", "exec sleep 60"}, dir.File("child.log"));
  ASSERT_TRUE(child.ok()) << child.status().ToString();
  EXPECT_TRUE((*child)->Running());
  EXPECT_EQ((*child)->Stop(5s), 128 + SIGTERM);
}

TEST(LoggedChild, AMissingProgramIsAnError) {
  TempDir dir;
  StatusOr<std::unique_ptr<LoggedChild>> child = LoggedChild::Start({"/nonexistent/program"}, dir.File("log"));
  ASSERT_FALSE(child.ok());
  EXPECT_NE(child.status().message().find("/nonexistent/program"), std::string::npos) << child.status().ToString();
}

TEST(RunCommand, CapturesBothStreamsAndTheExitStatus) {
  CapturedRun run = RunCommand({"/bin/sh", "-c", "echo out; echo err >&2; exit 2"}, 30s);
  EXPECT_EQ(run.exit_status, 2);
  EXPECT_FALSE(run.timed_out);
  EXPECT_EQ(run.out, "out\n");
  EXPECT_EQ(run.err, "err\n");
}

TEST(RunCommand, KillsACommandAtItsTimeout) {
  CapturedRun run = RunCommand({"/bin/sh", "-c", "exec sleep 60"}, 200ms);
  EXPECT_TRUE(run.timed_out);
  EXPECT_EQ(run.exit_status, 128 + SIGKILL);
}

TEST(RunCommand, AProgramThatCannotStartSaysWhy) {
  CapturedRun run = RunCommand({"/nonexistent/program"}, 30s);
  EXPECT_EQ(run.exit_status, -1);
  EXPECT_NE(run.err.find("/nonexistent/program"), std::string::npos) << run.err;
}

}  // namespace
}  // namespace qatlab::test_support
