// The data set and artifact catalogue on a real SQLite file shared with the
// job store, as in the server: data sets are immutable, and an artifact is
// recorded only under the job's current lease.
#include "server/store/catalogue.h"

#include <gtest/gtest.h>

#include "server/store/job_notifier.h"
#include "server/store/job_store.h"
#include "test_support.h"
#include "tests/support/temp_dir.h"

namespace qatlab::server {
namespace {

using test_support::TempDir;
using testing::SmallSpec;

constexpr int64_t kLeaseMs = 1000;
const std::string kSha(64, 'c');

class CatalogueTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto jobs = JobStore::Open(dir_.File("qatlab.db"), clock_, notifier_, JobStoreOptions{kLeaseMs});
    ASSERT_TRUE(jobs.ok()) << jobs.status().ToString();
    jobs_ = std::move(*jobs);
    auto catalogue = Catalogue::Open(dir_.File("qatlab.db"), clock_);
    ASSERT_TRUE(catalogue.ok()) << catalogue.status().ToString();
    catalogue_ = std::move(*catalogue);
  }

  TempDir dir_;
  ManualClock clock_{1'700'000'000'000};
  JobNotifier notifier_;
  std::unique_ptr<JobStore> jobs_;
  std::unique_ptr<Catalogue> catalogue_;
};

TEST_F(CatalogueTest, DatasetNameKeepsItsFirstContent) {
  ASSERT_TRUE(catalogue_->RecordDataset("digits", "idx", kSha, 100).ok());

  EXPECT_TRUE(catalogue_->RecordDataset("digits", "idx", kSha, 100).ok()) << "the same content again is fine";
  StatusOr<v1::Dataset> other = catalogue_->RecordDataset("digits", "idx", std::string(64, 'd'), 100);

  EXPECT_EQ(other.status().code(), StatusCode::kAlreadyExists) << other.status().ToString();
  StatusOr<std::vector<v1::Dataset>> all = catalogue_->ListDatasets();
  ASSERT_TRUE(all.ok()) << all.status().ToString();
  ASSERT_EQ(all->size(), 1u);
  EXPECT_EQ((*all)[0].sha256(), kSha);
}

TEST_F(CatalogueTest, ArtifactIsRecordedOnlyUnderTheCurrentLease) {
  StatusOr<v1::Job> job = jobs_->Submit(SmallSpec(), "");
  ASSERT_TRUE(job.ok()) << job.status().ToString();
  auto first = jobs_->LeaseNext("w1", "");
  ASSERT_TRUE(first.ok() && first->has_value());
  clock_.Advance(kLeaseMs + 1);
  ASSERT_EQ(*jobs_->ExpireLeases(), 1);
  auto second = jobs_->LeaseNext("w2", "");
  ASSERT_TRUE(second.ok() && second->has_value());

  StatusOr<v1::Artifact> stale = catalogue_->RecordArtifact(job->id(), {(*first)->lease_id, ""}, "m.qmodel", kSha, 10);
  StatusOr<v1::Artifact> current =
      catalogue_->RecordArtifact(job->id(), {(*second)->lease_id, ""}, "m.qmodel", std::string(64, 'e'), 20);

  EXPECT_EQ(stale.status().code(), StatusCode::kFailedPrecondition) << stale.status().ToString();
  ASSERT_TRUE(current.ok()) << current.status().ToString();
  StatusOr<v1::Artifact> found = catalogue_->FindArtifact(job->id(), "m.qmodel", "");
  ASSERT_TRUE(found.ok()) << found.status().ToString();
  EXPECT_EQ(found->sha256(), std::string(64, 'e'));
  EXPECT_EQ(catalogue_->FindArtifact("j-none", "m.qmodel", "").status().code(), StatusCode::kNotFound);
}

}  // namespace
}  // namespace qatlab::server
