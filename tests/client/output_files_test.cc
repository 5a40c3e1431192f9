// How qatctl puts downloads on disk (client/output_files.h): a target is
// either absent or complete, and never replaced without --force.
#include "client/output_files.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>

#include "tests/support/temp_dir.h"

namespace qatlab {
namespace {

namespace fs = std::filesystem;
using test_support::ReadWholeFile;

std::vector<std::string> Listing(const std::string& directory) {
  std::vector<std::string> names;
  for (const auto& entry : fs::directory_iterator(directory)) names.push_back(entry.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

TEST(OutputFiles, AFileIsWrittenOnceAndReplacedOnlyWithForce) {
  test_support::TempDir dir;
  const std::string path = dir.path() + "/model.qmodel";
  ASSERT_TRUE(WriteFileAtomically(path, "first", false).ok());
  EXPECT_EQ(ReadWholeFile(path), "first");

  Status refused = WriteFileAtomically(path, "second", false);
  EXPECT_EQ(refused.code(), StatusCode::kAlreadyExists);
  EXPECT_NE(refused.message().find("--force"), std::string::npos) << refused.message();
  EXPECT_EQ(ReadWholeFile(path), "first");
  EXPECT_EQ(CheckOutputFree(path, false).code(), StatusCode::kAlreadyExists);
  EXPECT_TRUE(CheckOutputFree(path, true).ok());

  ASSERT_TRUE(WriteFileAtomically(path, "second", true).ok());
  EXPECT_EQ(ReadWholeFile(path), "second");
  EXPECT_EQ(Listing(dir.path()), std::vector<std::string>{"model.qmodel"});  // no temporaries left
}

TEST(OutputFiles, MoveIntoPlaceRefusesAnExistingTargetAtomicallyAndRemovesTheTemporary) {
  test_support::TempDir dir;
  const std::string path = dir.path() + "/out";
  ASSERT_TRUE(WriteFileAtomically(path, "kept", false).ok());
  const std::string temporary = TemporaryPathBeside(path);
  ASSERT_TRUE(WriteFileAtomically(temporary, "new", false).ok());
  EXPECT_EQ(MoveIntoPlace(temporary, path, false).code(), StatusCode::kAlreadyExists);
  EXPECT_EQ(ReadWholeFile(path), "kept");
  EXPECT_FALSE(fs::exists(temporary));
}

TEST(OutputFiles, ADirectoryHoldsExactlyTheNewFilesAndIsReplacedOnlyWithForce) {
  test_support::TempDir dir;
  const std::string path = dir.path() + "/model-c";
  ASSERT_TRUE(WriteDirectoryAtomically(path, {{"model.h", "h1"}, {"model.c", "c1"}, {"stale.txt", "x"}}, false).ok());
  EXPECT_EQ(Listing(path), (std::vector<std::string>{"model.c", "model.h", "stale.txt"}));

  EXPECT_EQ(WriteDirectoryAtomically(path, {{"model.h", "h2"}}, false).code(), StatusCode::kAlreadyExists);
  EXPECT_EQ(ReadWholeFile(path + "/model.h"), "h1");

  ASSERT_TRUE(WriteDirectoryAtomically(path, {{"model.h", "h2"}, {"model.c", "c2"}}, true).ok());
  EXPECT_EQ(Listing(path), (std::vector<std::string>{"model.c", "model.h"}));
  EXPECT_EQ(ReadWholeFile(path + "/model.c"), "c2");
  EXPECT_EQ(Listing(dir.path()), std::vector<std::string>{"model-c"});
}

TEST(OutputFiles, FileNamesThatLeaveTheDirectoryAreRefusedBeforeAnythingIsWritten) {
  test_support::TempDir dir;
  const std::string path = dir.path() + "/model-c";
  for (const char* name : {"../escape.c", "", "..", "sub/file.c"}) {
    Status refused = WriteDirectoryAtomically(path, {{"model.h", "h"}, {name, "x"}}, false);
    EXPECT_EQ(refused.code(), StatusCode::kInvalidArgument) << name;
  }
  EXPECT_TRUE(Listing(dir.path()).empty());
}

}  // namespace
}  // namespace qatlab
