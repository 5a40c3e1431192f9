// A lease belongs to the worker token that took it: another worker token
// that learns the lease id may not heartbeat, complete, fail or upload on it
// (PERMISSION_DENIED), and the lease's holder is not disturbed; so too after
// the server is restarted (SIGTERM or SIGKILL) on the same data directory,
// the binding being stored with the lease. A worker run
// with a token of the wrong role says "permission denied", not
// "unauthenticated". The real qatlab-server and qatlab-worker processes.
#include <signal.h>
#include <sys/stat.h>

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <chrono>
#include <fstream>
#include <memory>
#include <string>

#include "qatlab/v1/experiment.grpc.pb.h"
#include "qatlab/v1/worker.grpc.pb.h"
#include "test_support.h"
#include "tests/support/loopback_port.h"
#include "tests/support/temp_dir.h"
#include "tests/support/test_processes.h"

namespace qatlab::server {
namespace {

using std::chrono::milliseconds;
using testing::SmallSpec;

constexpr char kClientToken[] = "client-token-0123456789abcdef";
constexpr char kWorkerA[] = "worker-token-a-0123456789abcdef";
constexpr char kWorkerB[] = "worker-token-b-0123456789abcdef";

class LeaseOwnershipTest : public ::testing::Test {
 protected:
  void SetUp() override {
    WritePrivate(dir_.File("tokens"),
                 std::string("client ") + kClientToken + "\nworker " + kWorkerA + "\nworker " + kWorkerB + "\n");
    address_ = "127.0.0.1:" + std::to_string(test_support::FreeLoopbackPort());
    StartServer();
  }
  void TearDown() override {
    if (server_) server_->Stop(milliseconds(10000));
  }

  // Starts the server on address_ and dir_/data, and connects to it.
  void StartServer() {
    auto server = test_support::LoggedChild::Start(
        {QATLAB_SERVER_BINARY, "--listen", address_, "--data-dir", dir_.File("data"), "--token-file",
         dir_.File("tokens"), "--lease-seconds", "60", "--local-workers", "0", "--log-level", "warn"},
        dir_.File("server.log"));
    ASSERT_TRUE(server.ok()) << server.status().ToString();
    server_ = std::move(*server);
    // A channel of its own: one sharing the global subchannel pool would
    // reuse the connection to the server that was stopped.
    grpc::ChannelArguments arguments;
    arguments.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    auto channel = grpc::CreateCustomChannel(address_, grpc::InsecureChannelCredentials(), arguments);
    ASSERT_TRUE(channel->WaitForConnected(std::chrono::system_clock::now() + milliseconds(15000))) << server_->Log();
    experiments_ = v1::ExperimentService::NewStub(channel);
    workers_ = v1::WorkerService::NewStub(channel);
  }

  // Ends the server with `signal_number` and starts a new one on the same
  // data directory (nothing is carried over but the files).
  void RestartServer(int signal_number) {
    server_->Signal(signal_number);
    ASSERT_TRUE(server_->WaitFor(milliseconds(15000)).has_value()) << "the server did not exit";
    server_.reset();
    StartServer();
  }

  // Submits a job and leases it with worker token A.
  v1::LeaseJobResponse SubmitAndLeaseAsA() {
    v1::SubmitJobRequest submit;
    *submit.mutable_spec() = SmallSpec();
    v1::SubmitJobResponse submitted;
    EXPECT_TRUE(experiments_->SubmitJob(As(kClientToken).get(), submit, &submitted).ok());
    v1::LeaseJobRequest lease_request;
    lease_request.set_worker_id("worker-a");
    lease_request.set_wait_ms(5000);
    v1::LeaseJobResponse lease;
    EXPECT_TRUE(workers_->LeaseJob(As(kWorkerA).get(), lease_request, &lease).ok());
    EXPECT_TRUE(lease.has_job()) << server_->Log();
    return lease;
  }

  // Worker B, with a valid worker token and A's lease id, is refused each
  // way; then the job is still A's: RUNNING, A's heartbeat is taken, and A
  // may end it.
  void ExpectOnlyAMayUse(const v1::LeaseJobResponse& lease) {
    const std::string job_id = lease.job().id();
    v1::HeartbeatRequest heartbeat;
    heartbeat.set_job_id(job_id);
    heartbeat.set_lease_id(lease.lease_id());
    v1::HeartbeatResponse beat;
    const grpc::Status b_heartbeat = workers_->Heartbeat(As(kWorkerB).get(), heartbeat, &beat);
    EXPECT_EQ(b_heartbeat.error_code(), grpc::StatusCode::PERMISSION_DENIED) << b_heartbeat.error_message();
    EXPECT_NE(b_heartbeat.error_message().find("another worker token"), std::string::npos)
        << b_heartbeat.error_message();

    v1::CompleteJobRequest complete;
    complete.set_job_id(job_id);
    complete.set_lease_id(lease.lease_id());
    v1::CompleteJobResponse completed;
    EXPECT_EQ(workers_->CompleteJob(As(kWorkerB).get(), complete, &completed).error_code(),
              grpc::StatusCode::PERMISSION_DENIED);

    v1::FailJobRequest fail;
    fail.set_job_id(job_id);
    fail.set_lease_id(lease.lease_id());
    fail.set_error("forged by worker B");
    v1::FailJobResponse failed;
    EXPECT_EQ(workers_->FailJob(As(kWorkerB).get(), fail, &failed).error_code(), grpc::StatusCode::PERMISSION_DENIED);

    {
      v1::UploadArtifactResponse uploaded;
      auto context = As(kWorkerB);
      auto writer = workers_->UploadArtifact(context.get(), &uploaded);
      v1::UploadArtifactRequest header;
      header.mutable_header()->set_job_id(job_id);
      header.mutable_header()->set_lease_id(lease.lease_id());
      header.mutable_header()->set_name("model.qmodel");
      header.mutable_header()->set_sha256(std::string(64, '0'));
      header.mutable_header()->set_size(4);
      writer->Write(header);
      writer->WritesDone();
      EXPECT_EQ(writer->Finish().error_code(), grpc::StatusCode::PERMISSION_DENIED);
    }

    v1::GetJobRequest get;
    get.set_id(job_id);
    v1::Job job;
    ASSERT_TRUE(experiments_->GetJob(As(kClientToken).get(), get, &job).ok());
    EXPECT_EQ(job.state(), v1::RUNNING);
    EXPECT_EQ(job.error(), "");
    const grpc::Status a_heartbeat = workers_->Heartbeat(As(kWorkerA).get(), heartbeat, &beat);
    EXPECT_TRUE(a_heartbeat.ok()) << a_heartbeat.error_message();
    EXPECT_FALSE(beat.lease_lost());
    fail.set_error("ended by its holder");
    EXPECT_TRUE(workers_->FailJob(As(kWorkerA).get(), fail, &failed).ok());
    ASSERT_TRUE(experiments_->GetJob(As(kClientToken).get(), get, &job).ok());
    EXPECT_EQ(job.state(), v1::FAILED);
    EXPECT_NE(job.error().find("ended by its holder"), std::string::npos) << job.error();
  }

  static void WritePrivate(const std::string& path, const std::string& text) {
    std::ofstream(path) << text;
    ::chmod(path.c_str(), 0600);
  }

  static std::unique_ptr<grpc::ClientContext> As(const std::string& token) {
    auto context = std::make_unique<grpc::ClientContext>();
    context->AddMetadata("authorization", "Bearer " + token);
    context->set_deadline(std::chrono::system_clock::now() + milliseconds(15000));
    return context;
  }

  test_support::TempDir dir_;
  std::string address_;
  std::unique_ptr<test_support::LoggedChild> server_;
  std::unique_ptr<v1::ExperimentService::Stub> experiments_;
  std::unique_ptr<v1::WorkerService::Stub> workers_;
};

TEST_F(LeaseOwnershipTest, AnotherWorkerTokenHoldingTheLeaseIdIsPermissionDenied) {
  const v1::LeaseJobResponse lease = SubmitAndLeaseAsA();
  ASSERT_TRUE(lease.has_job());
  ExpectOnlyAMayUse(lease);
}

TEST_F(LeaseOwnershipTest, TheBindingSurvivesAServerStoppedWithSigterm) {
  const v1::LeaseJobResponse lease = SubmitAndLeaseAsA();
  ASSERT_TRUE(lease.has_job());
  ASSERT_NO_FATAL_FAILURE(RestartServer(SIGTERM));
  ExpectOnlyAMayUse(lease);
}

TEST_F(LeaseOwnershipTest, TheBindingSurvivesAServerKilledWithSigkill) {
  const v1::LeaseJobResponse lease = SubmitAndLeaseAsA();
  ASSERT_TRUE(lease.has_job());
  ASSERT_NO_FATAL_FAILURE(RestartServer(SIGKILL));
  ExpectOnlyAMayUse(lease);
}

TEST_F(LeaseOwnershipTest, AWorkerWithAClientTokenLogsPermissionDenied) {
  WritePrivate(dir_.File("client.token"), std::string(kClientToken) + "\n");
  const CapturedRun run = test_support::RunCommand({QATLAB_WORKER_BINARY, "--server", address_, "--worker-id",
                                                    "impostor", "--token-file", dir_.File("client.token")},
                                                   milliseconds(30000));
  const std::string output = run.out + run.err;
  EXPECT_NE(run.exit_status, 0) << output;
  EXPECT_FALSE(run.timed_out) << output;
  EXPECT_NE(output.find("permission denied: a client token may not call WorkerService"), std::string::npos) << output;
  EXPECT_EQ(output.find("unauthenticated"), std::string::npos) << output;
}

}  // namespace
}  // namespace qatlab::server
