// The queue's rules, on a real SQLite file, with a ManualClock so lease expiry
// is exercised without sleeping.
#include "server/store/job_store.h"

#include <gtest/gtest.h>

#include <map>
#include <set>
#include <thread>

#include "test_support.h"
#include "tests/support/temp_dir.h"

namespace qatlab::server {
namespace {

using test_support::TempDir;
using testing::SmallSpec;

constexpr int64_t kLeaseMs = 1000;

class JobStoreTest : public ::testing::Test {
 protected:
  void SetUp() override { Reopen(); }

  void Reopen() {
    store_.reset();
    auto store = JobStore::Open(dir_.File("qatlab.db"), clock_, notifier_, JobStoreOptions{kLeaseMs});
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    store_ = std::move(*store);
  }

  v1::Job Submit(const v1::JobSpec& spec, const std::string& key = "") {
    auto job = store_->Submit(spec, key);
    EXPECT_TRUE(job.ok()) << job.status().ToString();
    return job.ok() ? *job : v1::Job();
  }

  JobLease Lease(const std::string& worker = "w1") {
    auto lease = store_->LeaseNext(worker, "");
    EXPECT_TRUE(lease.ok()) << lease.status().ToString();
    EXPECT_TRUE(lease.ok() && lease->has_value()) << "queue unexpectedly empty";
    return lease.ok() && lease->has_value() ? **lease : JobLease();
  }

  v1::Job Get(const std::string& id) {
    auto job = store_->Get(id);
    EXPECT_TRUE(job.ok()) << job.status().ToString();
    return job.ok() ? *job : v1::Job();
  }

  static v1::JobResult SampleResult(const std::string& tag) {
    v1::JobResult result;
    result.set_experiment("test");
    result.set_model("cnn");
    result.set_dataset("mnist");
    result.set_train_samples(8000);
    result.set_test_samples(2000);
    result.set_total_seconds(12.5);
    result.set_float_weight_bytes(4000);
    result.set_ptq_test_samples(1500);
    for (int layer = 0; layer < 2; ++layer) {
      v1::LayerHessian* h = result.add_layer_hessian();
      h->set_weighted_layer(layer);
      h->set_layer(3 * layer);
      h->set_parameters(216 + layer);
      h->set_trace(9.25 + layer);
      h->set_trace_standard_error(0.5);
      h->set_omega_w2(0.75);
      h->set_omega_w4(0.025);
      h->set_omega_w8(8.5e-5);
    }
    for (const char* name : {"float", "ptq_w8a8", "qat_w8a8"}) {
      v1::VariantResult* v = result.add_variants();
      v->set_name(std::string(name) + tag);
      v->set_kind(std::string(name).substr(0, std::string(name).find('_')));
      v->set_weight_bits(8);
      v->set_activation_bits(8);
      v->add_layer_weight_bits(8);
      v->add_layer_weight_bits(4);
      v->set_accuracy(97.25);
      v->set_integer_accuracy(97.0);
      v->set_agreement(99.5);
      v->set_flash_bytes(1234);
      v->set_parameters(1000);
      v->set_macs(50000);
      v->set_ram_bytes(2048);
      v->set_train_seconds(3.5);
      for (int epoch = 1; epoch <= 2; ++epoch) {
        v1::EpochStats* e = v->add_history();
        e->set_variant(v->name());
        e->set_epoch(epoch);
        e->set_epochs(2);
        e->set_loss(1.0 / epoch);
        e->set_test_accuracy(90 + epoch);
      }
    }
    return result;
  }

  TempDir dir_;
  ManualClock clock_{1'700'000'000'000};
  JobNotifier notifier_;
  std::unique_ptr<JobStore> store_;
};

TEST_F(JobStoreTest, ASubmissionWakesAWaitingLongPoll) {
  // What LeaseJob waits on: without the wake-up, the waiter would sleep its
  // whole minute and see an unchanged generation.
  const uint64_t seen = notifier_.QueueGeneration();
  bool woken = false;
  std::thread poller([&] { woken = notifier_.WaitForQueueChange(seen, std::chrono::minutes(1)); });
  Submit(SmallSpec("wake"));
  poller.join();
  EXPECT_TRUE(woken);
  EXPECT_NE(notifier_.QueueGeneration(), seen);
}

TEST_F(JobStoreTest, LeasesByPriorityThenSubmissionOrder) {
  std::string a = Submit(SmallSpec("a", 0)).id();
  std::string b = Submit(SmallSpec("b", 5)).id();
  std::string c = Submit(SmallSpec("c", 0)).id();
  std::string d = Submit(SmallSpec("d", 5)).id();
  std::string e = Submit(SmallSpec("e", -1)).id();
  std::vector<std::string> order;
  for (int i = 0; i < 5; ++i) order.push_back(Lease().job.id());
  EXPECT_EQ(order, (std::vector<std::string>{b, d, a, c, e}));
  auto none = store_->LeaseNext("w1", "");
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->has_value());
}

TEST_F(JobStoreTest, ExpiredLeaseRequeuesWithNextAttemptThenFailsAtTheLimit) {
  v1::JobSpec spec = SmallSpec();
  spec.set_max_attempts(2);
  std::string id = Submit(spec).id();

  JobLease first = Lease("w1");
  EXPECT_EQ(first.job.attempt(), 1);
  clock_.Advance(kLeaseMs + 1);
  ASSERT_EQ(*store_->ExpireLeases(), 1);
  v1::Job requeued = Get(id);
  EXPECT_EQ(requeued.state(), v1::QUEUED);
  EXPECT_EQ(requeued.attempt(), 1);
  EXPECT_NE(requeued.error().find("lease of worker w1 expired"), std::string::npos) << requeued.error();

  JobLease second = Lease("w2");
  EXPECT_EQ(second.job.id(), id);
  EXPECT_EQ(second.job.attempt(), 2);
  clock_.Advance(kLeaseMs + 1);
  ASSERT_EQ(*store_->ExpireLeases(), 1);
  v1::Job failed = Get(id);
  EXPECT_EQ(failed.state(), v1::FAILED);
  EXPECT_NE(failed.error().find("lease of worker w2 expired (attempt 2 of 2)"), std::string::npos) << failed.error();
  EXPECT_GT(failed.finished_unix_ms(), 0);
}

TEST_F(JobStoreTest, HeartbeatExtendsTheLease) {
  std::string id = Submit(SmallSpec()).id();
  JobLease lease = Lease();
  clock_.Advance(kLeaseMs - 200);
  auto beat = store_->Heartbeat(id, {lease.lease_id, ""}, nullptr);
  ASSERT_TRUE(beat.ok());
  EXPECT_FALSE(beat->cancelled);
  EXPECT_FALSE(beat->lease_lost);
  EXPECT_EQ(beat->deadline_unix_ms, clock_.NowUnixMs() + kLeaseMs);
  clock_.Advance(kLeaseMs - 200);  // past the first deadline, within the new one
  EXPECT_EQ(*store_->ExpireLeases(), 0);
  EXPECT_EQ(Get(id).state(), v1::RUNNING);
  clock_.Advance(201);
  EXPECT_EQ(*store_->ExpireLeases(), 1);
  EXPECT_EQ(Get(id).state(), v1::QUEUED);
  // The old lease is gone: its holder learns so.
  auto late = store_->Heartbeat(id, {lease.lease_id, ""}, nullptr);
  ASSERT_TRUE(late.ok());
  EXPECT_TRUE(late->lease_lost);
}

TEST_F(JobStoreTest, StaleLeaseCannotCompleteAndChangesNothing) {
  std::string id = Submit(SmallSpec()).id();
  JobLease lost = Lease("w1");
  clock_.Advance(kLeaseMs + 1);
  ASSERT_EQ(*store_->ExpireLeases(), 1);
  JobLease current = Lease("w2");

  Status stale = store_->Complete(id, {lost.lease_id, ""}, SampleResult("_stale"));
  EXPECT_EQ(stale.code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(stale.message().find(lost.lease_id), std::string::npos) << stale.message();
  EXPECT_EQ(store_->Fail(id, {lost.lease_id, ""}, "late", false).code(), StatusCode::kFailedPrecondition);
  v1::Job still = Get(id);
  EXPECT_EQ(still.state(), v1::RUNNING);
  EXPECT_EQ(still.worker_id(), "w2");
  EXPECT_EQ(store_->GetResult(id).status().code(), StatusCode::kFailedPrecondition);

  ASSERT_TRUE(store_->Complete(id, {current.lease_id, ""}, SampleResult("")).ok());
  EXPECT_EQ(Get(id).state(), v1::SUCCEEDED);
  // Exactly once: a repeated completion is refused and the result stays.
  EXPECT_EQ(store_->Complete(id, {current.lease_id, ""}, SampleResult("_again")).code(),
            StatusCode::kFailedPrecondition);
  auto result = store_->GetResult(id);
  ASSERT_TRUE(result.ok());
  EXPECT_EQ(result->variants(0).name(), "float");
}

TEST_F(JobStoreTest, ResultsAreStoredAsRowsAndReadBackWhole) {
  std::string id = Submit(SmallSpec()).id();
  JobLease lease = Lease();
  v1::JobResult sent = SampleResult("");
  ASSERT_TRUE(store_->Complete(id, {lease.lease_id, ""}, sent).ok());
  auto read = store_->GetResult(id);
  ASSERT_TRUE(read.ok()) << read.status().ToString();
  EXPECT_EQ(read->SerializeAsString(), sent.SerializeAsString()) << read->DebugString();
}

TEST_F(JobStoreTest, CancelQueuedIsImmediate) {
  std::string id = Submit(SmallSpec()).id();
  auto cancelled = store_->Cancel(id);
  ASSERT_TRUE(cancelled.ok());
  EXPECT_EQ(cancelled->state(), v1::CANCELLED);
  EXPECT_EQ(Get(id).state(), v1::CANCELLED);
  EXPECT_FALSE(store_->LeaseNext("w1", "")->has_value());
  // Cancelling again is harmless.
  EXPECT_TRUE(store_->Cancel(id).ok());
}

TEST_F(JobStoreTest, CancelRunningIsDeliveredByTheNextHeartbeat) {
  std::string id = Submit(SmallSpec()).id();
  JobLease lease = Lease();
  auto flagged = store_->Cancel(id);
  ASSERT_TRUE(flagged.ok());
  EXPECT_EQ(flagged->state(), v1::RUNNING);
  EXPECT_TRUE(flagged->cancel_requested());

  auto beat = store_->Heartbeat(id, {lease.lease_id, ""}, nullptr);
  ASSERT_TRUE(beat.ok());
  EXPECT_TRUE(beat->cancelled);
  EXPECT_EQ(Get(id).state(), v1::CANCELLED);
  // The worker must not complete now; if it tries, nothing changes.
  EXPECT_EQ(store_->Complete(id, {lease.lease_id, ""}, SampleResult("")).code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(Get(id).state(), v1::CANCELLED);
}

TEST_F(JobStoreTest, CancelRunningWhoseWorkerDiedEndsCancelledAtExpiry) {
  std::string id = Submit(SmallSpec()).id();
  Lease();
  ASSERT_TRUE(store_->Cancel(id).ok());
  clock_.Advance(kLeaseMs + 1);
  ASSERT_EQ(*store_->ExpireLeases(), 1);
  EXPECT_EQ(Get(id).state(), v1::CANCELLED);
}

TEST_F(JobStoreTest, CancelFinishedJobIsRefused) {
  std::string id = Submit(SmallSpec()).id();
  JobLease lease = Lease();
  ASSERT_TRUE(store_->Complete(id, {lease.lease_id, ""}, SampleResult("")).ok());
  EXPECT_EQ(store_->Cancel(id).status().code(), StatusCode::kFailedPrecondition);
}

TEST_F(JobStoreTest, RetryableFailureGivesTheJobBackWithoutCountingAnAttempt) {
  std::string id = Submit(SmallSpec()).id();
  JobLease lease = Lease("w1");
  ASSERT_TRUE(store_->Fail(id, {lease.lease_id, ""}, "worker shutting down", true).ok());
  v1::Job back = Get(id);
  EXPECT_EQ(back.state(), v1::QUEUED);
  EXPECT_EQ(back.attempt(), 0);
  JobLease again = Lease("w2");
  EXPECT_EQ(again.job.attempt(), 1);
  ASSERT_TRUE(store_->Fail(id, {again.lease_id, ""}, "model.layers[2]: kernel does not fit", false).ok());
  v1::Job failed = Get(id);
  EXPECT_EQ(failed.state(), v1::FAILED);
  EXPECT_EQ(failed.error(), "model.layers[2]: kernel does not fit");
}

TEST_F(JobStoreTest, IdempotencyKeyReturnsTheFirstJobAndRefusesAnotherSpec) {
  v1::Job first = Submit(SmallSpec(), "key-1");
  v1::Job again = Submit(SmallSpec(), "key-1");
  EXPECT_EQ(first.id(), again.id());
  StatusOr<v1::Job> other = store_->Submit(SmallSpec("other"), "key-1");
  EXPECT_EQ(other.status().code(), StatusCode::kAlreadyExists) << other.status().ToString();
  EXPECT_EQ(*store_->CountJobs(), 1);
}

TEST_F(JobStoreTest, ListPagesNewestFirstAndFilters) {
  std::vector<std::string> ids;
  for (int i = 0; i < 7; ++i) {
    v1::JobSpec spec = SmallSpec(i % 2 == 0 ? "even" : "odd");
    (*spec.mutable_labels())["parity"] = i % 2 == 0 ? "even" : "odd";
    ids.push_back(Submit(spec).id());
  }
  ListJobsQuery query;
  query.page_size = 3;
  std::vector<std::string> seen;
  for (int page = 0; page < 10; ++page) {
    auto result = store_->List(query);
    ASSERT_TRUE(result.ok()) << result.status().ToString();
    for (const auto& job : result->jobs) seen.push_back(job.id());
    if (result->next_page_token.empty()) break;
    query.page_token = result->next_page_token;
  }
  EXPECT_EQ(seen, std::vector<std::string>(ids.rbegin(), ids.rend()));

  ListJobsQuery by_label;
  by_label.labels["parity"] = "odd";
  auto odd = store_->List(by_label);
  ASSERT_TRUE(odd.ok());
  EXPECT_EQ(odd->jobs.size(), 3u);
  ListJobsQuery by_experiment;
  by_experiment.experiment = "even";
  by_experiment.state = v1::QUEUED;
  EXPECT_EQ(store_->List(by_experiment)->jobs.size(), 4u);

  ListJobsQuery bad;
  bad.page_token = "not-a-token";
  EXPECT_EQ(store_->List(bad).status().code(), StatusCode::kInvalidArgument);
}

TEST_F(JobStoreTest, EverythingSurvivesAReopenIncludingLeases) {
  std::string queued = Submit(SmallSpec("q")).id();
  std::string running = Submit(SmallSpec("r", 9)).id();
  JobLease lease = Lease();
  ASSERT_EQ(lease.job.id(), running);
  Reopen();
  EXPECT_EQ(Get(queued).state(), v1::QUEUED);
  EXPECT_EQ(Get(running).state(), v1::RUNNING);
  // The worker that held the lease carries on after the restart.
  auto beat = store_->Heartbeat(running, {lease.lease_id, ""}, nullptr);
  ASSERT_TRUE(beat.ok());
  EXPECT_FALSE(beat->lease_lost);
  ASSERT_TRUE(store_->Complete(running, {lease.lease_id, ""}, SampleResult("")).ok());
  EXPECT_EQ(*store_->IntegrityCheck(), "ok");
}

// The digests of two worker tokens (what TokenAuthenticator::Holder gives).
const std::string kTokenA(64, 'a');
const std::string kTokenB(64, 'b');

TEST_F(JobStoreTest, ALeaseStaysBoundToTheTokenThatTookItAcrossAReopen) {
  const std::string id = Submit(SmallSpec()).id();
  auto leased = store_->LeaseNext("worker-a", kTokenA);
  ASSERT_TRUE(leased.ok() && leased->has_value());
  const std::string lease_id = (*leased)->lease_id;
  Reopen();  // a server restart: nothing of the binding is held in memory

  // Token B presenting A's lease is refused every way, and nothing changes.
  const LeaseClaim b{lease_id, kTokenB};
  EXPECT_EQ(store_->Heartbeat(id, b, nullptr).status().code(), StatusCode::kPermissionDenied);
  EXPECT_EQ(store_->CheckLease(id, b).code(), StatusCode::kPermissionDenied);
  const Status forged = store_->Complete(id, b, SampleResult("_forged"));
  EXPECT_EQ(forged.code(), StatusCode::kPermissionDenied);
  EXPECT_NE(forged.message().find("another worker token"), std::string::npos) << forged.message();
  EXPECT_EQ(store_->Fail(id, b, "forged", false).code(), StatusCode::kPermissionDenied);
  EXPECT_EQ(Get(id).state(), v1::RUNNING);
  EXPECT_EQ(Get(id).error(), "");

  // A carries on; an open server (no token digest) checks nothing.
  const LeaseClaim a{lease_id, kTokenA};
  ASSERT_TRUE(store_->CheckLease(id, a).ok());
  auto beat = store_->Heartbeat(id, a, nullptr);
  ASSERT_TRUE(beat.ok()) << beat.status().ToString();
  EXPECT_FALSE(beat->lease_lost);
  EXPECT_TRUE(store_->CheckLease(id, {lease_id, ""}).ok());

  // Given back, the job's next lease is bound to whoever takes it: A's old
  // lease is merely stale now, and B's new one is B's.
  ASSERT_TRUE(store_->Fail(id, a, "shutting down", /*retryable=*/true).ok());
  auto again = store_->LeaseNext("worker-b", kTokenB);
  ASSERT_TRUE(again.ok() && again->has_value());
  EXPECT_EQ(store_->CheckLease(id, a).code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(store_->CheckLease(id, {(*again)->lease_id, kTokenA}).code(), StatusCode::kPermissionDenied);
  ASSERT_TRUE(store_->Complete(id, {(*again)->lease_id, kTokenB}, SampleResult("")).ok());
  // Finished, the lease still says whose it was.
  EXPECT_EQ(store_->Complete(id, {(*again)->lease_id, kTokenA}, SampleResult("")).code(),
            StatusCode::kPermissionDenied);
}

TEST_F(JobStoreTest, ALeaseTakenWithoutATokenIsUsableByAnyToken) {
  const std::string id = Submit(SmallSpec()).id();
  JobLease lease = Lease();  // an open server: bound to nobody
  Reopen();
  ASSERT_TRUE(store_->Complete(id, {lease.lease_id, kTokenB}, SampleResult("")).ok());
}

TEST_F(JobStoreTest, ABindingThatNamesAnotherLeaseBindsNothing) {
  const std::string id = Submit(SmallSpec()).id();
  auto leased = store_->LeaseNext("worker-a", kTokenA);
  ASSERT_TRUE(leased.ok() && leased->has_value());
  store_.reset();
  {
    // Code older than migration 0007 grants a new lease without writing the
    // binding: A's binding is left behind, naming A's lease.
    auto db = Database::Open(dir_.File("qatlab.db"));
    ASSERT_TRUE(db.ok()) << db.status().ToString();
    ASSERT_TRUE((*db)->Exec("UPDATE jobs SET lease_id = 'l-granted-by-older-code', worker_id = 'worker-b'").ok());
  }
  Reopen();
  EXPECT_TRUE(store_->CheckLease(id, {"l-granted-by-older-code", kTokenB}).ok());
}

TEST_F(JobStoreTest, WatchSeesEveryChangeInOrder) {
  std::string id = Submit(SmallSpec()).id();
  auto watch = store_->WatchJob(id);
  ASSERT_TRUE(watch.ok());
  EXPECT_EQ(watch->job.state(), v1::QUEUED);
  JobLease lease = Lease();
  v1::EpochStats progress;
  progress.set_variant("float");
  progress.set_epoch(1);
  progress.set_epochs(2);
  ASSERT_TRUE(store_->Heartbeat(id, {lease.lease_id, ""}, &progress).ok());
  ASSERT_TRUE(store_->Heartbeat(id, {lease.lease_id, ""}, &progress).ok());  // same progress: no event
  ASSERT_TRUE(store_->Complete(id, {lease.lease_id, ""}, SampleResult("")).ok());

  auto leased = watch->subscription->Next(std::chrono::milliseconds(100));
  ASSERT_TRUE(leased.has_value());
  EXPECT_EQ(leased->job.state(), v1::RUNNING);
  auto step = watch->subscription->Next(std::chrono::milliseconds(100));
  ASSERT_TRUE(step.has_value() && step->progress.has_value());
  EXPECT_EQ(step->progress->epoch(), 1);
  auto done = watch->subscription->Next(std::chrono::milliseconds(100));
  ASSERT_TRUE(done.has_value());
  EXPECT_EQ(done->job.state(), v1::SUCCEEDED);
  EXPECT_TRUE(done->result.has_value());
  EXPECT_FALSE(watch->subscription->Next(std::chrono::milliseconds(10)).has_value());
}

TEST_F(JobStoreTest, ConcurrentSubmissionsAreGroupCommittedWithoutLossOrDuplicates) {
  constexpr int kThreads = 8;
  constexpr int kEach = 150;
  // Every third submission carries a key shared by all threads: those must
  // collapse into one job per key even when they land in the same batch.
  std::vector<std::vector<std::pair<std::string, std::string>>> seen(kThreads);  // (key, id)
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kEach; ++i) {
        std::string key = i % 3 == 0 ? "shared-" + std::to_string(i) : "";
        auto job = store_->Submit(SmallSpec("batch"), key);
        ASSERT_TRUE(job.ok()) << job.status().ToString();
        seen[t].emplace_back(key, job->id());
      }
    });
  }
  for (auto& thread : threads) thread.join();
  std::map<std::string, std::set<std::string>> ids_by_key;
  std::set<std::string> unkeyed;
  for (const auto& list : seen) {
    for (const auto& [key, id] : list) {
      if (key.empty()) {
        EXPECT_TRUE(unkeyed.insert(id).second) << "id handed out twice: " << id;
      } else {
        ids_by_key[key].insert(id);
      }
    }
  }
  const int keyed_per_thread = (kEach + 2) / 3;
  EXPECT_EQ(ids_by_key.size(), static_cast<size_t>(keyed_per_thread));
  for (const auto& [key, ids] : ids_by_key) EXPECT_EQ(ids.size(), 1u) << key;
  EXPECT_EQ(*store_->CountJobs(), static_cast<int64_t>(unkeyed.size() + ids_by_key.size()));
  EXPECT_EQ(unkeyed.size(), static_cast<size_t>(kThreads * (kEach - keyed_per_thread)));
}

TEST_F(JobStoreTest, UnknownIdsAreNotFound) {
  EXPECT_EQ(store_->Get("j-nope").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(store_->Cancel("j-nope").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(store_->Heartbeat("j-nope", {"l-x", ""}, nullptr).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(store_->Complete("j-nope", {"l-x", ""}, v1::JobResult()).code(), StatusCode::kNotFound);
  EXPECT_EQ(store_->GetResult("j-nope").status().code(), StatusCode::kNotFound);
}

}  // namespace
}  // namespace qatlab::server
