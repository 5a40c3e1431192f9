// Jobs that start from another job's float model, and sweeps, in the store:
// a dependent waits in the queue until its baseline succeeded, fails saying
// why when the baseline fails or is cancelled, and a sweep is stored whole or
// not at all. A real SQLite file, a ManualClock.
#include <gtest/gtest.h>

#include "server/store/job_store.h"
#include "test_support.h"
#include "tests/support/temp_dir.h"

namespace qatlab::server {
namespace {

using testing::SmallSpec;

class JobDependencyStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto store = JobStore::Open(dir_.File("qatlab.db"), clock_, notifier_, JobStoreOptions{1000});
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    store_ = std::move(*store);
  }

  v1::JobSpec DependentOn(const std::string& baseline) {
    v1::JobSpec spec = SmallSpec("dependent");
    spec.set_baseline_job(baseline);
    return spec;
  }

  std::optional<JobLease> LeaseNext() {
    auto lease = store_->LeaseNext("w1", "");
    EXPECT_TRUE(lease.ok()) << lease.status().ToString();
    return lease.ok() ? *lease : std::nullopt;
  }

  v1::JobState StateOf(const std::string& id) {
    auto job = store_->Get(id);
    EXPECT_TRUE(job.ok());
    return job.ok() ? job->state() : v1::JOB_STATE_UNSPECIFIED;
  }

  test_support::TempDir dir_;
  ManualClock clock_{1'000'000};
  JobNotifier notifier_;
  std::unique_ptr<JobStore> store_;
};

TEST_F(JobDependencyStoreTest, DependentWaitsUntilItsBaselineSucceeded) {
  auto baseline = store_->Submit(SmallSpec("baseline"), "");
  ASSERT_TRUE(baseline.ok());
  auto dependent = store_->Submit(DependentOn(baseline->id()), "");
  ASSERT_TRUE(dependent.ok()) << dependent.status().ToString();

  auto first = LeaseNext();
  ASSERT_TRUE(first.has_value());
  EXPECT_EQ(first->job.id(), baseline->id());
  EXPECT_FALSE(LeaseNext().has_value()) << "the dependent was leased before its baseline finished";
  EXPECT_EQ(StateOf(dependent->id()), v1::QUEUED);

  v1::JobResult result;
  result.add_variants()->set_name("float");
  ASSERT_TRUE(store_->Complete(baseline->id(), {first->lease_id, ""}, result).ok());
  auto second = LeaseNext();
  ASSERT_TRUE(second.has_value());
  EXPECT_EQ(second->job.id(), dependent->id());
  EXPECT_EQ(second->job.spec().baseline_job(), baseline->id());
}

TEST_F(JobDependencyStoreTest, DependentFailsSayingWhyWhenItsBaselineFails) {
  auto baseline = store_->Submit(SmallSpec("baseline"), "");
  ASSERT_TRUE(baseline.ok());
  auto dependent = store_->Submit(DependentOn(baseline->id()), "");
  ASSERT_TRUE(dependent.ok());
  auto lease = LeaseNext();
  ASSERT_TRUE(lease.has_value());
  ASSERT_TRUE(store_->Fail(baseline->id(), {lease->lease_id, ""}, "out of memory", /*retryable=*/false).ok());
  auto failed = store_->Get(dependent->id());
  ASSERT_TRUE(failed.ok());
  EXPECT_EQ(failed->state(), v1::FAILED);
  EXPECT_EQ(failed->error(), "baseline job " + baseline->id() + " failed: out of memory");
  EXPECT_FALSE(LeaseNext().has_value());
}

TEST_F(JobDependencyStoreTest, DependentFailsWhenItsBaselineIsCancelledAndNewOnesAreRefused) {
  auto baseline = store_->Submit(SmallSpec("baseline"), "");
  ASSERT_TRUE(baseline.ok());
  auto dependent = store_->Submit(DependentOn(baseline->id()), "");
  ASSERT_TRUE(dependent.ok());
  ASSERT_TRUE(store_->Cancel(baseline->id()).ok());
  auto failed = store_->Get(dependent->id());
  ASSERT_TRUE(failed.ok());
  EXPECT_EQ(failed->state(), v1::FAILED);
  EXPECT_EQ(failed->error(), "baseline job " + baseline->id() + " was cancelled");

  auto late = store_->Submit(DependentOn(baseline->id()), "");
  ASSERT_FALSE(late.ok());
  EXPECT_EQ(late.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(late.status().message().find("CANCELLED"), std::string::npos) << late.status().message();
}

TEST_F(JobDependencyStoreTest, MissingBaselineIsNotFoundAndNothingIsStored) {
  auto job = store_->Submit(DependentOn("j-nosuchjob000"), "");
  ASSERT_FALSE(job.ok());
  EXPECT_EQ(job.status().code(), StatusCode::kNotFound);
  EXPECT_NE(job.status().message().find("j-nosuchjob000"), std::string::npos);
  EXPECT_EQ(*store_->CountJobs(), 0);
}

TEST_F(JobDependencyStoreTest, SweepIsStoredWholeListedAndCancelledTogether) {
  SweepJobGroup group;
  group.baseline = SmallSpec("baseline");
  for (int i = 0; i < 3; ++i) group.jobs.push_back(SmallSpec("point"));
  v1::SweepSpec spec;
  spec.set_name("three");
  auto sweep = store_->SubmitSweep(spec, "three", {group});
  ASSERT_TRUE(sweep.ok()) << sweep.status().ToString();
  ASSERT_EQ(sweep->sweep.baseline_job_ids_size(), 1);
  ASSERT_EQ(sweep->sweep.job_ids_size(), 3);
  const std::string baseline = sweep->sweep.baseline_job_ids(0);
  for (const v1::Job& job : sweep->jobs) {
    EXPECT_EQ(job.sweep_id(), sweep->sweep.id());
    if (job.id() != baseline) {
      EXPECT_EQ(job.spec().baseline_job(), baseline);
    }
  }
  auto loaded = store_->GetSweep(sweep->sweep.id());
  ASSERT_TRUE(loaded.ok());
  EXPECT_EQ(loaded->sweep.baseline_job_ids(0), baseline);
  EXPECT_EQ(loaded->sweep.job_ids_size(), 3);
  EXPECT_EQ(loaded->sweep.name(), "three");
  ListJobsQuery query;
  query.sweep_id = sweep->sweep.id();
  auto page = store_->List(query);
  ASSERT_TRUE(page.ok());
  EXPECT_EQ(page->jobs.size(), 4u);
  query.sweep_id = "s-nope";
  EXPECT_EQ(store_->List(query).status().code(), StatusCode::kNotFound);

  auto lease = LeaseNext();  // the baseline runs
  ASSERT_TRUE(lease.has_value());
  EXPECT_EQ(lease->job.id(), baseline);
  auto cancelled = store_->CancelSweep(sweep->sweep.id());
  ASSERT_TRUE(cancelled.ok()) << cancelled.status().ToString();
  for (const v1::Job& job : cancelled->jobs) {
    if (job.id() == baseline) {
      EXPECT_TRUE(job.cancel_requested());
    } else {
      EXPECT_EQ(job.state(), v1::CANCELLED);
    }
  }
  EXPECT_FALSE(LeaseNext().has_value());
}

TEST_F(JobDependencyStoreTest, SweepWithAMissingBaselineStoresNothing) {
  SweepJobGroup fresh;
  fresh.baseline = SmallSpec("baseline");
  fresh.jobs.push_back(SmallSpec("point"));
  SweepJobGroup existing;
  existing.jobs.push_back(DependentOn("j-nosuchjob000"));
  auto sweep = store_->SubmitSweep(v1::SweepSpec(), "broken", {fresh, existing});
  ASSERT_FALSE(sweep.ok());
  EXPECT_EQ(sweep.status().code(), StatusCode::kNotFound);
  EXPECT_EQ(*store_->CountJobs(), 0) << "a sweep was stored half-way";
}

}  // namespace
}  // namespace qatlab::server
