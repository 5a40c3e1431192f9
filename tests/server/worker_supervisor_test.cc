// The supervisor with real child processes (small shell scripts standing in
// for qatlab-worker): command line, restart with back-off, bounded stop.
#include "server/worker_supervisor.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "test_support.h"
#include "tests/support/temp_dir.h"
#include "tests/support/wait_until.h"

namespace qatlab::server {
namespace {

using std::chrono::milliseconds;
using test_support::TempDir;
using test_support::WaitUntil;

std::string WriteScript(const TempDir& dir, const std::string& name, const std::string& body) {
  std::string path = dir.File(name);
  std::ofstream(path) << "#!/bin/sh\n" << body;
  ::chmod(path.c_str(), 0755);
  return path;
}

std::vector<std::string> ReadLines(const std::string& path) {
  std::ifstream in(path);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

TEST(WorkerSupervisorTest, CommandLineCarriesServerIdTokenAndCache) {
  WorkerSupervisorOptions options;
  options.binary = "/opt/qatlab/bin/qatlab-worker";
  options.server_address = "127.0.0.1:50051";
  options.token_file = "/etc/qatlab/token";
  options.data_cache = "/var/cache/qatlab";
  EXPECT_EQ(
      WorkerSupervisor::CommandLine(options, 2),
      (std::vector<std::string>{"/opt/qatlab/bin/qatlab-worker", "--server", "127.0.0.1:50051", "--worker-id",
                                "local-2", "--token-file", "/etc/qatlab/token", "--data-cache", "/var/cache/qatlab"}));
  options.token_file.clear();
  options.data_cache.clear();
  EXPECT_EQ(WorkerSupervisor::CommandLine(options, 1).size(), 5u);
}

TEST(WorkerSupervisorTest, MissingBinaryIsReportedClearly) {
  auto found = WorkerSupervisor::FindWorkerBinary("/nonexistent/qatlab-worker");
  EXPECT_EQ(found.status().code(), StatusCode::kNotFound);
  EXPECT_NE(found.status().message().find("--worker-binary"), std::string::npos);
}

// No --worker-binary: beside this executable and in ../worker/ there is none
// (this is a test binary), so $PATH decides; without it the error names
// every place looked at.
TEST(WorkerSupervisorTest, WorkerIsFoundOnPathElseEveryPlaceLookedAtIsNamed) {
  TempDir dir;
  ASSERT_EQ(::mkdir(dir.File("bin").c_str(), 0755), 0);
  const std::string worker = WriteScript(dir, "bin/qatlab-worker", "exit 0\n");
  const char* old_path = std::getenv("PATH");
  const std::string saved = old_path != nullptr ? old_path : "";

  ::setenv("PATH", ("/nonexistent:" + dir.File("bin")).c_str(), 1);
  StatusOr<std::string> found = WorkerSupervisor::FindWorkerBinary("");
  ::setenv("PATH", dir.File("empty").c_str(), 1);
  StatusOr<std::string> missing = WorkerSupervisor::FindWorkerBinary("");
  ::setenv("PATH", saved.c_str(), 1);

  ASSERT_TRUE(found.ok()) << found.status().ToString();
  EXPECT_EQ(*found, worker);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
  const std::string self = std::filesystem::read_symlink("/proc/self/exe").parent_path().string();
  EXPECT_NE(missing.status().message().find(self + "/qatlab-worker"), std::string::npos) << missing.status().message();
  EXPECT_NE(missing.status().message().find("PATH (" + dir.File("empty") + ")"), std::string::npos)
      << missing.status().message();
  EXPECT_NE(missing.status().message().find("--local-workers 0"), std::string::npos) << missing.status().message();
}

TEST(WorkerSupervisorTest, RestartsDeadWorkersWithGrowingDelays) {
  TempDir dir;
  const std::string log = dir.File("starts.log");
  // Each run records when it started (with its arguments) and when it is
  // about to die, in ms, then exits with an error.
  std::string script = WriteScript(
      dir, "dying-worker.sh",
      "echo \"start $(date +%s%3N) $*\" >> " + log + "\n" + "echo \"end $(date +%s%3N) $4\" >> " + log + "\nexit 3\n");
  WorkerSupervisorOptions options;
  options.binary = script;
  options.server_address = "127.0.0.1:1";
  options.count = 2;
  options.backoff.initial = milliseconds(100);
  options.backoff.max = milliseconds(400);
  options.stop_grace = milliseconds(500);
  WorkerSupervisor supervisor(options);
  ASSERT_TRUE(supervisor.Start().ok());
  ASSERT_TRUE(WaitUntil([&] { return ReadLines(log).size() >= 16; }, milliseconds(8000),
                        "eight starts and ends of the dying workers"));
  supervisor.Stop();

  std::vector<int64_t> worker1_starts, worker1_ends;
  for (const std::string& line : ReadLines(log)) {
    std::istringstream fields(line);
    std::string kind;
    int64_t ms = 0;
    fields >> kind >> ms;
    if (kind == "end") {
      std::string id;
      fields >> id;
      if (id == "local-1") worker1_ends.push_back(ms);
      continue;
    }
    std::string flag, address, id_flag, id;
    fields >> flag >> address >> id_flag >> id;
    EXPECT_EQ(flag, "--server");
    EXPECT_EQ(address, "127.0.0.1:1");
    EXPECT_TRUE(id == "local-1" || id == "local-2") << id;
    if (id == "local-1") worker1_starts.push_back(ms);
  }
  ASSERT_GE(worker1_starts.size(), 4u);
  ASSERT_GE(worker1_ends.size(), 3u);
  // From a death to the next start: at least the back-off (100, 200, 400 ms),
  // at most that plus the supervisor's 100 ms polling and process start-up
  // on a busy machine.
  const int64_t expected[] = {100, 200, 400};
  for (size_t i = 0; i < 3; ++i) {
    int64_t gap = worker1_starts[i + 1] - worker1_ends[i];
    EXPECT_GE(gap, expected[i] - 5) << "restart " << i + 1;
    EXPECT_LE(gap, expected[i] + 600) << "restart " << i + 1;
  }
}

TEST(WorkerSupervisorTest, StopTerminatesWorkersAndKillsThoseIgnoringSigterm) {
  TempDir dir;
  const std::string log = dir.File("signals.log");
  // Each worker says "ready" once its trap is installed: a SIGTERM before
  // that would end even the stubborn one.
  const std::string ready = dir.File("ready.log");
  std::string polite = WriteScript(
      dir, "polite.sh",
      "trap 'echo term >> " + log + "; exit 0' TERM\necho ready >> " + ready + "\nwhile true; do sleep 0.05; done\n");
  std::string stubborn =
      WriteScript(dir, "stubborn.sh", "trap '' TERM\necho ready >> " + ready + "\nwhile true; do sleep 0.05; done\n");
  size_t started = 0;
  for (const std::string& binary : {polite, stubborn}) {
    WorkerSupervisorOptions options;
    options.binary = binary;
    options.server_address = "127.0.0.1:1";
    options.count = 1;
    options.stop_grace = milliseconds(400);
    WorkerSupervisor supervisor(options);
    ASSERT_TRUE(supervisor.Start().ok());
    ++started;
    ASSERT_TRUE(WaitUntil([&] { return supervisor.pids()[0] > 0 && ReadLines(ready).size() == started; },
                          milliseconds(10000), binary + " to install its trap"));
    pid_t pid = supervisor.pids()[0];
    auto before = std::chrono::steady_clock::now();
    supervisor.Stop();
    auto took = std::chrono::steady_clock::now() - before;
    EXPECT_LT(took, milliseconds(5000)) << binary;  // bounded: grace 400 ms, then SIGKILL
    EXPECT_NE(::kill(pid, 0), 0) << binary << ": worker still alive after Stop";
    EXPECT_EQ(supervisor.starts(), 1) << binary;
  }
  EXPECT_EQ(ReadLines(log), std::vector<std::string>{"term"});
}

}  // namespace
}  // namespace qatlab::server
