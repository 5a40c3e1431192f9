// An in-process qatlab-server on 127.0.0.1 with a free port and a temp data
// directory, plus client stubs speaking to it over real gRPC.
#pragma once

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "digest/sha256.h"
#include "qatlab/v1/experiment.grpc.pb.h"
#include "qatlab/v1/worker.grpc.pb.h"
#include "server/rpc/server.h"
#include "server_client/chunked_upload.h"
#include "test_support.h"
#include "tests/support/temp_dir.h"

namespace qatlab::server::testing {

class ServerFixture : public ::testing::Test {
 protected:
  // Tests adjust options_ in their constructor or before calling StartServer.
  void SetUp() override {
    options_.listen = "127.0.0.1:0";
    options_.data_dir = dir_.path();
    options_.lease_ms = 2000;
    options_.limits.max_upload_bytes = 1 << 20;
    options_.limits.max_lease_wait_ms = 10000;
  }

  // `clock`: the server's (default: the real one).
  void StartServer(const Clock* clock = nullptr) {
    auto server = QatlabServer::Start(options_, clock);
    ASSERT_TRUE(server.ok()) << server.status().ToString();
    server_ = std::move(*server);
    channel_ = NewChannel();
    experiments_ = v1::ExperimentService::NewStub(channel_);
    workers_ = v1::WorkerService::NewStub(channel_);
  }

  // Shuts the server down (its data directory stays).
  void StopServer() {
    server_->Shutdown(std::chrono::milliseconds(500));
    server_.reset();
  }

  // A new server on the same data directory.
  void RestartServer(const Clock* clock = nullptr) {
    StopServer();
    StartServer(clock);
  }

  // Registers an emulated board (EmulatedBoard) as an agent would; returns its device id.
  std::string RegisterBoard(const std::string& name, const std::string& kind) {
    v1::RegisterDeviceResponse response;
    grpc::Status status = workers_->RegisterDevice(Context().get(), EmulatedBoard(name, kind), &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return response.device().id();
  }

  v1::Search GetSearch(const std::string& id) {
    v1::GetSearchRequest request;
    request.set_id(id);
    v1::Search search;
    grpc::Status status = experiments_->GetSearch(Context().get(), request, &search);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return search;
  }

  v1::Job GetJob(const std::string& id) {
    v1::GetJobRequest request;
    request.set_id(id);
    v1::Job job;
    grpc::Status status = experiments_->GetJob(Context().get(), request, &job);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return job;
  }

  void TearDown() override {
    if (server_) server_->Shutdown(std::chrono::milliseconds(500));
  }

  // A separate connection (own TCP connection, like a separate client).
  std::shared_ptr<grpc::Channel> NewChannel() {
    grpc::ChannelArguments args;
    args.SetInt("grpc.use_local_subchannel_pool", 1);
    return grpc::CreateCustomChannel(server_->address(), grpc::InsecureChannelCredentials(), args);
  }

  static std::unique_ptr<grpc::ClientContext> Context(int timeout_ms = 10000) {
    auto context = std::make_unique<grpc::ClientContext>();
    context->set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(timeout_ms));
    return context;
  }

  v1::Job Submit(const v1::JobSpec& spec) {
    v1::SubmitJobRequest request;
    *request.mutable_spec() = spec;
    v1::SubmitJobResponse response;
    grpc::Status status = experiments_->SubmitJob(Context().get(), request, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return response.job();
  }

  v1::LeaseJobResponse Lease(const std::string& worker = "test-worker", int wait_ms = 0) {
    v1::LeaseJobRequest request;
    request.set_worker_id(worker);
    request.set_wait_ms(wait_ms);
    v1::LeaseJobResponse response;
    grpc::Status status = workers_->LeaseJob(Context(wait_ms + 10000).get(), request, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return response;
  }

  grpc::Status Complete(const std::string& job_id, const std::string& lease_id, const v1::JobResult& result) {
    v1::CompleteJobRequest request;
    request.set_job_id(job_id);
    request.set_lease_id(lease_id);
    *request.mutable_result() = result;
    v1::CompleteJobResponse response;
    return workers_->CompleteJob(Context().get(), request, &response);
  }

  // Uploads `model` as the artifact `name` of a leased job, in chunks of
  // `chunk` bytes, with its true size and sha256.
  grpc::Status UploadModel(const std::string& job_id, const std::string& lease_id, const std::string& name,
                           const std::string& model, size_t chunk, v1::UploadArtifactResponse* out = nullptr) {
    v1::UploadArtifactResponse uploaded;
    auto context = Context();
    auto stream = workers_->UploadArtifact(context.get(), &uploaded);
    grpc::Status status = UploadInChunks(*stream, ArtifactUploadHeader(job_id, lease_id, name, model), model, chunk);
    if (out != nullptr) *out = uploaded;
    return status;
  }

  // Uploads `data` as a data set (chunks of `chunk` bytes) with the given
  // announced sha256 (default: the true one).
  grpc::Status UploadDataset(const std::string& name, const std::string& data, std::string sha256 = "",
                             size_t chunk = 4096, v1::Dataset* out = nullptr) {
    if (sha256.empty()) sha256 = Sha256Hex(data);
    v1::Dataset dataset;
    auto context = Context();
    auto stream = experiments_->UploadDataset(context.get(), &dataset);
    v1::UploadDatasetRequest header;
    header.mutable_header()->set_name(name);
    header.mutable_header()->set_format("idx");
    header.mutable_header()->set_sha256(sha256);
    grpc::Status status = UploadInChunks(*stream, header, data, chunk);
    if (out != nullptr) *out = dataset;
    return status;
  }

  static v1::JobResult ResultFor(const std::string& job_id) {
    v1::JobResult result;
    result.set_experiment("test");
    result.set_model("cnn");
    v1::VariantResult* v = result.add_variants();
    v->set_name("float");
    v->set_kind("float");
    v->set_config(job_id);  // ties the stored result to the job it was made for
    v->set_accuracy(97.5);
    return result;
  }

  // Submits `spec`, leases it, uploads `qmodel` as qat_w8a8.qmodel (chunks
  // of `chunk` bytes) and completes it with ResultFor's float variant and a
  // qat_w8a8 variant (config w8a8) pointing at that artifact: a SUCCEEDED
  // job with a quantized model, whose id is returned.
  std::string SucceededJobWithQatModel(const v1::JobSpec& spec, const std::string& qmodel, size_t chunk) {
    v1::Job job = Submit(spec);
    v1::LeaseJobResponse lease = Lease();
    EXPECT_EQ(lease.job().id(), job.id());
    grpc::Status uploaded = UploadModel(job.id(), lease.lease_id(), "qat_w8a8.qmodel", qmodel, chunk);
    EXPECT_TRUE(uploaded.ok()) << uploaded.error_message();
    v1::JobResult result = ResultFor(job.id());
    v1::VariantResult* qat = result.add_variants();
    qat->set_name("qat_w8a8");
    qat->set_kind("qat");
    qat->set_config("w8a8");
    qat->set_artifact("qat_w8a8.qmodel");
    qat->set_artifact_sha256(Sha256Hex(qmodel));
    grpc::Status completed = Complete(job.id(), lease.lease_id(), result);
    EXPECT_TRUE(completed.ok()) << completed.error_message();
    return job.id();
  }

  test_support::TempDir dir_;
  ServerOptions options_;
  std::unique_ptr<QatlabServer> server_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::ExperimentService::Stub> experiments_;
  std::unique_ptr<v1::WorkerService::Stub> workers_;
};

}  // namespace qatlab::server::testing
