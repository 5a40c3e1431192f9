// The lease holders' client (lease_client.h), its heartbeat keeper
// (lease_keeper.h) and the checked download (checked_download.h), against a
// stand-in WorkerService served on 127.0.0.1 with real gRPC.
#include "server_client/lease_client.h"

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <stdlib.h>

#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <future>
#include <mutex>
#include <vector>

#include "digest/sha256.h"
#include "server_client/lease_keeper.h"

namespace qatlab {
namespace {

using std::chrono::milliseconds;

// What the stand-in server does; tests set the fields, under mutex.
class StandInWorkerService final : public v1::WorkerService::Service {
 public:
  std::mutex mutex;
  std::condition_variable changed;
  // Heartbeat: the answers in order (the last one repeats); a non-OK status
  // is returned as the call's failure.
  std::vector<std::pair<grpc::Status, v1::HeartbeatResponse>> heartbeat_answers = {{grpc::Status::OK, {}}};
  int heartbeats = 0;
  std::vector<int> progress_epochs;  // the epochs heartbeats carried
  // Downloads: the blob, and what the first chunk announces about it.
  std::string blob;
  std::string announced_sha256;
  int64_t announced_size = 0;
  grpc::Status download_status = grpc::Status::OK;

  grpc::Status Heartbeat(grpc::ServerContext*, const v1::HeartbeatRequest* request,
                         v1::HeartbeatResponse* response) override {
    std::lock_guard lock(mutex);
    const size_t index = std::min<size_t>(static_cast<size_t>(heartbeats), heartbeat_answers.size() - 1);
    ++heartbeats;
    if (request->has_progress()) progress_epochs.push_back(request->progress().epoch());
    changed.notify_all();
    *response = heartbeat_answers[index].second;
    return heartbeat_answers[index].first;
  }

  grpc::Status LeaseJob(grpc::ServerContext* context, const v1::LeaseJobRequest*, v1::LeaseJobResponse*) override {
    // A long poll that nobody answers: it ends when the client cancels (the
    // server learns of that without a notification, hence the short waits).
    std::unique_lock lock(mutex);
    const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (!context->IsCancelled() && std::chrono::steady_clock::now() < give_up) {
      changed.wait_for(lock, milliseconds(10));
    }
    return grpc::Status(grpc::StatusCode::CANCELLED, "client went away");
  }

  grpc::Status DownloadArtifact(grpc::ServerContext*, const v1::DownloadArtifactRequest*,
                                grpc::ServerWriter<v1::ArtifactChunk>* writer) override {
    return Send(writer);
  }
  grpc::Status FetchDataset(grpc::ServerContext*, const v1::FetchDatasetRequest*,
                            grpc::ServerWriter<v1::ArtifactChunk>* writer) override {
    return Send(writer);
  }

 private:
  grpc::Status Send(grpc::ServerWriter<v1::ArtifactChunk>* writer) {
    std::lock_guard lock(mutex);
    if (!download_status.ok()) return download_status;
    // Three chunks, the announcement in the first.
    const size_t piece = blob.size() / 3 + 1;
    for (size_t offset = 0, n = 0; offset < blob.size() || n == 0; offset += piece, ++n) {
      v1::ArtifactChunk chunk;
      if (n == 0) {
        chunk.set_sha256(announced_sha256);
        chunk.set_size(announced_size);
      }
      chunk.set_data(blob.substr(offset, piece));
      if (!writer->Write(chunk)) break;
    }
    return grpc::Status::OK;
  }
};

class LeaseClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    grpc::ServerBuilder builder;
    int port = 0;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
    builder.RegisterService(&service_);
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    ASSERT_GT(port, 0);
    client_ = std::make_unique<LeaseClient>(LeaseClientOptions{"127.0.0.1:" + std::to_string(port), "", true, {}});
  }
  void TearDown() override {
    client_.reset();
    server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
  }

  void ServeBlob(const std::string& blob) {
    std::lock_guard lock(service_.mutex);
    service_.blob = blob;
    service_.announced_sha256 = Sha256Hex(blob);
    service_.announced_size = static_cast<int64_t>(blob.size());
  }
  // Waits (bounded) until the stand-in has answered `count` heartbeats.
  bool AwaitHeartbeats(int count) {
    std::unique_lock lock(service_.mutex);
    return service_.changed.wait_for(lock, std::chrono::seconds(10), [&] { return service_.heartbeats >= count; });
  }
  LeaseKeeper::Beat JobBeat() {
    return [this](const v1::EpochStats* progress) { return client_->HeartbeatJob("j-1", "l-1", progress); };
  }

  StandInWorkerService service_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<LeaseClient> client_;
};

TEST_F(LeaseClientTest, DownloadReturnsTheBytesWhenSizeAndSha256Match) {
  const std::string blob(100000, 'q');
  ServeBlob(blob);
  StatusOr<std::string> bytes = client_->DownloadArtifact("j-1", "w8a8.qmodel");
  ASSERT_TRUE(bytes.ok()) << bytes.status().ToString();
  EXPECT_EQ(*bytes, blob);
}

TEST_F(LeaseClientTest, DownloadWithTheWrongSha256OrSizeIsCorruption) {
  ServeBlob("the model");
  {
    std::lock_guard lock(service_.mutex);
    service_.announced_sha256 = Sha256Hex("another model");
  }
  StatusOr<std::string> bytes = client_->DownloadArtifact("j-1", "w8a8.qmodel");
  EXPECT_EQ(bytes.status().code(), StatusCode::kCorruption);
  EXPECT_NE(bytes.status().message().find("sha256"), std::string::npos) << bytes.status().message();

  ServeBlob("the model");
  {
    std::lock_guard lock(service_.mutex);
    service_.announced_size = 4;
  }
  bytes = client_->DownloadArtifact("j-1", "w8a8.qmodel");
  EXPECT_EQ(bytes.status().code(), StatusCode::kCorruption);
  EXPECT_NE(bytes.status().message().find("announced 4"), std::string::npos) << bytes.status().message();
}

TEST_F(LeaseClientTest, DownloadOfAMissingArtifactIsNotFound) {
  {
    std::lock_guard lock(service_.mutex);
    service_.download_status = grpc::Status(grpc::StatusCode::NOT_FOUND, "no artifact w8a8.qmodel");
  }
  EXPECT_EQ(client_->DownloadArtifact("j-1", "w8a8.qmodel").status().code(), StatusCode::kNotFound);
}

TEST_F(LeaseClientTest, FetchedDatasetIsCachedUnderItsSha256AndNotFetchedTwice) {
  char directory_template[] = "/tmp/qatlab-lease-client-test-XXXXXX";
  ASSERT_NE(::mkdtemp(directory_template), nullptr);
  const std::filesystem::path directory(directory_template);
  const std::string blob(300000, 'd');
  ServeBlob(blob);

  StatusOr<std::string> path = client_->FetchDataset("digits", directory.string());
  ASSERT_TRUE(path.ok()) << path.status().ToString();
  EXPECT_EQ(std::filesystem::path(*path), directory / Sha256Hex(blob));
  std::ifstream in(*path, std::ios::binary);
  EXPECT_EQ(std::string(std::istreambuf_iterator<char>(in), {}), blob);

  // Mark the cached copy: a second fetch that took the bytes again would
  // replace it.
  std::ofstream(*path, std::ios::binary | std::ios::trunc) << "cached";
  StatusOr<std::string> again = client_->FetchDataset("digits", directory.string());
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ(*again, *path);
  std::ifstream cached(*again, std::ios::binary);
  EXPECT_EQ(std::string(std::istreambuf_iterator<char>(cached), {}), "cached") << "fetched again despite the cache";
  // A corrupt transfer leaves nothing behind in the cache.
  ServeBlob("other data");
  {
    std::lock_guard lock(service_.mutex);
    service_.announced_sha256 = Sha256Hex("different data");
  }
  EXPECT_EQ(client_->FetchDataset("other", directory.string()).status().code(), StatusCode::kCorruption);
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(directory), {}), 1);
  std::filesystem::remove_all(directory);
}

TEST_F(LeaseClientTest, CancelLeasesEndsTheLongPollInFlightAndLaterOnes) {
  auto lease = std::async(std::launch::async, [&] { return client_->LeaseJob("w-1", 20000); });
  // The poll is in flight once the stand-in holds it; cancelling before
  // that is covered too, since later polls must fail at once.
  client_->CancelLeases();
  ASSERT_EQ(lease.wait_for(std::chrono::seconds(10)), std::future_status::ready);
  EXPECT_EQ(lease.get().status().code(), StatusCode::kCancelled);
  EXPECT_EQ(client_->LeaseJob("w-1", 20000).status().code(), StatusCode::kCancelled);
}

TEST_F(LeaseClientTest, KeeperBeatsAtTheIntervalAndDeliversProgressInOrder) {
  LeaseKeeper keeper("job j-1", milliseconds(20), JobBeat());
  ASSERT_TRUE(AwaitHeartbeats(3));
  for (int epoch = 1; epoch <= 3; ++epoch) {
    v1::EpochStats stats;
    stats.set_epoch(epoch);
    keeper.QueueProgress(stats);
  }
  EXPECT_TRUE(keeper.WaitForProgressDelivered(std::chrono::seconds(10)));
  EXPECT_TRUE(keeper.held());
  keeper.Stop();
  std::lock_guard lock(service_.mutex);
  EXPECT_EQ(service_.progress_epochs, (std::vector<int>{1, 2, 3}));
}

TEST_F(LeaseClientTest, KeeperReportsCancelAndLossAndIsNotFooledByAnAbsentServer) {
  {
    std::lock_guard lock(service_.mutex);
    v1::HeartbeatResponse cancelled;
    cancelled.set_cancelled(true);
    service_.heartbeat_answers = {{grpc::Status(grpc::StatusCode::UNAVAILABLE, "restarting"), {}},
                                  {grpc::Status::OK, {}},
                                  {grpc::Status::OK, cancelled}};
  }
  {
    LeaseKeeper keeper("job j-1", milliseconds(20), JobBeat());
    ASSERT_TRUE(AwaitHeartbeats(1));
    ASSERT_TRUE(AwaitHeartbeats(3));
    keeper.Stop();
    EXPECT_EQ(keeper.state(), LeaseKeeper::State::kCancelled);
  }
  {
    std::lock_guard lock(service_.mutex);
    service_.heartbeats = 0;
    service_.heartbeat_answers = {{grpc::Status(grpc::StatusCode::UNAVAILABLE, "away"), {}}};
  }
  {
    LeaseKeeper keeper("job j-1", milliseconds(20), JobBeat());
    ASSERT_TRUE(AwaitHeartbeats(3));
    EXPECT_TRUE(keeper.held()) << "a server that is away has not taken the lease back";
  }
  {
    std::lock_guard lock(service_.mutex);
    service_.heartbeats = 0;
    service_.heartbeat_answers = {{grpc::Status(grpc::StatusCode::FAILED_PRECONDITION, "stale lease"), {}}};
  }
  {
    LeaseKeeper keeper("job j-1", milliseconds(20), JobBeat());
    ASSERT_TRUE(AwaitHeartbeats(1));
    keeper.Stop();
    EXPECT_EQ(keeper.state(), LeaseKeeper::State::kLost);
  }
}

TEST(HeartbeatIntervalTest, ServerIntervalFirstThenAThirdOfTheLeaseThenASecond) {
  EXPECT_EQ(HeartbeatInterval(250, 0).count(), 250);
  EXPECT_EQ(HeartbeatInterval(1, 0).count(), 10);
  const int64_t now_ms =
      std::chrono::duration_cast<milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
  const int64_t third = HeartbeatInterval(0, now_ms + 3000).count();
  EXPECT_GE(third, 900);
  EXPECT_LE(third, 1000);
  EXPECT_EQ(HeartbeatInterval(0, now_ms + 100).count(), 200);
  EXPECT_EQ(HeartbeatInterval(0, 0).count(), 1000);
}

TEST(RetryWhileUnavailableTest, RepeatsOnlyWhileUnavailableAndWithinItsTime) {
  int calls = 0;
  Status status = RetryWhileUnavailable([&] { return ++calls < 3 ? Status::Unavailable("away") : Status::Ok(); },
                                        Backoff({milliseconds(1), milliseconds(2), 0.0}), std::chrono::seconds(10));
  EXPECT_TRUE(status.ok());
  EXPECT_EQ(calls, 3);

  calls = 0;
  status = RetryWhileUnavailable([&] { return ++calls, Status::FailedPrecondition("stale lease"); },
                                 Backoff({milliseconds(1), milliseconds(2), 0.0}), std::chrono::seconds(10));
  EXPECT_EQ(status.code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(calls, 1);

  calls = 0;
  status = RetryWhileUnavailable([&] { return ++calls, Status::Unavailable("away"); },
                                 Backoff({milliseconds(1), milliseconds(2), 0.0}), std::chrono::seconds(10),
                                 [](milliseconds) { return false; });
  EXPECT_EQ(status.code(), StatusCode::kUnavailable);
  EXPECT_EQ(calls, 1) << "a caller that is stopping gets no further attempt";
}

}  // namespace
}  // namespace qatlab
