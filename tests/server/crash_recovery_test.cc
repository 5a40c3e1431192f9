// The real qatlab-server binary killed with SIGKILL mid-work and restarted on
// the same data directory: every accepted job finishes exactly once.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <map>

#include "qatlab/v1/experiment.grpc.pb.h"
#include "qatlab/v1/worker.grpc.pb.h"
#include "test_support.h"
#include "tests/support/loopback_port.h"
#include "tests/support/temp_dir.h"
#include "tests/support/test_processes.h"
#include "tests/support/wait_until.h"

namespace qatlab::server {
namespace {

using std::chrono::milliseconds;
using test_support::FreeLoopbackPort;
using test_support::LoggedChild;
using test_support::RunCommand;
using test_support::TempDir;
using testing::SmallSpec;

// One run of the real binary, its output in <dir>/server.log; killed with
// SIGKILL on destruction if alive.
std::unique_ptr<LoggedChild> StartServer(const TempDir& dir, int port) {
  StatusOr<std::unique_ptr<LoggedChild>> server =
      LoggedChild::Start({QATLAB_SERVER_BINARY, "--listen", "127.0.0.1:" + std::to_string(port), "--data-dir",
                          dir.File("data"), "--local-workers", "0", "--lease-seconds", "4", "--log-level", "warn"},
                         dir.File("server.log"));
  EXPECT_TRUE(server.ok()) << server.status().ToString();
  return server.ok() ? std::move(*server) : nullptr;
}

struct Client {
  explicit Client(int port) {
    channel = grpc::CreateChannel("127.0.0.1:" + std::to_string(port), grpc::InsecureChannelCredentials());
    experiments = v1::ExperimentService::NewStub(channel);
    workers = v1::WorkerService::NewStub(channel);
  }
  bool WaitReady(milliseconds limit) { return channel->WaitForConnected(std::chrono::system_clock::now() + limit); }
  static std::unique_ptr<grpc::ClientContext> Context(int ms = 10000) {
    auto context = std::make_unique<grpc::ClientContext>();
    context->set_deadline(std::chrono::system_clock::now() + milliseconds(ms));
    return context;
  }
  std::shared_ptr<grpc::Channel> channel;
  std::unique_ptr<v1::ExperimentService::Stub> experiments;
  std::unique_ptr<v1::WorkerService::Stub> workers;
};

v1::JobResult ResultFor(const std::string& job_id) {
  v1::JobResult result;
  result.set_model("cnn");
  v1::VariantResult* v = result.add_variants();
  v->set_name("float");
  v->set_kind("float");
  v->set_config(job_id);
  return result;
}

grpc::Status Complete(Client& client, const std::string& job_id, const std::string& lease_id) {
  v1::CompleteJobRequest request;
  request.set_job_id(job_id);
  request.set_lease_id(lease_id);
  *request.mutable_result() = ResultFor(job_id);
  v1::CompleteJobResponse response;
  return client.workers->CompleteJob(Client::Context().get(), request, &response);
}

TEST(CrashRecoveryTest, SigkilledServerLosesNoJobAndFinishesEachExactlyOnce) {
  TempDir dir;
  const int port = FreeLoopbackPort();
  constexpr int kJobs = 20;
  std::vector<std::string> accepted;
  std::map<std::string, std::string> held_leases;  // job -> lease, across the crash
  int completions = 0;
  {
    std::unique_ptr<LoggedChild> server = StartServer(dir, port);
    ASSERT_NE(server, nullptr);
    Client client(port);
    ASSERT_TRUE(client.WaitReady(milliseconds(10000))) << "server did not come up\n" << server->Log();
    for (int i = 0; i < kJobs; ++i) {
      v1::SubmitJobRequest request;
      *request.mutable_spec() = SmallSpec("crash", i % 3);
      v1::SubmitJobResponse response;
      grpc::Status status = client.experiments->SubmitJob(Client::Context().get(), request, &response);
      ASSERT_TRUE(status.ok()) << status.error_message();
      accepted.push_back(response.job().id());
    }
    for (int i = 0; i < 6; ++i) {
      v1::LeaseJobRequest request;
      request.set_worker_id("before-crash");
      v1::LeaseJobResponse lease;
      ASSERT_TRUE(client.workers->LeaseJob(Client::Context().get(), request, &lease).ok());
      ASSERT_TRUE(lease.has_job());
      held_leases[lease.job().id()] = lease.lease_id();
    }
    // Two finish before the crash.
    for (auto it = held_leases.begin(); completions < 2; it = held_leases.erase(it)) {
      ASSERT_TRUE(Complete(client, it->first, it->second).ok());
      ++completions;
    }
    server->Signal(SIGKILL);  // no chance to flush or clean up
    ASSERT_TRUE(server->WaitFor(milliseconds(10000))) << "SIGKILL did not end the server";
  }

  std::unique_ptr<LoggedChild> server = StartServer(dir, port);
  ASSERT_NE(server, nullptr);
  Client client(port);
  ASSERT_TRUE(client.WaitReady(milliseconds(10000))) << "server did not come back\n" << server->Log();

  // One worker survived the crash and finishes its job under its old lease
  // (the restart took well under the 4 s lease).
  auto survivor = held_leases.begin();
  grpc::Status late = Complete(client, survivor->first, survivor->second);
  EXPECT_TRUE(late.ok()) << late.error_message();
  completions += late.ok();
  held_leases.erase(survivor);
  // The others died with the server: their leases expire (4 s) and the jobs
  // come round again. Act as a fresh worker until the queue is drained.
  auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (completions < kJobs && std::chrono::steady_clock::now() < give_up) {
    v1::LeaseJobRequest request;
    request.set_worker_id("after-crash");
    request.set_wait_ms(500);
    v1::LeaseJobResponse lease;
    ASSERT_TRUE(client.workers->LeaseJob(Client::Context().get(), request, &lease).ok());
    if (!lease.has_job()) continue;
    grpc::Status done = Complete(client, lease.job().id(), lease.lease_id());
    ASSERT_TRUE(done.ok()) << done.error_message();
    ++completions;
  }
  EXPECT_EQ(completions, kJobs);

  // The dead workers' leases are stale now: their completions are refused.
  for (const auto& [job_id, lease_id] : held_leases) {
    EXPECT_EQ(Complete(client, job_id, lease_id).error_code(), grpc::StatusCode::FAILED_PRECONDITION) << job_id;
  }

  // Every accepted job: SUCCEEDED, once, with its own result.
  v1::ListJobsRequest list;
  list.set_page_size(1000);
  v1::ListJobsResponse jobs;
  ASSERT_TRUE(client.experiments->ListJobs(Client::Context().get(), list, &jobs).ok());
  EXPECT_EQ(jobs.jobs_size(), kJobs);
  for (const std::string& id : accepted) {
    v1::GetResultsRequest request;
    request.set_id(id);
    v1::GetResultsResponse response;
    ASSERT_TRUE(client.experiments->GetResults(Client::Context().get(), request, &response).ok()) << id;
    EXPECT_EQ(response.job().state(), v1::SUCCEEDED) << id;
    ASSERT_EQ(response.result().variants_size(), 1) << id;
    EXPECT_EQ(response.result().variants(0).config(), id);
  }
}

TEST(CrashRecoveryTest, BinaryRefusesNonLoopbackWithoutTokenAndStopsOnSigterm) {
  TempDir dir;
  {
    CapturedRun refused = RunCommand({QATLAB_SERVER_BINARY, "--listen", "0.0.0.0:" + std::to_string(FreeLoopbackPort()),
                                      "--data-dir", dir.File("data"), "--local-workers", "0"},
                                     milliseconds(30000));
    EXPECT_FALSE(refused.timed_out);
    EXPECT_NE(refused.exit_status, 0);
    EXPECT_NE(refused.err.find("without a token"), std::string::npos) << refused.err;
  }
  {
    const int port = FreeLoopbackPort();
    std::unique_ptr<LoggedChild> server = StartServer(dir, port);
    ASSERT_NE(server, nullptr);
    Client client(port);
    ASSERT_TRUE(client.WaitReady(milliseconds(10000))) << server->Log();
    ASSERT_TRUE(server->Running()) << "server exited on its own\n" << server->Log();
    server->Signal(SIGTERM);
    EXPECT_EQ(server->WaitFor(milliseconds(5000)), 0) << "no clean exit within 5 s of SIGTERM\n" << server->Log();
  }
}

TEST(CrashRecoveryTest, LogLevelIsReadInAnyCaseAndAnUnknownOneIsAUsageError) {
  TempDir dir;
  CapturedRun refused = RunCommand({QATLAB_SERVER_BINARY, "--listen", "127.0.0.1:" + std::to_string(FreeLoopbackPort()),
                                    "--data-dir", dir.File("data"), "--local-workers", "0", "--log-level", "loud"},
                                   milliseconds(30000));
  EXPECT_NE(refused.exit_status, 0);
  EXPECT_NE(refused.err.find("--log-level"), std::string::npos) << refused.err;
  EXPECT_NE(refused.err.find("loud"), std::string::npos) << refused.err;

  // "INFO" is info: the start-up line is logged (an unknown name used to
  // turn logging off without a word).
  const int port = FreeLoopbackPort();
  StatusOr<std::unique_ptr<LoggedChild>> server =
      LoggedChild::Start({QATLAB_SERVER_BINARY, "--listen", "127.0.0.1:" + std::to_string(port), "--data-dir",
                          dir.File("data"), "--local-workers", "0", "--log-level", "INFO"},
                         dir.File("server.log"));
  ASSERT_TRUE(server.ok()) << server.status().ToString();
  EXPECT_TRUE(test_support::WaitUntil([&] { return (*server)->Log().find("listening on") != std::string::npos; },
                                      milliseconds(20000), "the start-up line at level INFO"))
      << (*server)->Log();
}

}  // namespace
}  // namespace qatlab::server
