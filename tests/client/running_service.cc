#include "tests/client/running_service.h"

#include <signal.h>

#include <fstream>

#include <fmt/format.h>
#include <grpcpp/grpcpp.h>

#include "data/mnist.h"
#include "server_client/server_link.h"
#include "tests/support/loopback_port.h"
#include "tests/support/wait_until.h"

namespace qatlab::testing {

std::string QatlabServerBinary() { return QATLAB_SERVER_BINARY; }
std::string QatlabWorkerBinary() { return QATLAB_WORKER_BINARY; }
std::string QatctlBinary() { return QATCTL_BINARY; }
std::string PythonStubsDir() { return QATLAB_PYTHON_STUBS_DIR; }
std::string SweepScript() { return QATLAB_SWEEP_SCRIPT; }

std::string TinyJobJson(const std::string& experiment, int epochs, int qat_epochs, int seed) {
  return fmt::format(R"({{
  "experiment": "{}",
  "labels": {{"suite": "client-e2e"}},
  "model": {{"preset": "mlp"}},
  "data": {{"source": "mnist", "trainLimit": 1000, "testLimit": 500}},
  "training": {{"epochs": {}}},
  "qat": {{"epochs": {}}},
  "configs": [{{"weightBits": 8, "activationBits": 8}}],
  "seed": {}
}}
)",
                     experiment, epochs, qat_epochs, seed);
}

bool IsFinal(const v1::Job& job) {
  return job.state() == v1::SUCCEEDED || job.state() == v1::FAILED || job.state() == v1::CANCELLED;
}

RunningService::RunningService(ServiceOptions options) : options_(std::move(options)) {
  port_ = test_support::FreeLoopbackPort();
  address_ = fmt::format("127.0.0.1:{}", port_);
  data_dir_ = work_dir_.path() + "/data";
  if (!options_.token.empty()) token_file_ = WriteFile("token", options_.token + "\n");
  // The clients' own channel settings: short reconnect back-off, so polling
  // notices a (re)started server within a fraction of a second.
  stub_ = v1::ExperimentService::NewStub(OpenServerChannel(address_));
}

RunningService::~RunningService() {
  // Workers first, so none is mid-call to a server that vanished.
  for (auto& worker : workers_) worker->Signal(SIGKILL);
  workers_.clear();
  server_.reset();
}

::testing::AssertionResult RunningService::StartServer() {
  std::string log = fmt::format("{}/server-{}.log", work_dir_.path(), ++server_starts_);
  log_paths_.push_back(log);
  std::vector<std::string> argv = {QatlabServerBinary(),
                                   "--listen",
                                   address_,
                                   "--data-dir",
                                   data_dir_,
                                   "--local-workers",
                                   std::to_string(options_.local_workers),
                                   "--lease-seconds",
                                   std::to_string(options_.lease_seconds)};
  if (options_.local_workers > 0) {
    argv.push_back("--worker-binary");
    argv.push_back(QatlabWorkerBinary());
    // The machine's warm MNIST-10k cache, not a fresh <data-dir>/cache.
    argv.push_back("--data-cache");
    argv.push_back(DefaultDataCacheDir());
  }
  if (!token_file_.empty()) {
    argv.push_back("--token-file");
    argv.push_back(token_file_);
  }
  argv.insert(argv.end(), server_arguments_.begin(), server_arguments_.end());
  StatusOr<std::unique_ptr<test_support::LoggedChild>> server = test_support::LoggedChild::Start(argv, log);
  if (!server.ok()) return ::testing::AssertionFailure() << server.status().ToString();
  server_ = std::move(*server);
  // First the port (cheap, and it keeps the gRPC channel out of its
  // reconnect back-off), then one call that waits for the channel.
  bool exited = false;
  ::testing::AssertionResult listening = test_support::WaitUntil(
      [&] {
        exited = !server_->Running();
        return exited || test_support::LoopbackPortAccepts(port_);
      },
      15s, "qatlab-server to listen on " + address_);
  if (exited) return ::testing::AssertionFailure() << "qatlab-server exited at start:\n" << server_->Log();
  if (!listening) return listening << ":\n" << server_->Log();
  ::testing::AssertionResult answering = test_support::WaitUntil(
      [&] {
        grpc::ClientContext context;
        NewContext(&context);
        context.set_wait_for_ready(true);
        context.set_deadline(std::chrono::system_clock::now() + 3s);
        v1::ListJobsRequest request;
        request.set_page_size(1);
        v1::ListJobsResponse response;
        if (stub_->ListJobs(&context, request, &response).ok()) return true;
        exited = !server_->Running();
        return exited;
      },
      15s, "qatlab-server to answer ListJobs");
  if (exited) return ::testing::AssertionFailure() << "qatlab-server exited at start:\n" << server_->Log();
  if (!answering) return answering << ":\n" << server_->Log();
  return ::testing::AssertionSuccess();
}

void RunningService::KillServer() {
  if (!server_) return;
  server_->Signal(SIGKILL);
  server_->WaitFor(10s);
}

test_support::LoggedChild* RunningService::StartWorker(const std::string& worker_id,
                                                       const std::vector<std::string>& extra_arguments) {
  std::string log = fmt::format("{}/worker-{}.log", work_dir_.path(), worker_id);
  log_paths_.push_back(log);
  std::vector<std::string> argv = {QatlabWorkerBinary(), "--server", address_, "--worker-id", worker_id};
  if (!token_file_.empty()) {
    argv.push_back("--token-file");
    argv.push_back(token_file_);
  }
  argv.insert(argv.end(), extra_arguments.begin(), extra_arguments.end());
  StatusOr<std::unique_ptr<test_support::LoggedChild>> worker = test_support::LoggedChild::Start(argv, log);
  if (!worker.ok()) {
    ADD_FAILURE() << worker.status().ToString();
    return nullptr;
  }
  workers_.push_back(std::move(*worker));
  return workers_.back().get();
}

CapturedRun RunningService::Qatctl(const std::vector<std::string>& arguments, std::chrono::milliseconds timeout,
                                   bool with_token) {
  std::vector<std::string> argv = {QatctlBinary(), "--server", address_};
  if (with_token && !token_file_.empty()) {
    argv.push_back("--token-file");
    argv.push_back(token_file_);
  }
  argv.insert(argv.end(), arguments.begin(), arguments.end());
  // QATLAB_TOKEN from the environment running the tests must not leak in.
  // Nor a config file of the user running them.
  return test_support::RunCommand(
      argv, timeout,
      {{"QATLAB_TOKEN", ""}, {"QATLAB_SERVER", ""}, {"QATLAB_CONFIG", ""}, {"XDG_CONFIG_HOME", work_dir_.path()}});
}

std::string RunningService::WriteFile(const std::string& name, const std::string& text) const {
  std::string path = work_dir_.path() + "/" + name;
  std::ofstream(path, std::ios::binary | std::ios::trunc) << text;
  return path;
}

grpc::ClientContext* RunningService::NewContext(grpc::ClientContext* context) const {
  if (!options_.token.empty()) context->AddMetadata("authorization", "Bearer " + options_.token);
  context->set_deadline(std::chrono::system_clock::now() + 10s);
  return context;
}

std::optional<v1::Job> RunningService::GetJob(const std::string& job_id, std::string* error) {
  grpc::ClientContext context;
  NewContext(&context);
  v1::GetJobRequest request;
  request.set_id(job_id);
  v1::Job job;
  grpc::Status status = stub_->GetJob(&context, request, &job);
  if (!status.ok()) {
    if (error != nullptr) *error = status.error_message();
    return std::nullopt;
  }
  return job;
}

std::optional<v1::GetResultsResponse> RunningService::GetResults(const std::string& job_id) {
  grpc::ClientContext context;
  NewContext(&context);
  v1::GetResultsRequest request;
  request.set_id(job_id);
  v1::GetResultsResponse response;
  if (!stub_->GetResults(&context, request, &response).ok()) return std::nullopt;
  return response;
}

std::vector<v1::Job> RunningService::ListAllJobs() {
  std::vector<v1::Job> jobs;
  v1::ListJobsRequest request;
  request.set_page_size(100);
  for (int page = 0; page < 100; ++page) {
    grpc::ClientContext context;
    NewContext(&context);
    v1::ListJobsResponse response;
    if (!stub_->ListJobs(&context, request, &response).ok()) break;
    for (const auto& job : response.jobs()) jobs.push_back(job);
    if (response.next_page_token().empty()) break;
    request.set_page_token(response.next_page_token());
  }
  return jobs;
}

std::optional<v1::Job> RunningService::WaitForJob(const std::string& job_id,
                                                  const std::function<bool(const v1::Job&)>& done,
                                                  std::chrono::milliseconds timeout, const std::string& what) {
  std::optional<v1::Job> last;
  std::string error;
  ::testing::AssertionResult waited = test_support::WaitUntil(
      [&] {
        std::optional<v1::Job> job = GetJob(job_id, &error);
        if (job) last = job;
        return job && done(*job);
      },
      timeout, "job " + job_id + " to be " + what);
  if (waited) return last;
  ADD_FAILURE() << waited.message() << "; last seen: " << (last ? last->ShortDebugString() : "nothing (" + error + ")")
                << "\n"
                << Logs();
  return std::nullopt;
}

std::string RunningService::Logs() const {
  std::string text;
  for (const auto& path : log_paths_) {
    std::string log = test_support::ReadWholeFile(path);
    // The tail is what explains a failure; whole logs drown the report.
    if (log.size() > 4000) log = "..." + log.substr(log.size() - 4000);
    text += "---- " + path + "\n" + log;
  }
  return text;
}

std::string Trim(std::string text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
  return text;
}

void MnistCacheEnvironment::SetUp() {
  StatusOr<std::string> directory = EnsureMnist10k(DefaultDataCacheDir());
  ASSERT_TRUE(directory.ok()) << directory.status().ToString();
}

}  // namespace qatlab::testing
