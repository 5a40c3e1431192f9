// What the store reports when the disk under it fails, on a real SQLite file:
// a full database is ResourceExhausted (RESOURCE_EXHAUSTED to a client) and
// keeps every job it had accepted; a damaged file is Corruption (DATA_LOSS)
// naming the file, and is left as it was found.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "server/rpc/grpc_status.h"
#include "server/store/clock.h"
#include "server/store/job_notifier.h"
#include "server/store/job_store.h"
#include "test_support.h"
#include "tests/support/temp_dir.h"

namespace qatlab::server {
namespace {

using test_support::TempDir;
using testing::SmallSpec;

// A job whose labels make each row a couple of kilobytes, so that a small
// quota fills after a few hundred submissions.
v1::JobSpec BulkySpec(int index) {
  v1::JobSpec spec = SmallSpec("fill");
  for (int label = 0; label < 8; ++label) {
    (*spec.mutable_labels())["label" + std::to_string(label)] = std::string(200, static_cast<char>('a' + index % 26));
  }
  return spec;
}

class StorageFaultsTest : public ::testing::Test {
 protected:
  StatusOr<std::unique_ptr<JobStore>> Open(int64_t max_database_bytes = 0) {
    JobStoreOptions options;
    options.max_database_bytes = max_database_bytes;
    return JobStore::Open(db_path_, clock_, notifier_, options);
  }

  TempDir dir_;
  const std::string db_path_ = dir_.File("qatlab.db");
  ManualClock clock_{1'700'000'000'000};
  JobNotifier notifier_;
};

TEST_F(StorageFaultsTest, FullDatabaseRefusesTheSubmissionAndKeepsEveryAcceptedJob) {
  auto store = Open(/*max_database_bytes=*/512 * 1024);
  ASSERT_TRUE(store.ok()) << store.status().ToString();

  std::vector<std::string> accepted;
  Status refusal;
  for (int i = 0; i < 5000 && refusal.ok(); ++i) {
    StatusOr<v1::Job> job = (*store)->Submit(BulkySpec(i), "");
    if (job.ok()) {
      accepted.push_back(job->id());
    } else {
      refusal = job.status();
    }
  }

  ASSERT_FALSE(refusal.ok()) << "512 KiB never filled after " << accepted.size() << " jobs";
  ASSERT_GT(accepted.size(), 10u);
  EXPECT_EQ(refusal.code(), StatusCode::kResourceExhausted) << refusal.ToString();
  EXPECT_EQ(ToGrpcStatus(refusal).error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  // Another try may still fit (job ids are random, so the row may land in a
  // B-tree page with room left); if it does not, it fails the same way.
  StatusOr<v1::Job> again = (*store)->Submit(BulkySpec(0), "");
  if (again.ok()) {
    accepted.push_back(again->id());
  } else {
    EXPECT_EQ(again.status().code(), StatusCode::kResourceExhausted) << again.status().ToString();
  }
  // Reads still work on the full database.
  StatusOr<int64_t> count = (*store)->CountJobs();
  ASSERT_TRUE(count.ok()) << count.status().ToString();
  EXPECT_EQ(*count, static_cast<int64_t>(accepted.size()));

  // Reopened without the quota: every accepted job is there, intact, and the
  // queue takes submissions again.
  store->reset();
  store = Open();
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  for (const std::string& id : accepted) {
    StatusOr<v1::Job> job = (*store)->Get(id);
    ASSERT_TRUE(job.ok()) << id << ": " << job.status().ToString();
    EXPECT_EQ(job->state(), v1::QUEUED);
    EXPECT_EQ(job->labels().size(), 8u);
  }
  StatusOr<std::string> integrity = (*store)->IntegrityCheck();
  ASSERT_TRUE(integrity.ok()) << integrity.status().ToString();
  EXPECT_EQ(*integrity, "ok");
  EXPECT_TRUE((*store)->Submit(BulkySpec(0), "").ok());
}

TEST_F(StorageFaultsTest, FileThatIsNotADatabaseIsCorruptionNamingItAndIsLeftAlone) {
  {
    std::ofstream out(db_path_, std::ios::binary);
    for (int i = 0; i < 4096; ++i) out << "not sqlite ";
  }
  const std::string before = test_support::ReadWholeFile(db_path_);

  auto store = Open();

  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.status().code(), StatusCode::kCorruption) << store.status().ToString();
  EXPECT_NE(store.status().message().find(db_path_), std::string::npos) << store.status().message();
  EXPECT_EQ(ToGrpcStatus(store.status()).error_code(), grpc::StatusCode::DATA_LOSS);
  EXPECT_EQ(test_support::ReadWholeFile(db_path_), before) << "a failed open must not rewrite the file";
}

TEST_F(StorageFaultsTest, DamagedPagesAreCorruptionNamingTheFile) {
  {
    auto store = Open();
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    for (int i = 0; i < 50; ++i) ASSERT_TRUE((*store)->Submit(BulkySpec(i), "").ok());
  }  // closing the last connection checkpoints the WAL into the file
  ASSERT_FALSE(std::filesystem::exists(db_path_ + "-wal") && std::filesystem::file_size(db_path_ + "-wal") > 0);
  // Page 1 (the header and the schema) stays; every other page is garbage.
  std::string bytes = test_support::ReadWholeFile(db_path_);
  const size_t page_size = 4096;
  ASSERT_GT(bytes.size(), 4 * page_size);
  for (size_t at = page_size; at < bytes.size(); ++at) bytes[at] = static_cast<char>(0xA5);
  {
    std::ofstream out(db_path_, std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  }

  auto store = Open();
  Status status = store.ok() ? (*store)->CountJobs().status() : store.status();

  EXPECT_EQ(status.code(), StatusCode::kCorruption) << status.ToString();
  EXPECT_NE(status.message().find(db_path_), std::string::npos) << status.message();
  EXPECT_EQ(ToGrpcStatus(status).error_code(), grpc::StatusCode::DATA_LOSS);
}

}  // namespace
}  // namespace qatlab::server
