// The child-process helper against real programs (sh, sleep).
#include "process/child_process.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "tests/support/temp_dir.h"
#include "tests/support/wait_until.h"

namespace qatlab {
namespace {

using std::chrono::milliseconds;

ChildSpec Command(std::vector<std::string> argv) {
  ChildSpec spec;
  spec.argv = std::move(argv);
  return spec;
}

ChildSpec Shell(const std::string& script) { return Command({"sh", "-c", script}); }

TEST(ChildProcess, CapturesBothStreamsAndTheExitCode) {
  auto run = RunToCompletion(Shell("echo out; echo err >&2; exit 3"), milliseconds(10000));
  ASSERT_TRUE(run.ok()) << run.status().ToString();
  EXPECT_EQ(run->exit_status, 3);
  EXPECT_FALSE(run->timed_out);
  EXPECT_EQ(run->out, "out\n");
  EXPECT_EQ(run->err, "err\n");
}

TEST(ChildProcess, AMissingProgramIsNotFoundNamingIt) {
  auto child = ChildProcess::Start(Command({"qatlab-no-such-program"}));
  ASSERT_FALSE(child.ok());
  EXPECT_EQ(child.status().code(), StatusCode::kNotFound);
  EXPECT_NE(child.status().message().find("qatlab-no-such-program"), std::string::npos);
}

TEST(ChildProcess, AMissingWorkingDirectoryIsAnIOErrorNamingIt) {
  ChildSpec spec = Shell("true");
  spec.working_directory = "/nonexistent/qatlab";
  auto child = ChildProcess::Start(spec);
  ASSERT_FALSE(child.ok());
  EXPECT_EQ(child.status().code(), StatusCode::kIOError);
  EXPECT_NE(child.status().message().find("/nonexistent/qatlab"), std::string::npos);
}

TEST(ChildProcess, EnvironmentOverridesAndWorkingDirectoryReachTheChild) {
  ChildSpec spec = Shell("echo \"$QATLAB_CHILD_TEST\" $(pwd)");
  spec.environment["QATLAB_CHILD_TEST"] = "seen";
  spec.working_directory = "/";
  auto run = RunToCompletion(spec, milliseconds(10000));
  ASSERT_TRUE(run.ok()) << run.status().ToString();
  EXPECT_EQ(run->out, "seen /\n");
}

TEST(ChildProcess, ReadsStdinFromTheGivenDescriptor) {
  const int input = ::memfd_create("child-stdin", MFD_CLOEXEC);
  ASSERT_GE(input, 0);
  const std::string bytes = "line one\nline two\n";
  ASSERT_EQ(::write(input, bytes.data(), bytes.size()), static_cast<ssize_t>(bytes.size()));
  ASSERT_EQ(::lseek(input, 0, SEEK_SET), 0);
  ChildSpec spec = Shell("wc -l");
  spec.stdin_fd = input;
  auto run = RunToCompletion(spec, milliseconds(10000));
  ::close(input);
  ASSERT_TRUE(run.ok()) << run.status().ToString();
  EXPECT_EQ(run->out, "2\n");
}

TEST(ChildProcess, ATimeoutKillsTheChild) {
  const auto start = std::chrono::steady_clock::now();
  auto run = RunToCompletion(Shell("exec sleep 30"), milliseconds(300));
  ASSERT_TRUE(run.ok()) << run.status().ToString();
  EXPECT_TRUE(run->timed_out);
  EXPECT_EQ(run->exit_status, 128 + SIGKILL);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(20));
}

TEST(ChildProcess, StopEndsAChildThatIgnoresSigtermWithSigkill) {
  ChildSpec spec = Shell("trap '' TERM; echo ready; while :; do sleep 0.05; done");
  spec.stdout_to = ChildOutput::kPipe;
  auto child = ChildProcess::Start(spec);
  ASSERT_TRUE(child.ok()) << child.status().ToString();
  char ready[6] = {};
  ASSERT_EQ(::read((*child)->stdout_fd(), ready, 5), 5) << "the shell never said it ignores SIGTERM";
  EXPECT_TRUE((*child)->Running());
  EXPECT_EQ((*child)->Stop(milliseconds(200)), 128 + SIGKILL);
  EXPECT_FALSE((*child)->Running());
}

TEST(ChildProcess, StopEndsAWellBehavedChildWithSigterm) {
  auto child = ChildProcess::Start(Command({"sleep", "30"}));
  ASSERT_TRUE(child.ok()) << child.status().ToString();
  EXPECT_EQ((*child)->Stop(milliseconds(10000)), 128 + SIGTERM);
}

TEST(ChildProcess, DestroyingARunningChildKillsAndReapsIt) {
  pid_t pid = 0;
  {
    auto child = ChildProcess::Start(Command({"sleep", "30"}));
    ASSERT_TRUE(child.ok()) << child.status().ToString();
    pid = (*child)->pid();
  }
  // Reaped: the pid is no longer ours to signal.
  EXPECT_EQ(::kill(pid, 0), -1);
}

TEST(ChildProcess, AProcessGroupIsSignalledWhole) {
  test_support::TempDir dir;
  ChildSpec spec = Shell("sleep 30 & echo $! > grandchild; wait");
  spec.working_directory = dir.path();
  spec.own_process_group = true;
  auto child = ChildProcess::Start(spec);
  ASSERT_TRUE(child.ok()) << child.status().ToString();
  pid_t grandchild = 0;
  ASSERT_TRUE(test_support::WaitUntil(
      [&] {
        std::ifstream in(dir.File("grandchild"));
        in >> grandchild;
        return grandchild > 0;
      },
      milliseconds(10000), "the shell to write its background child's pid"));
  (*child)->Stop(milliseconds(5000));
  // The grandchild is reaped by init once killed; until then it is a zombie.
  EXPECT_TRUE(test_support::WaitUntil(
      [&] {
        std::ifstream stat("/proc/" + std::to_string(grandchild) + "/stat");
        std::string text;
        std::getline(stat, text);
        return text.empty() || text.find(") Z") != std::string::npos;
      },
      milliseconds(10000), "the grandchild " + std::to_string(grandchild) + " to end with its group"));
}

TEST(ChildProcess, OutputToAFileSharedByBothStreams) {
  test_support::TempDir dir;
  const std::string path = dir.File("out");
  ChildSpec spec = Shell("echo one; echo two >&2");
  spec.stdout_to = spec.stderr_to = ChildOutput::kFile;
  spec.stdout_path = spec.stderr_path = path;
  spec.truncate_files = true;
  auto child = ChildProcess::Start(spec);
  ASSERT_TRUE(child.ok()) << child.status().ToString();
  EXPECT_EQ((*child)->WaitFor(milliseconds(10000)), 0);
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  EXPECT_EQ(text.str(), "one\ntwo\n");
}

}  // namespace
}  // namespace qatlab
