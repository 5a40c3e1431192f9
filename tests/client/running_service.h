// A qatlab service assembled from the real binaries for end-to-end tests:
// qatlab-server on a free loopback port with a temporary data directory,
// workers started and killed at will, and qatctl runs. Every wait is bounded
// and a failed wait says what it waited for.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "process/child_process.h"
#include "qatlab/v1/experiment.grpc.pb.h"
#include "tests/support/temp_dir.h"
#include "tests/support/test_processes.h"

namespace qatlab::testing {

using namespace std::chrono_literals;

struct ServiceOptions {
  int local_workers = 0;  // workers the server spawns itself
  int lease_seconds = 3;
  std::string token;  // empty: no authentication
};

class RunningService {
 public:
  explicit RunningService(ServiceOptions options);
  ~RunningService();

  // Starts qatlab-server (again, after KillServer: same port and data
  // directory) and waits until it answers ListJobs.
  ::testing::AssertionResult StartServer();
  // Appended to qatlab-server's command line from the next StartServer on.
  void AddServerArguments(const std::vector<std::string>& arguments) {
    server_arguments_.insert(server_arguments_.end(), arguments.begin(), arguments.end());
  }
  // SIGKILL, and waits until the process is gone.
  void KillServer();

  // Starts `qatlab-worker --server ... --worker-id <id> <extra_arguments>`.
  // Owned here. Null (and the test failed) when it cannot be started.
  test_support::LoggedChild* StartWorker(const std::string& worker_id,
                                         const std::vector<std::string>& extra_arguments = {});

  const std::string& address() const { return address_; }
  const std::string& work_dir() const { return work_dir_.path(); }
  const std::string& token_file() const { return token_file_; }

  // qatctl --server <address> [--token-file F] <arguments...>
  CapturedRun Qatctl(const std::vector<std::string>& arguments, std::chrono::milliseconds timeout = 30s,
                     bool with_token = true);

  // Writes `text` to <work_dir>/<name> and returns the path.
  std::string WriteFile(const std::string& name, const std::string& text) const;

  // GetJob through the API; nullopt (and the failure in *error) when the
  // call fails.
  std::optional<v1::Job> GetJob(const std::string& job_id, std::string* error = nullptr);
  std::optional<v1::GetResultsResponse> GetResults(const std::string& job_id);
  std::vector<v1::Job> ListAllJobs();

  // Polls GetJob until `done` holds; fails the test with `what`, the last
  // job seen and the logs after `timeout`.
  std::optional<v1::Job> WaitForJob(const std::string& job_id, const std::function<bool(const v1::Job&)>& done,
                                    std::chrono::milliseconds timeout, const std::string& what);

  // Server and worker logs, for failure messages.
  std::string Logs() const;

 private:
  grpc::ClientContext* NewContext(grpc::ClientContext* context) const;

  ServiceOptions options_;
  test_support::TempDir work_dir_;
  int port_ = 0;
  std::string address_;
  std::string data_dir_;
  std::string token_file_;
  int server_starts_ = 0;
  std::vector<std::string> server_arguments_;
  std::unique_ptr<test_support::LoggedChild> server_;
  std::vector<std::unique_ptr<test_support::LoggedChild>> workers_;
  std::vector<std::string> log_paths_;
  std::unique_ptr<v1::ExperimentService::Stub> stub_;
};

// The path of a built binary or source file, as CMake passed it in.
std::string QatlabServerBinary();
std::string QatlabWorkerBinary();
std::string QatctlBinary();
std::string PythonStubsDir();
std::string SweepScript();

// A small job: MLP on the first 1,000/500 MNIST-10k digits, `epochs` float
// epochs and `qat_epochs` QAT epochs, one w8a8 configuration.
std::string TinyJobJson(const std::string& experiment, int epochs, int qat_epochs, int seed = 1);

bool IsFinal(const v1::Job& job);

// Output without its trailing newlines and spaces (a printed id, a version).
std::string Trim(std::string text);

// Fetches MNIST-10k into the cache once for a whole test program (a no-op
// when cached), before any worker starts, instead of letting parallel workers
// race: register it with ::testing::AddGlobalTestEnvironment.
class MnistCacheEnvironment : public ::testing::Environment {
 public:
  void SetUp() override;
};

}  // namespace qatlab::testing
