// bench_server: the figures the server is held to.
//   1. submissions/s from 8 concurrent clients (own channels)      aim >= 5,000/s
//   2. lease round trip with 64 concurrent lease loops (each leases
//      and completes at once): median and p99 of LeaseJob           aim p99 <= 5 ms
//   3. resident memory of the real qatlab-server binary serving a
//      database of 100,000 jobs (after listing and leasing)         aim < 200 MB
// Usage: bench_server [--submissions N] [--seconds S] [--jobs-for-rss N]
#include <grpcpp/grpcpp.h>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <thread>
#include <vector>

#include "qatlab/v1/experiment.grpc.pb.h"
#include "qatlab/v1/worker.grpc.pb.h"
#include "server/rpc/server.h"
#include "server/store/job_store.h"
#include "tests/support/loopback_port.h"
#include "tests/support/temp_dir.h"
#include "tests/support/test_processes.h"

namespace {

using namespace qatlab;
using namespace qatlab::server;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;
using test_support::TempDir;

v1::JobSpec BenchSpec(int i) {
  v1::JobSpec spec;
  spec.set_experiment(fmt::format("bench-{}", i % 16));
  spec.mutable_model()->set_preset(i % 2 ? "cnn" : "mlp");
  spec.mutable_training()->set_epochs(1);
  (*spec.mutable_labels())["bench"] = "yes";
  return spec;
}

std::shared_ptr<grpc::Channel> OwnChannel(const std::string& address) {
  grpc::ChannelArguments args;
  args.SetInt("grpc.use_local_subchannel_pool", 1);  // a TCP connection per client
  return grpc::CreateCustomChannel(address, grpc::InsecureChannelCredentials(), args);
}

double Percentile(std::vector<double> values, double p) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  size_t index = std::min(values.size() - 1, static_cast<size_t>(p / 100.0 * (values.size() - 1) + 0.5));
  return values[index];
}

double SubmissionsPerSecond(QatlabServer& server, int total, int clients) {
  std::atomic<int> next{0};
  std::atomic<int> errors{0};
  std::vector<std::thread> threads;
  auto start = Clock::now();
  for (int c = 0; c < clients; ++c) {
    threads.emplace_back([&] {
      auto stub = v1::ExperimentService::NewStub(OwnChannel(server.address()));
      for (int i; (i = next++) < total;) {
        v1::SubmitJobRequest request;
        *request.mutable_spec() = BenchSpec(i);
        v1::SubmitJobResponse response;
        grpc::ClientContext context;
        if (!stub->SubmitJob(&context, request, &response).ok()) ++errors;
      }
    });
  }
  for (auto& t : threads) t.join();
  double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  if (errors > 0) fmt::print("  ({} submissions failed)\n", errors.load());
  return total / seconds;
}

// Leases a job as worker_id, waiting up to wait_ms for one, and completes it
// at once with a stub result. Returns false if no job was leased; *leased
// (when not null) is the time the lease answer arrived.
bool LeaseAndComplete(v1::WorkerService::Stub& stub, const std::string& worker_id, int wait_ms,
                      Clock::time_point* leased) {
  v1::LeaseJobRequest request;
  request.set_worker_id(worker_id);
  request.set_wait_ms(wait_ms);
  v1::LeaseJobResponse lease;
  grpc::ClientContext lease_context;
  if (!stub.LeaseJob(&lease_context, request, &lease).ok() || !lease.has_job()) return false;
  if (leased != nullptr) *leased = Clock::now();
  v1::CompleteJobRequest complete;
  complete.set_job_id(lease.job().id());
  complete.set_lease_id(lease.lease_id());
  complete.mutable_result()->set_model("bench");
  v1::CompleteJobResponse done;
  grpc::ClientContext complete_context;
  stub.CompleteJob(&complete_context, complete, &done);
  return true;
}

struct LeaseFigures {
  std::vector<double> lease_ms;
  std::vector<double> cycle_ms;  // lease + complete
  double seconds = 0;
};

LeaseFigures LeaseLoops(QatlabServer& server, int loops, double run_seconds) {
  LeaseFigures figures;
  std::mutex mutex;
  std::atomic<bool> stop{false};
  std::vector<std::thread> threads;
  auto start = Clock::now();
  for (int l = 0; l < loops; ++l) {
    threads.emplace_back([&, l] {
      auto stub = v1::WorkerService::NewStub(OwnChannel(server.address()));
      std::vector<double> lease_ms, cycle_ms;
      while (!stop) {
        auto t0 = Clock::now();
        Clock::time_point t1;
        if (!LeaseAndComplete(*stub, fmt::format("bench-{}", l), 200, &t1)) continue;
        auto t2 = Clock::now();
        lease_ms.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
        cycle_ms.push_back(std::chrono::duration<double, std::milli>(t2 - t0).count());
      }
      std::lock_guard lock(mutex);
      figures.lease_ms.insert(figures.lease_ms.end(), lease_ms.begin(), lease_ms.end());
      figures.cycle_ms.insert(figures.cycle_ms.end(), cycle_ms.begin(), cycle_ms.end());
    });
  }
  std::this_thread::sleep_for(std::chrono::duration<double>(run_seconds));
  stop = true;
  for (auto& t : threads) t.join();
  figures.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  return figures;
}

long RssKiB(pid_t pid, const char* field) {
  std::ifstream status(fmt::format("/proc/{}/status", pid));
  for (std::string line; std::getline(status, line);) {
    if (line.rfind(field, 0) == 0) return std::stol(line.substr(std::strlen(field)));
  }
  return -1;
}

void MeasureRss(int jobs) {
  TempDir dir;
  {
    SystemClock clock;
    JobNotifier notifier;
    auto store = JobStore::Open(dir.File("qatlab.db"), clock, notifier);
    if (!store.ok()) {
      fmt::print("  cannot open store: {}\n", store.status().ToString());
      return;
    }
    auto start = Clock::now();
    for (int i = 0; i < jobs; ++i) {
      v1::JobSpec spec = BenchSpec(i);
      spec.set_max_attempts(3);
      auto job = (*store)->Submit(spec, "");
      if (!job.ok()) {
        fmt::print("  submit failed: {}\n", job.status().ToString());
        return;
      }
    }
    fmt::print("  filled {} jobs in {:.1f} s (store-level, no gRPC)\n", jobs,
               std::chrono::duration<double>(Clock::now() - start).count());
  }
  const int port = test_support::FreeLoopbackPort();
  std::string address = fmt::format("127.0.0.1:{}", port);
  StatusOr<std::unique_ptr<test_support::LoggedChild>> server =
      test_support::LoggedChild::Start({QATLAB_SERVER_BINARY, "--listen", address, "--data-dir", dir.path(),
                                        "--local-workers", "0", "--log-level", "warn"},
                                       dir.File("server.log"));
  if (!server.ok()) {
    fmt::print("  cannot start qatlab-server: {}\n", server.status().ToString());
    return;
  }
  const pid_t pid = (*server)->pid();
  auto channel = grpc::CreateChannel(address, grpc::InsecureChannelCredentials());
  if (!channel->WaitForConnected(std::chrono::system_clock::now() + std::chrono::seconds(20))) {
    fmt::print("  server did not start:\n{}\n", (*server)->Log());
  } else {
    long idle = RssKiB(pid, "VmRSS:");
    auto experiments = v1::ExperimentService::NewStub(channel);
    auto workers = v1::WorkerService::NewStub(channel);
    // Page through every job, filter by label, lease and finish a few hundred.
    std::string token;
    int listed = 0;
    do {
      v1::ListJobsRequest request;
      request.set_page_size(1000);
      request.set_page_token(token);
      v1::ListJobsResponse response;
      grpc::ClientContext context;
      if (!experiments->ListJobs(&context, request, &response).ok()) break;
      listed += response.jobs_size();
      token = response.next_page_token();
    } while (!token.empty());
    for (int i = 0; i < 300; ++i) {
      if (!LeaseAndComplete(*workers, "rss", 0, nullptr)) break;
    }
    long rss = RssKiB(pid, "VmRSS:");
    long peak = RssKiB(pid, "VmHWM:");
    fmt::print("  listed {} jobs; server RSS idle {:.1f} MB, after work {:.1f} MB, peak {:.1f} MB  (aim < 200 MB)\n",
               listed, idle / 1024.0, rss / 1024.0, peak / 1024.0);
  }
  (*server)->Stop(std::chrono::seconds(10));
}

}  // namespace

int main(int argc, char** argv) {
  int submissions = 20000;
  double seconds = 5;
  int rss_jobs = 100000;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string flag = argv[i];
    if (flag == "--submissions") submissions = std::atoi(argv[i + 1]);
    if (flag == "--seconds") seconds = std::atof(argv[i + 1]);
    if (flag == "--jobs-for-rss") rss_jobs = std::atoi(argv[i + 1]);
  }
  spdlog::set_level(spdlog::level::warn);
  TempDir dir;
  ServerOptions options;
  options.listen = "127.0.0.1:0";
  options.data_dir = dir.path();
  auto server = QatlabServer::Start(options);
  if (!server.ok()) {
    fmt::print("cannot start server: {}\n", server.status().ToString());
    return 1;
  }
  fmt::print("qatlab-server benchmark ({} hardware threads; server in-process, SQLite synchronous=NORMAL)\n",
             std::thread::hardware_concurrency());

  double rate = SubmissionsPerSecond(**server, submissions, 8);
  fmt::print("1. submissions: {} from 8 clients: {:.0f} submissions/s  (aim >= 5,000/s)\n", submissions, rate);

  LeaseFigures figures = LeaseLoops(**server, 64, seconds);
  fmt::print(
      "2. lease loops: 64 concurrent, {:.1f} s, {} jobs leased+completed ({:.0f}/s)\n"
      "   LeaseJob round trip: median {:.2f} ms, p99 {:.2f} ms  (aim p99 <= 5 ms)\n"
      "   lease+complete cycle: median {:.2f} ms, p99 {:.2f} ms\n",
      figures.seconds, figures.lease_ms.size(), figures.lease_ms.size() / figures.seconds,
      Percentile(figures.lease_ms, 50), Percentile(figures.lease_ms, 99), Percentile(figures.cycle_ms, 50),
      Percentile(figures.cycle_ms, 99));
  // The same with one loop: the cost of a round trip without queueing
  // behind 63 others (with 64 loops, latency ~ 64 / throughput).
  LeaseFigures single = LeaseLoops(**server, 1, std::min(seconds, 2.0));
  fmt::print("   for reference, 1 loop: LeaseJob median {:.2f} ms, p99 {:.2f} ms; cycle median {:.2f} ms\n",
             Percentile(single.lease_ms, 50), Percentile(single.lease_ms, 99), Percentile(single.cycle_ms, 50));
  (*server)->Shutdown(milliseconds(500));

  fmt::print("3. memory with {} jobs in the database:\n", rss_jobs);
  MeasureRss(rss_jobs);
  return 0;
}
