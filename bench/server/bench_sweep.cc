// bench_sweep: a sweep against the same configurations as independent jobs.
// One qatlab-server (the real binary) with two local workers runs
//   1. the 12-point sweep of examples/sweep_cnn.json's grid (3 weight widths x
//      per-tensor/per-channel x symmetric/asymmetric activations) over the
//      cnn preset: one float baseline, then 12 jobs starting from it;
//   2. the same 12 configurations as 12 independent jobs, each training its
//      own float model (the sweep's grid jobs without baseline_job).
// It prints both wall times (submission to the last job's end) and their
// ratio, and checks that each configuration's QAT model is byte-identical in
// both runs (the engine is deterministic; the shared baseline changes
// nothing but the time).
// Usage: bench_sweep [--float-epochs N] [--qat-epochs N] [--train-limit N]
//   defaults: the cnn preset's reference schedule (10 float epochs, 3 QAT
//   epochs, batch 64, MNIST-10k whole).
// Run on demand (not part of ctest); figures in docs/benchmarks.md.
#include <fmt/format.h>
#include <grpcpp/grpcpp.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <map>
#include <set>
#include <string>
#include <thread>

#include "data/mnist.h"
#include "engine/sweep_spec.h"
#include "qatlab/v1/experiment.grpc.pb.h"
#include "tests/client/running_service.h"

namespace {

using namespace qatlab;
using namespace qatlab::testing;
using Clock = std::chrono::steady_clock;

struct Options {
  int float_epochs = 10;
  int qat_epochs = 3;
  int train_limit = 0;
};

v1::SweepSpec BenchSweep(const Options& options) {
  v1::SweepSpec spec;
  spec.set_name("bench-sweep");
  v1::JobSpec* base = spec.mutable_base();
  base->set_experiment("bench-sweep");
  base->mutable_model()->set_preset("cnn");
  base->mutable_data()->set_train_limit(options.train_limit);
  base->mutable_training()->set_epochs(options.float_epochs);
  base->mutable_training()->set_batch_size(64);
  base->mutable_training()->set_learning_rate(1e-3);
  base->mutable_qat()->set_epochs(options.qat_epochs);
  base->mutable_qat()->set_learning_rate(1e-4);
  for (int bits : {8, 4, 2}) spec.mutable_grid()->add_weight_bits(bits);
  for (bool value : {false, true}) {
    spec.mutable_grid()->add_per_tensor(value);
    spec.mutable_grid()->add_symmetric_activations(value);
  }
  return spec;
}

std::unique_ptr<v1::ExperimentService::Stub> Stub(const std::string& address) {
  return v1::ExperimentService::NewStub(grpc::CreateChannel(address, grpc::InsecureChannelCredentials()));
}

std::unique_ptr<grpc::ClientContext> Context() {
  auto context = std::make_unique<grpc::ClientContext>();
  context->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  return context;
}

// Waits until every job in `ids` ended; false when one did not succeed.
bool WaitForAll(RunningService& service, const std::vector<std::string>& ids) {
  std::set<std::string> pending(ids.begin(), ids.end());
  bool all_succeeded = true;
  while (!pending.empty()) {
    for (auto it = pending.begin(); it != pending.end();) {
      std::optional<v1::Job> job = service.GetJob(*it);
      if (job.has_value() && IsFinal(*job)) {
        if (job->state() != v1::SUCCEEDED) {
          std::fprintf(stderr, "job %s ended %s: %s\n", job->id().c_str(), v1::JobState_Name(job->state()).c_str(),
                       job->error().c_str());
          all_succeeded = false;
        }
        it = pending.erase(it);
      } else {
        ++it;
      }
    }
    if (!pending.empty()) std::this_thread::sleep_for(std::chrono::milliseconds(250));
  }
  return all_succeeded;
}

// config name -> the QAT model's sha256
std::map<std::string, std::string> QatModels(RunningService& service, const std::vector<std::string>& ids) {
  std::map<std::string, std::string> models;
  for (const std::string& id : ids) {
    std::optional<v1::GetResultsResponse> results = service.GetResults(id);
    if (!results.has_value()) continue;
    for (const v1::VariantResult& variant : results->result().variants()) {
      if (variant.kind() == "qat") models[variant.config()] = variant.artifact_sha256();
    }
  }
  return models;
}

int Run(const Options& options) {
  if (!EnsureMnist10k(DefaultDataCacheDir()).ok()) {
    std::fprintf(stderr, "bench_sweep: MNIST-10k is not in the data cache and cannot be fetched\n");
    return 1;
  }
  RunningService service({.local_workers = 2, .lease_seconds = 30, .token = ""});
  if (!service.StartServer()) {
    std::fprintf(stderr, "bench_sweep: the server did not start:\n%s\n", service.Logs().c_str());
    return 1;
  }
  auto stub = Stub(service.address());
  const v1::SweepSpec spec = BenchSweep(options);
  std::printf("schedule: cnn, %d float epochs, %d QAT epochs, batch 64, %s training images; 2 local workers\n",
              options.float_epochs, options.qat_epochs,
              options.train_limit > 0 ? std::to_string(options.train_limit).c_str() : "8000");

  // 1. The sweep.
  const auto sweep_start = Clock::now();
  v1::SubmitSweepRequest request;
  *request.mutable_spec() = spec;
  v1::SweepStatus sweep;
  grpc::Status submitted = stub->SubmitSweep(Context().get(), request, &sweep);
  if (!submitted.ok()) {
    std::fprintf(stderr, "bench_sweep: SubmitSweep: %s\n", submitted.error_message().c_str());
    return 1;
  }
  std::vector<std::string> sweep_ids;
  for (const v1::Job& job : sweep.jobs()) sweep_ids.push_back(job.id());
  const bool sweep_ok = WaitForAll(service, sweep_ids);
  const double sweep_seconds = std::chrono::duration<double>(Clock::now() - sweep_start).count();
  std::printf("sweep: 1 baseline + %d jobs in %.1f s\n", sweep.sweep().job_ids_size(), sweep_seconds);
  std::fflush(stdout);

  // 2. The same configurations, each job training its own float model.
  StatusOr<SweepPlan> plan = ExpandSweep(spec);
  if (!plan.ok()) return 1;
  const auto jobs_start = Clock::now();
  std::vector<std::string> job_ids;
  for (const SweepGroup& group : plan->groups) {
    for (const v1::JobSpec& job_spec : group.jobs) {
      v1::SubmitJobRequest submit;
      *submit.mutable_spec() = job_spec;
      v1::SubmitJobResponse response;
      grpc::Status status = stub->SubmitJob(Context().get(), submit, &response);
      if (!status.ok()) {
        std::fprintf(stderr, "bench_sweep: SubmitJob: %s\n", status.error_message().c_str());
        return 1;
      }
      job_ids.push_back(response.job().id());
    }
  }
  const bool jobs_ok = WaitForAll(service, job_ids);
  const double jobs_seconds = std::chrono::duration<double>(Clock::now() - jobs_start).count();
  std::printf("independent: %zu jobs in %.1f s\n", job_ids.size(), jobs_seconds);
  std::printf("ratio independent/sweep: %.2fx\n", jobs_seconds / sweep_seconds);

  const auto from_sweep = QatModels(service, sweep_ids);
  const auto independent = QatModels(service, job_ids);
  int identical = 0;
  for (const auto& [config, sha256] : from_sweep) {
    auto other = independent.find(config);
    if (other != independent.end() && other->second == sha256) ++identical;
  }
  std::printf("QAT models byte-identical between the two runs: %d of %zu\n", identical, from_sweep.size());
  return sweep_ok && jobs_ok && identical == static_cast<int>(from_sweep.size()) && identical == 12 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  Options options;
  for (int i = 1; i + 1 < argc; i += 2) {
    const int value = std::atoi(argv[i + 1]);
    if (std::strcmp(argv[i], "--float-epochs") == 0) {
      options.float_epochs = value;
    } else if (std::strcmp(argv[i], "--qat-epochs") == 0) {
      options.qat_epochs = value;
    } else if (std::strcmp(argv[i], "--train-limit") == 0) {
      options.train_limit = value;
    } else {
      std::fprintf(stderr, "usage: bench_sweep [--float-epochs N] [--qat-epochs N] [--train-limit N]\n");
      return 2;
    }
  }
  return Run(options);
}
