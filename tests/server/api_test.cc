// The services end to end over real gRPC on loopback: a job's life as a
// client and a worker see it, long polls, concurrency, uploads, auth, health.
#include <grpcpp/generic/generic_stub.h>

#include <condition_variable>

#include <atomic>
#include <mutex>
#include <set>
#include <thread>

#include "server/rpc/auth.h"
#include "server/store/database.h"
#include "server/store/lease.h"
#include "server_fixture.h"
#include "tests/support/wait_until.h"

namespace qatlab::server {
namespace {

using std::chrono::milliseconds;
using test_support::WaitUntil;
using testing::ServerFixture;
using testing::SmallSpec;

class ApiTest : public ServerFixture {
 protected:
  void SetUp() override {
    ServerFixture::SetUp();
    StartServer();
  }
};

TEST_F(ApiTest, AJobsLifeAsClientAndWorkerSeeIt) {
  v1::Job job = Submit(SmallSpec("life"));
  ASSERT_EQ(job.state(), v1::QUEUED);
  ASSERT_TRUE(job.id().rfind("j-", 0) == 0) << job.id();

  // A watcher connected before the work starts sees it all. Its first event
  // (the current state) tells that it is subscribed.
  std::mutex events_mutex;
  std::vector<v1::JobEvent> events;  // guarded by events_mutex
  grpc::Status watch_status;
  std::thread watcher([&] {
    v1::WatchJobRequest request;
    request.set_id(job.id());
    auto context = Context(20000);
    auto reader = experiments_->WatchJob(context.get(), request);
    v1::JobEvent event;
    while (reader->Read(&event)) {
      std::lock_guard lock(events_mutex);
      events.push_back(event);
    }
    watch_status = reader->Finish();
  });
  EXPECT_TRUE(WaitUntil(
      [&] {
        std::lock_guard lock(events_mutex);
        return !events.empty();
      },
      milliseconds(10000), "the watcher to see the job's current state"));

  v1::LeaseJobResponse lease = Lease("w-life");
  ASSERT_EQ(lease.job().id(), job.id());
  EXPECT_EQ(lease.job().state(), v1::RUNNING);
  EXPECT_GT(lease.heartbeat_interval_ms(), 0);
  for (int epoch = 1; epoch <= 2; ++epoch) {
    v1::HeartbeatRequest beat;
    beat.set_job_id(job.id());
    beat.set_lease_id(lease.lease_id());
    beat.mutable_progress()->set_variant("float");
    beat.mutable_progress()->set_epoch(epoch);
    beat.mutable_progress()->set_epochs(2);
    v1::HeartbeatResponse reply;
    ASSERT_TRUE(workers_->Heartbeat(Context().get(), beat, &reply).ok());
    EXPECT_FALSE(reply.cancelled());
    EXPECT_FALSE(reply.lease_lost());
  }

  // The model goes up as an artifact, in chunks, with its digest.
  std::string model(150'000, 'q');
  for (size_t i = 0; i < model.size(); ++i) model[i] = static_cast<char>(i * 31 + 7);
  {
    v1::UploadArtifactResponse uploaded;
    grpc::Status status = UploadModel(job.id(), lease.lease_id(), "qat_w8a8.qmodel", model, 50'000, &uploaded);
    ASSERT_TRUE(status.ok()) << status.error_message();
    EXPECT_EQ(uploaded.artifact().sha256(), Sha256Hex(model));
  }

  v1::JobResult result = ResultFor(job.id());
  result.mutable_variants(0)->set_artifact("qat_w8a8.qmodel");
  result.mutable_variants(0)->set_artifact_sha256(Sha256Hex(model));
  grpc::Status completed = Complete(job.id(), lease.lease_id(), result);
  ASSERT_TRUE(completed.ok()) << completed.error_message();
  watcher.join();

  ASSERT_TRUE(watch_status.ok()) << watch_status.error_message();
  ASSERT_GE(events.size(), 5u);  // current, leased, 2 x progress, succeeded
  EXPECT_EQ(events.front().job().state(), v1::QUEUED);
  EXPECT_EQ(events[1].job().state(), v1::RUNNING);
  EXPECT_EQ(events[2].progress().epoch(), 1);
  EXPECT_EQ(events[3].progress().epoch(), 2);
  EXPECT_EQ(events.back().job().state(), v1::SUCCEEDED);
  EXPECT_EQ(events.back().result().variants(0).config(), job.id());

  v1::GetResultsRequest get;
  get.set_id(job.id());
  v1::GetResultsResponse results;
  ASSERT_TRUE(experiments_->GetResults(Context().get(), get, &results).ok());
  EXPECT_EQ(results.job().state(), v1::SUCCEEDED);
  EXPECT_EQ(results.result().SerializeAsString(), result.SerializeAsString());

  // Download: 64 KiB chunks, metadata on the first.
  v1::DownloadArtifactRequest download;
  download.set_job_id(job.id());
  download.set_name("qat_w8a8.qmodel");
  auto context = Context();
  auto reader = experiments_->DownloadArtifact(context.get(), download);
  v1::ArtifactChunk chunk;
  std::string back;
  std::vector<size_t> sizes;
  while (reader->Read(&chunk)) {
    if (sizes.empty()) {
      EXPECT_EQ(chunk.sha256(), Sha256Hex(model));
      EXPECT_EQ(chunk.size(), static_cast<int64_t>(model.size()));
    }
    sizes.push_back(chunk.data().size());
    back += chunk.data();
  }
  ASSERT_TRUE(reader->Finish().ok());
  EXPECT_EQ(back, model);
  EXPECT_EQ(sizes.front(), 65536u);
}

TEST_F(ApiTest, WatchingAFinishedJobEndsAtOnceWithTheResult) {
  v1::Job job = Submit(SmallSpec());
  v1::LeaseJobResponse lease = Lease();
  ASSERT_TRUE(Complete(job.id(), lease.lease_id(), ResultFor(job.id())).ok());
  v1::WatchJobRequest request;
  request.set_id(job.id());
  auto context = Context();
  auto reader = experiments_->WatchJob(context.get(), request);
  std::vector<v1::JobEvent> events;
  v1::JobEvent event;
  while (reader->Read(&event)) events.push_back(event);
  ASSERT_TRUE(reader->Finish().ok());
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].job().state(), v1::SUCCEEDED);
  EXPECT_EQ(events[0].result().variants(0).config(), job.id());
}

TEST_F(ApiTest, LongPollIsWokenBySubmission) {
  std::atomic<int64_t> leased_at_ms{0};
  v1::LeaseJobResponse lease;
  auto since = [start = std::chrono::steady_clock::now()] {
    return std::chrono::duration_cast<milliseconds>(std::chrono::steady_clock::now() - start).count();
  };
  std::thread worker([&] {
    lease = Lease("poller", 8000);
    leased_at_ms = since();
  });
  // The server shows no sign of a parked long poll, so this pause only makes
  // it likely that the submission lands during the wait; when it lands first
  // the lease is immediate and the test still holds. That the submission
  // wakes a waiting poll is proved without timing in
  // JobStoreTest.ASubmissionWakesAWaitingLongPoll.
  std::this_thread::sleep_for(milliseconds(300));
  int64_t submitted_at = since();
  v1::Job job = Submit(SmallSpec());
  worker.join();
  EXPECT_EQ(lease.job().id(), job.id());
  // Half the 8 s wait: generous for a loaded machine, still proves the wake-up.
  EXPECT_LT(leased_at_ms - submitted_at, 4000) << "the long poll was not woken by the submission";
}

TEST_F(ApiTest, LongPollWithoutWorkAnswersEmptyAfterTheWait) {
  auto start = std::chrono::steady_clock::now();
  v1::LeaseJobResponse lease = Lease("idle", 300);
  auto waited = std::chrono::steady_clock::now() - start;
  EXPECT_FALSE(lease.has_job());
  EXPECT_TRUE(lease.lease_id().empty());
  EXPECT_GE(waited, milliseconds(290));
  EXPECT_LT(waited, milliseconds(3000));
}

TEST_F(ApiTest, ThousandSubmissionsFromEightClientsAllLandOnce) {
  constexpr int kClients = 8;
  constexpr int kPerClient = 125;
  std::vector<std::vector<std::string>> ids(kClients);
  std::vector<std::string> errors;
  std::mutex errors_mutex;
  auto start = std::chrono::steady_clock::now();
  std::vector<std::thread> clients;
  for (int c = 0; c < kClients; ++c) {
    clients.emplace_back([&, c] {
      auto stub = v1::ExperimentService::NewStub(NewChannel());
      for (int i = 0; i < kPerClient; ++i) {
        v1::SubmitJobRequest request;
        *request.mutable_spec() = SmallSpec("load-" + std::to_string(c));
        v1::SubmitJobResponse response;
        grpc::Status status = stub->SubmitJob(Context(30000).get(), request, &response);
        if (!status.ok()) {
          std::lock_guard lock(errors_mutex);
          errors.push_back(status.error_message());
          continue;
        }
        ids[c].push_back(response.job().id());
      }
    });
  }
  for (auto& t : clients) t.join();
  auto took = std::chrono::steady_clock::now() - start;
  EXPECT_TRUE(errors.empty()) << errors.size() << " errors, first: " << errors.front();
  std::set<std::string> unique;
  for (const auto& list : ids) unique.insert(list.begin(), list.end());
  EXPECT_EQ(unique.size(), static_cast<size_t>(kClients * kPerClient));
  EXPECT_EQ(*server_->store().CountJobs(), kClients * kPerClient);
  EXPECT_LT(took, std::chrono::seconds(60));
  std::cout << "1000 submissions from 8 clients took " << std::chrono::duration_cast<milliseconds>(took).count()
            << " ms\n";
}

TEST_F(ApiTest, UploadedDatasetCanBeReferencedAndFetched) {
  std::string data(100'000, '\0');
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<char>(i % 251);
  v1::Dataset stored;
  grpc::Status uploaded = UploadDataset("digits-train", data, "", 7000, &stored);
  ASSERT_TRUE(uploaded.ok()) << uploaded.error_message();
  EXPECT_EQ(stored.size(), 100'000);
  // Same name, same content: accepted again (idempotent).
  ASSERT_TRUE(UploadDataset("digits-train", data).ok());

  v1::JobSpec spec = SmallSpec();
  spec.mutable_data()->set_source("idx");
  spec.mutable_data()->set_train_images("dataset:digits-train");
  spec.mutable_data()->set_train_labels("dataset:digits-train");
  spec.mutable_data()->set_test_images("dataset:digits-train");
  spec.mutable_data()->set_test_labels("dataset:digits-train");
  EXPECT_EQ(Submit(spec).state(), v1::QUEUED);

  v1::FetchDatasetRequest fetch;
  fetch.set_name("digits-train");
  auto context = Context();
  auto reader = workers_->FetchDataset(context.get(), fetch);
  std::string back;
  v1::ArtifactChunk chunk;
  while (reader->Read(&chunk)) back += chunk.data();
  ASSERT_TRUE(reader->Finish().ok());
  EXPECT_EQ(back, data);

  v1::ListDatasetsResponse list;
  ASSERT_TRUE(experiments_->ListDatasets(Context().get(), v1::ListDatasetsRequest(), &list).ok());
  ASSERT_EQ(list.datasets_size(), 1);
  EXPECT_EQ(list.datasets(0).sha256(), Sha256Hex(data));
}

TEST_F(ApiTest, CancelRunningReachesTheWorkerOnItsNextHeartbeat) {
  v1::Job job = Submit(SmallSpec());
  v1::LeaseJobResponse lease = Lease();
  v1::CancelJobRequest cancel;
  cancel.set_id(job.id());
  v1::Job flagged;
  ASSERT_TRUE(experiments_->CancelJob(Context().get(), cancel, &flagged).ok());
  EXPECT_TRUE(flagged.cancel_requested());
  v1::HeartbeatRequest beat;
  beat.set_job_id(job.id());
  beat.set_lease_id(lease.lease_id());
  v1::HeartbeatResponse reply;
  ASSERT_TRUE(workers_->Heartbeat(Context().get(), beat, &reply).ok());
  EXPECT_TRUE(reply.cancelled());
  v1::GetJobRequest get;
  get.set_id(job.id());
  v1::Job now;
  ASSERT_TRUE(experiments_->GetJob(Context().get(), get, &now).ok());
  EXPECT_EQ(now.state(), v1::CANCELLED);
}

// The server, not the worker, decides how often a worker beats, and it
// decides for the cancel promise: a cancel is heard within a second, and the
// lease survives a lost beat (an interval under a third of the lease).
TEST_F(ApiTest, LeaseAsksForHeartbeatsThatKeepTheCancelPromise) {
  Submit(SmallSpec());
  v1::LeaseJobResponse lease = Lease();
  ASSERT_FALSE(lease.lease_id().empty());
  EXPECT_GT(lease.heartbeat_interval_ms(), 0);
  EXPECT_LE(lease.heartbeat_interval_ms(), kCancelLatencyMs);
  EXPECT_LT(lease.heartbeat_interval_ms(), options_.lease_ms / 3);
}

// A server started with options of the test's choosing.
class ConfiguredServerTest : public ServerFixture {};

TEST_F(ConfiguredServerTest, WithTheDefaultLeaseTheHeartbeatIsStillASecond) {
  options_.lease_ms = ServerOptions().lease_ms;  // 30 s
  StartServer();
  Submit(SmallSpec());
  v1::LeaseJobResponse lease = Lease();
  ASSERT_FALSE(lease.lease_id().empty());
  EXPECT_EQ(lease.heartbeat_interval_ms(), kCancelLatencyMs);
}

// A job whose spec says measure_on is SUCCEEDED only together with its
// measurements: when they cannot be stored, CompleteJob fails and changes
// nothing, and the worker can complete again under the same lease.
TEST_F(ApiTest, MeasureOnMeasurementsCommitWithTheJobsCompletion) {
  v1::JobSpec spec = SmallSpec("measure-on");
  spec.add_measure_on("mps2-an386");
  v1::Job job = Submit(spec);
  v1::LeaseJobResponse lease = Lease();
  ASSERT_EQ(lease.job().id(), job.id());
  const std::string model(1000, 'm');
  {
    grpc::Status status = UploadModel(job.id(), lease.lease_id(), "qat_w8a8.qmodel", model, model.size());
    ASSERT_TRUE(status.ok()) << status.error_message();
  }
  v1::JobResult result = ResultFor(job.id());
  v1::VariantResult* quantized = result.add_variants();
  quantized->set_name("qat_w8a8");
  quantized->set_kind("qat");
  quantized->set_artifact("qat_w8a8.qmodel");
  quantized->set_artifact_sha256(Sha256Hex(model));
  auto results = [&] {
    v1::GetResultsRequest get;
    get.set_id(job.id());
    v1::GetResultsResponse response;
    grpc::Status status = experiments_->GetResults(Context().get(), get, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return response;
  };

  // A second connection makes every measurement insert fail, as a full disk would.
  auto db = Database::Open(dir_.File("qatlab.db"));
  ASSERT_TRUE(db.ok()) << db.status().ToString();
  ASSERT_TRUE((*db)
                  ->Exec("CREATE TRIGGER break_measurements BEFORE INSERT ON measurements "
                         "BEGIN SELECT RAISE(ABORT, 'injected'); END")
                  .ok());
  grpc::Status refused = Complete(job.id(), lease.lease_id(), result);
  EXPECT_FALSE(refused.ok()) << "the job completed although its measurements were not stored";
  v1::GetResultsResponse after_failure = results();
  EXPECT_EQ(after_failure.job().state(), v1::RUNNING);
  EXPECT_FALSE(after_failure.has_result());
  EXPECT_EQ(after_failure.measurements_size(), 0);

  ASSERT_TRUE((*db)->Exec("DROP TRIGGER break_measurements").ok());
  grpc::Status completed = Complete(job.id(), lease.lease_id(), result);
  ASSERT_TRUE(completed.ok()) << completed.error_message();
  v1::GetResultsResponse done = results();
  EXPECT_EQ(done.job().state(), v1::SUCCEEDED);
  ASSERT_EQ(done.measurements_size(), 1);
  EXPECT_EQ(done.measurements(0).variant(), "qat_w8a8");
  EXPECT_EQ(done.measurements(0).board_kind(), "mps2-an386");
  EXPECT_EQ(done.measurements(0).state(), "QUEUED");
}

TEST_F(ApiTest, HealthServiceAnswersServingForTheServerAndEachService) {
  // HealthCheckResponse{status: SERVING(1)} encodes as field 1 varint 1.
  const std::string serving("\x08\x01", 2);
  for (const std::string service : {"", "qatlab.v1.ExperimentService", "qatlab.v1.WorkerService"}) {
    const auto [status, bytes] = testing::CheckHealth(channel_, service);
    ASSERT_TRUE(status.ok()) << "'" << service << "': " << status.error_message();
    EXPECT_EQ(bytes, serving) << "'" << service << "'";
  }
  EXPECT_EQ(testing::CheckHealth(channel_, "qatlab.v1.NoSuchService").first.error_code(), grpc::StatusCode::NOT_FOUND);
}

TEST(LoopbackTest, RecognisesLoopbackAddresses) {
  EXPECT_TRUE(IsLoopbackListenAddress("127.0.0.1:50051"));
  EXPECT_TRUE(IsLoopbackListenAddress("localhost:1"));
  EXPECT_TRUE(IsLoopbackListenAddress("[::1]:50051"));
  EXPECT_FALSE(IsLoopbackListenAddress("0.0.0.0:50051"));
  EXPECT_FALSE(IsLoopbackListenAddress("[::]:50051"));
  EXPECT_FALSE(IsLoopbackListenAddress("192.168.1.4:50051"));
}

}  // namespace
}  // namespace qatlab::server
