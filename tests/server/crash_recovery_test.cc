// The real qatlab-server binary killed with SIGKILL mid-work and restarted on
// the same data directory: every accepted job finishes exactly once.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <map>
#include <thread>

#include "qatlab/v1/experiment.grpc.pb.h"
#include "qatlab/v1/worker.grpc.pb.h"
#include "test_support.h"

namespace qatlab::server {
namespace {

using std::chrono::milliseconds;
using testing::SmallSpec;
using testing::TempDir;

int FreePort() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = 0;
  EXPECT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)), 0) << "FreePort: bind, errno " << errno;
  socklen_t length = sizeof(address);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length);
  int port = ntohs(address.sin_port);
  ::close(fd);
  return port;
}

// One run of the real binary; killed with SIGKILL on destruction if alive.
class ServerProcess {
 public:
  ServerProcess(const std::string& data_dir, int port, const std::vector<std::string>& extra = {}) {
    std::vector<std::string> args = {QATLAB_SERVER_BINARY, "--listen",       "127.0.0.1:" + std::to_string(port),
                                     "--data-dir",         data_dir,         "--local-workers",
                                     "0",                  "--lease-seconds", "4",
                                     "--log-level",        "warn"};
    args.insert(args.end(), extra.begin(), extra.end());
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    pid_ = ::fork();
    if (pid_ == 0) {
      ::execv(argv[0], argv.data());
      ::_exit(127);
    }
  }
  ~ServerProcess() { Kill(); }
  void Signal(int signal_number) { ::kill(pid_, signal_number); }
  void Kill() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      int status = 0;
      ::waitpid(pid_, &status, 0);
      pid_ = 0;
    }
  }
  // Exit status once it exited within `limit`, or -1.
  int WaitExit(milliseconds limit) {
    auto give_up = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < give_up) {
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = 0;
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      }
      std::this_thread::sleep_for(milliseconds(20));
    }
    return -1;
  }

 private:
  pid_t pid_ = 0;
};

struct Client {
  explicit Client(int port) {
    channel = grpc::CreateChannel("127.0.0.1:" + std::to_string(port), grpc::InsecureChannelCredentials());
    experiments = v1::ExperimentService::NewStub(channel);
    workers = v1::WorkerService::NewStub(channel);
  }
  bool WaitReady(milliseconds limit) {
    return channel->WaitForConnected(std::chrono::system_clock::now() + limit);
  }
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
  const int port = FreePort();
  constexpr int kJobs = 20;
  std::vector<std::string> accepted;
  std::map<std::string, std::string> held_leases;  // job -> lease, across the crash
  int completions = 0;
  {
    ServerProcess server(dir.path().string(), port);
    Client client(port);
    ASSERT_TRUE(client.WaitReady(milliseconds(10000))) << "server did not come up";
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
    server.Kill();  // SIGKILL: no chance to flush or clean up
  }

  ServerProcess server(dir.path().string(), port);
  Client client(port);
  ASSERT_TRUE(client.WaitReady(milliseconds(10000))) << "server did not come back";

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
    std::vector<std::string> args = {QATLAB_SERVER_BINARY, "--listen", "0.0.0.0:" + std::to_string(FreePort()),
                                     "--data-dir", dir.path().string(), "--local-workers", "0"};
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    int err_pipe[2];
    ASSERT_EQ(::pipe(err_pipe), 0);
    pid_t pid = ::fork();
    if (pid == 0) {
      ::dup2(err_pipe[1], 2);
      ::execv(argv[0], argv.data());
      ::_exit(127);
    }
    ::close(err_pipe[1]);
    std::string err;
    char buffer[512];
    for (ssize_t n; (n = ::read(err_pipe[0], buffer, sizeof buffer)) > 0;) err.append(buffer, n);
    ::close(err_pipe[0]);
    int status = 0;
    ::waitpid(pid, &status, 0);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) != 0);
    EXPECT_NE(err.find("without a token"), std::string::npos) << err;
  }
  {
    const int port = FreePort();
    ServerProcess server(dir.path().string(), port);
    Client client(port);
    ASSERT_TRUE(client.WaitReady(milliseconds(10000)));
    ASSERT_EQ(server.WaitExit(milliseconds(1)), -1) << "server exited on its own";
    server.Signal(SIGTERM);
    EXPECT_EQ(server.WaitExit(milliseconds(5000)), 0) << "no clean exit within 5 s of SIGTERM";
  }
}

}  // namespace
}  // namespace qatlab::server
