// A table of bad requests, each with the gRPC status code and message
// substring it must get. Afterwards the database is intact and everything
// stored before is still there.
#include <filesystem>
#include <functional>

#include "server/rpc/auth.h"
#include "server_fixture.h"

namespace qatlab::server {
namespace {

using testing::ServerFixture;
using testing::SmallSpec;

struct BadInput {
  std::string what;
  std::function<grpc::Status()> call;
  grpc::StatusCode expected_code;
  std::string expected_substring;
};

class BadInputTest : public ServerFixture {
 protected:
  void SetUp() override {
    ServerFixture::SetUp();
    StartServer();
  }

  grpc::Status SubmitSpec(const v1::JobSpec& spec) {
    v1::SubmitJobRequest request;
    *request.mutable_spec() = spec;
    v1::SubmitJobResponse response;
    return experiments_->SubmitJob(Context().get(), request, &response);
  }

  template <typename Mutate>
  grpc::Status SubmitMutated(Mutate mutate) {
    v1::JobSpec spec = SmallSpec();
    mutate(spec);
    return SubmitSpec(spec);
  }

  grpc::Status UploadRaw(const std::vector<v1::UploadDatasetRequest>& messages) {
    v1::Dataset dataset;
    auto context = Context();
    auto stream = experiments_->UploadDataset(context.get(), &dataset);
    for (const auto& m : messages) {
      if (!stream->Write(m)) break;
    }
    stream->WritesDone();
    return stream->Finish();
  }

  static v1::UploadDatasetRequest Header(const std::string& name, const std::string& format, const std::string& sha,
                                         int64_t size = 0) {
    v1::UploadDatasetRequest request;
    request.mutable_header()->set_name(name);
    request.mutable_header()->set_format(format);
    request.mutable_header()->set_sha256(sha);
    request.mutable_header()->set_size(size);
    return request;
  }
};

TEST_F(BadInputTest, EachBadRequestGetsItsCodeAndAMessageNamingTheProblem) {
  // Stored before the onslaught; must survive it.
  std::vector<std::string> earlier_ids;
  for (int i = 0; i < 3; ++i) earlier_ids.push_back(Submit(SmallSpec("earlier")).id());
  const std::string data = "IDX data that is fine";
  ASSERT_TRUE(UploadDataset("good-data", data).ok());
  v1::LeaseJobResponse lease = Lease("w1");  // leases earlier_ids[0]
  ASSERT_EQ(lease.job().id(), earlier_ids[0]);
  const std::string stale_lease = "l-not-the-current-lease";
  const std::string big(options_.limits.max_upload_bytes + 1, 'x');

  using Code = grpc::StatusCode;
  std::vector<BadInput> table = {
      {"submit without spec",
       [&] {
         v1::SubmitJobResponse response;
         return experiments_->SubmitJob(Context().get(), v1::SubmitJobRequest(), &response);
       },
       Code::INVALID_ARGUMENT, "spec"},
      {"unknown preset", [&] { return SubmitMutated([](auto& s) { s.mutable_model()->set_preset("resnet152"); }); },
       Code::INVALID_ARGUMENT, "model.preset"},
      {"weight bits 9", [&] { return SubmitMutated([](auto& s) { s.add_configs()->set_weight_bits(9); }); },
       Code::INVALID_ARGUMENT, "outside 2..8"},
      {"activation bits 1",
       [&] {
         return SubmitMutated([](auto& s) {
           auto* c = s.add_configs();
           c->set_weight_bits(8);
           c->set_activation_bits(1);
         });
       },
       Code::INVALID_ARGUMENT, "outside 2..8"},
      {"negative epochs", [&] { return SubmitMutated([](auto& s) { s.mutable_training()->set_epochs(-3); }); },
       Code::INVALID_ARGUMENT, "training.epochs"},
      {"unknown optimizer",
       [&] { return SubmitMutated([](auto& s) { s.mutable_training()->set_optimizer("adamw9000"); }); },
       Code::INVALID_ARGUMENT, "training.optimizer"},
      {"unknown data source", [&] { return SubmitMutated([](auto& s) { s.mutable_data()->set_source("tfrecord"); }); },
       Code::INVALID_ARGUMENT, "data.source"},
      {"unknown layer type",
       [&] {
         return SubmitMutated([](auto& s) {
           s.mutable_model()->clear_preset();
           s.mutable_model()->add_layers()->set_type("transformer");
         });
       },
       Code::INVALID_ARGUMENT, "transformer"},
      {"max_attempts out of range", [&] { return SubmitMutated([](auto& s) { s.set_max_attempts(1000); }); },
       Code::INVALID_ARGUMENT, "max_attempts"},
      {"reference to a data set never uploaded",
       [&] {
         return SubmitMutated([](auto& s) {
           s.mutable_data()->set_source("idx");
           s.mutable_data()->set_train_images("dataset:missing");
           s.mutable_data()->set_train_labels("dataset:good-data");
           s.mutable_data()->set_test_images("dataset:good-data");
           s.mutable_data()->set_test_labels("dataset:good-data");
         });
       },
       Code::INVALID_ARGUMENT, "data.train_images"},
      {"get unknown job",
       [&] {
         v1::GetJobRequest r;
         r.set_id("j-doesnotexist");
         v1::Job job;
         return experiments_->GetJob(Context().get(), r, &job);
       },
       Code::NOT_FOUND, "j-doesnotexist not found"},
      {"get with empty id",
       [&] {
         v1::Job job;
         return experiments_->GetJob(Context().get(), v1::GetJobRequest(), &job);
       },
       Code::INVALID_ARGUMENT, "id"},
      {"cancel unknown job",
       [&] {
         v1::CancelJobRequest r;
         r.set_id("j-nope");
         v1::Job job;
         return experiments_->CancelJob(Context().get(), r, &job);
       },
       Code::NOT_FOUND, "not found"},
      {"results of unknown job",
       [&] {
         v1::GetResultsRequest r;
         r.set_id("j-nope");
         v1::GetResultsResponse response;
         return experiments_->GetResults(Context().get(), r, &response);
       },
       Code::NOT_FOUND, "not found"},
      {"bad page token",
       [&] {
         v1::ListJobsRequest r;
         r.set_page_token("garbage!");
         v1::ListJobsResponse response;
         return experiments_->ListJobs(Context().get(), r, &response);
       },
       Code::INVALID_ARGUMENT, "page_token"},
      {"negative page size",
       [&] {
         v1::ListJobsRequest r;
         r.set_page_size(-1);
         v1::ListJobsResponse response;
         return experiments_->ListJobs(Context().get(), r, &response);
       },
       Code::INVALID_ARGUMENT, "page_size"},
      {"lease without worker id",
       [&] {
         v1::LeaseJobResponse response;
         return workers_->LeaseJob(Context().get(), v1::LeaseJobRequest(), &response);
       },
       Code::INVALID_ARGUMENT, "worker_id"},
      {"heartbeat without lease id",
       [&] {
         v1::HeartbeatRequest r;
         r.set_job_id(lease.job().id());
         v1::HeartbeatResponse response;
         return workers_->Heartbeat(Context().get(), r, &response);
       },
       Code::INVALID_ARGUMENT, "lease_id"},
      {"heartbeat for unknown job",
       [&] {
         v1::HeartbeatRequest r;
         r.set_job_id("j-nope");
         r.set_lease_id("l-x");
         v1::HeartbeatResponse response;
         return workers_->Heartbeat(Context().get(), r, &response);
       },
       Code::NOT_FOUND, "not found"},
      {"complete with a stale lease",
       [&] { return Complete(lease.job().id(), stale_lease, ResultFor(lease.job().id())); }, Code::FAILED_PRECONDITION,
       "not the current lease"},
      {"complete without result",
       [&] {
         v1::CompleteJobRequest r;
         r.set_job_id(lease.job().id());
         r.set_lease_id(lease.lease_id());
         v1::CompleteJobResponse response;
         return workers_->CompleteJob(Context().get(), r, &response);
       },
       Code::INVALID_ARGUMENT, "result"},
      {"empty upload", [&] { return UploadRaw({Header("empty", "idx", Sha256Hex(""))}); }, Code::INVALID_ARGUMENT,
       "empty upload"},
      {"upload announced larger than the limit",
       [&] { return UploadRaw({Header("huge", "idx", Sha256Hex(big), static_cast<int64_t>(big.size()))}); },
       Code::RESOURCE_EXHAUSTED, "size limit"},
      {"upload streaming past the limit", [&] { return UploadDataset("huge2", big, "", 256 * 1024); },
       Code::RESOURCE_EXHAUSTED, "size limit"},
      {"upload whose bytes do not match the sha256",
       [&] { return UploadDataset("corrupt", "these bytes", Sha256Hex("other bytes")); }, Code::INVALID_ARGUMENT,
       "sha256 mismatch"},
      {"upload with a malformed sha256", [&] { return UploadDataset("badsha", "bytes", "xyz"); },
       Code::INVALID_ARGUMENT, "header.sha256"},
      {"upload with a path as name", [&] { return UploadDataset("../etc", "bytes"); }, Code::INVALID_ARGUMENT,
       "header.name"},
      {"upload with unknown format", [&] { return UploadRaw({Header("f", "parquet", Sha256Hex("x"))}); },
       Code::INVALID_ARGUMENT, "header.format"},
      {"upload starting with a chunk",
       [&] {
         v1::UploadDatasetRequest chunk;
         chunk.set_chunk("data before header");
         return UploadRaw({chunk});
       },
       Code::INVALID_ARGUMENT, "header"},
      {"same data set name, different content", [&] { return UploadDataset("good-data", "different bytes"); },
       Code::ALREADY_EXISTS, "already exists"},
      {"artifact upload on a stale lease",
       [&] { return UploadModel(lease.job().id(), stale_lease, "m.qmodel", "m", 1); }, Code::FAILED_PRECONDITION,
       "not the current lease"},
      {"download from unknown job",
       [&] {
         v1::DownloadArtifactRequest r;
         r.set_job_id("j-nope");
         r.set_name("x.qmodel");
         auto context = Context();
         auto reader = experiments_->DownloadArtifact(context.get(), r);
         v1::ArtifactChunk chunk;
         while (reader->Read(&chunk)) {
         }
         return reader->Finish();
       },
       Code::NOT_FOUND, "not found"},
      {"fetch unknown data set",
       [&] {
         v1::FetchDatasetRequest r;
         r.set_name("nope");
         auto context = Context();
         auto reader = workers_->FetchDataset(context.get(), r);
         v1::ArtifactChunk chunk;
         while (reader->Read(&chunk)) {
         }
         return reader->Finish();
       },
       Code::NOT_FOUND, "not found"},
      {"measure without a job",
       [&] {
         v1::MeasureResponse response;
         return experiments_->Measure(Context().get(), v1::MeasureRequest(), &response);
       },
       Code::INVALID_ARGUMENT, "job_id"},
  };
  ASSERT_GE(table.size(), 20u);

  for (const BadInput& bad : table) {
    grpc::Status status = bad.call();
    EXPECT_EQ(status.error_code(), bad.expected_code) << bad.what << ": " << status.error_message();
    EXPECT_NE(status.error_message().find(bad.expected_substring), std::string::npos)
        << bad.what << ": message '" << status.error_message() << "' lacks '" << bad.expected_substring << "'";
  }

  // Nothing the bad requests did harmed what was there.
  EXPECT_EQ(*server_->store().IntegrityCheck(), "ok");
  EXPECT_EQ(*server_->store().CountJobs(), 3);
  for (const std::string& id : earlier_ids) {
    v1::GetJobRequest get;
    get.set_id(id);
    v1::Job job;
    ASSERT_TRUE(experiments_->GetJob(Context().get(), get, &job).ok()) << id;
    EXPECT_EQ(job.experiment(), "earlier");
  }
  v1::ListDatasetsResponse datasets;
  ASSERT_TRUE(experiments_->ListDatasets(Context().get(), v1::ListDatasetsRequest(), &datasets).ok());
  ASSERT_EQ(datasets.datasets_size(), 1);
  EXPECT_EQ(datasets.datasets(0).sha256(), Sha256Hex(data));
  // The leased job is still the worker's to finish.
  EXPECT_TRUE(Complete(lease.job().id(), lease.lease_id(), ResultFor(lease.job().id())).ok());
  // No stray upload files were left in the store.
  size_t blobs = 0;
  for (const auto& entry :
       std::filesystem::recursive_directory_iterator(std::filesystem::path(dir_.path()) / "blobs")) {
    blobs += entry.is_regular_file();
  }
  EXPECT_EQ(blobs, 1u);
  EXPECT_TRUE(std::filesystem::is_empty(std::filesystem::path(dir_.path()) / "tmp"));
}

class TokenTest : public ServerFixture {
 protected:
  void SetUp() override {
    ServerFixture::SetUp();
    options_.tokens = {{Role::kClient, "s3cret-token"}};
    StartServer();
  }
  grpc::Status GetJobWith(const std::string& authorization) {
    auto context = Context();
    if (!authorization.empty()) context->AddMetadata("authorization", authorization);
    v1::GetJobRequest r;
    r.set_id("j-nope");
    v1::Job job;
    return experiments_->GetJob(context.get(), r, &job);
  }
};

TEST_F(TokenTest, CallsNeedTheRightBearerToken) {
  grpc::Status none = GetJobWith("");
  EXPECT_EQ(none.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_NE(none.error_message().find("missing authorization"), std::string::npos);
  grpc::Status wrong = GetJobWith("Bearer not-it");
  EXPECT_EQ(wrong.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_NE(wrong.error_message().find("invalid token"), std::string::npos);
  grpc::Status scheme = GetJobWith("Basic czNjcmV0");
  EXPECT_EQ(scheme.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  // The right token gets through to the real answer.
  EXPECT_EQ(GetJobWith("Bearer s3cret-token").error_code(), grpc::StatusCode::NOT_FOUND);
  // Worker calls are guarded too.
  v1::LeaseJobRequest lease;
  lease.set_worker_id("w");
  v1::LeaseJobResponse response;
  EXPECT_EQ(workers_->LeaseJob(Context().get(), lease, &response).error_code(), grpc::StatusCode::UNAUTHENTICATED);
}

TEST(ServerStartTest, NonLoopbackWithoutTokenIsRefused) {
  test_support::TempDir dir;
  ServerOptions options;
  options.listen = "0.0.0.0:0";
  options.data_dir = dir.path();
  auto server = QatlabServer::Start(options);
  ASSERT_FALSE(server.ok());
  EXPECT_EQ(server.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(server.status().message().find("without a token"), std::string::npos) << server.status().message();
  EXPECT_NE(server.status().message().find("--token-file"), std::string::npos);
}

TEST(ServerStartTest, NonLoopbackWithTokenStarts) {
  test_support::TempDir dir;
  ServerOptions options;
  options.listen = "0.0.0.0:0";
  options.data_dir = dir.path();
  options.tokens = {{Role::kClient, "t"}};
  auto server = QatlabServer::Start(options);
  ASSERT_TRUE(server.ok()) << server.status().ToString();
  EXPECT_GT((*server)->port(), 0);
  EXPECT_EQ((*server)->address().rfind("127.0.0.1:", 0), 0u) << (*server)->address();
}

}  // namespace
}  // namespace qatlab::server
