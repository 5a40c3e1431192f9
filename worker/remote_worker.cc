#include "worker/remote_worker.h"

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>

#include <spdlog/spdlog.h>

#include "data/mnist.h"
#include "digest/sha256.h"
#include "engine/experiment.h"
#include "engine/float_checkpoint.h"
#include "process/stop_signal.h"
#include "retry/backoff.h"
#include "server_client/host_name.h"
#include "server_client/lease_client.h"
#include "server_client/lease_keeper.h"
#include "server_client/server_link.h"
#include "server_client/worker_log_name.h"
#include "worker/allocation_failure.h"
#include "worker/job_log.h"
#include "worker/run_record.h"

namespace qatlab {
namespace {

using std::chrono::milliseconds;

// Reaching a server that is away: 200 ms doubling to 5 s, with jitter.
constexpr BackoffPolicy kServerBackoff{milliseconds(200), milliseconds(5000), 0.2};
// After SIGTERM, how long the engine may take to stop before the job is given
// back without it and the process leaves.
constexpr auto kShutdownGrace = std::chrono::seconds(5);
// How long a finished job waits for its last epochs' progress to reach the
// server before completing anyway.
constexpr milliseconds kProgressFlushWait(3000);
// How long a FailJob is retried while the server is away: a give-back only
// briefly (the lease runs out and re-queues the job anyway), a failure longer.
constexpr milliseconds kGiveBackRetries(3000);
constexpr milliseconds kFailureRetries(30000);
// The worker's log of one attempt keeps its last MiB (worker/job_log.h).
constexpr size_t kJobLogLimitBytes = size_t{1} << 20;

std::string_view Bytes(const std::vector<uint8_t>& data) {
  return {reinterpret_cast<const char*>(data.data()), data.size()};
}

// One leased job, shared by the thread running the engine, its lease keeper
// and the signal thread.
class JobRun {
 public:
  JobRun(LeaseClient& client, const v1::LeaseJobResponse& lease)
      : job_id(lease.job().id()),
        lease_id(lease.lease_id()),
        attempt(lease.job().attempt()),
        interval(HeartbeatInterval(lease.heartbeat_interval_ms(), lease.lease_deadline_unix_ms())),
        keeper("job " + job_id, interval, [&client, this](const v1::EpochStats* progress) {
          return client.HeartbeatJob(job_id, lease_id, progress);
        }) {}

  const std::string job_id;
  const std::string lease_id;
  const int attempt;
  const milliseconds interval;
  LeaseKeeper keeper;

  // The engine's progress callback: finished epochs go out with the next
  // heartbeat (the engine never waits for the network). False once the job
  // must stop.
  bool OnProgress(const ProgressEvent& event) {
    if (event.end_of_epoch) {
      const v1::EpochStats& s = event.stats;
      spdlog::info("job {}: {} epoch {}/{}: loss {:.4f}, train {:.2f}%, test {:.2f}%, {:.1f} s", job_id, s.variant(),
                   s.epoch(), s.epochs(), s.loss(), s.train_accuracy(), s.test_accuracy(), s.seconds());
      keeper.QueueProgress(event.stats);
    }
    return KeepGoing();
  }
  bool KeepGoing() const { return !shutdown_.load() && keeper.held(); }
  void RequestShutdown() { shutdown_.store(true); }
  bool shutdown() const { return shutdown_.load(); }

  // Exactly one caller gets true: the one that reports how the job ended
  // (complete, fail, give back). The others must leave the job alone.
  bool ClaimSettlement() { return !settled_.exchange(true); }

 private:
  std::atomic<bool> shutdown_{false};
  std::atomic<bool> settled_{false};
};

class RemoteWorker {
 public:
  RemoteWorker(const RemoteWorkerOptions& options, std::string token, ChannelSecurity security,
               std::shared_ptr<JobLogSink> job_log)
      : options_(options),
        worker_id_(options.worker_id.empty() ? HostName() + "-" + std::to_string(::getpid()) : options.worker_id),
        data_cache_dir_(options.data_cache_dir.empty() ? DefaultDataCacheDir() : options.data_cache_dir),
        client_({options.server_address, std::move(token), /*wait_for_ready=*/true, std::move(security)}),
        job_log_(std::move(job_log)) {}

  // The lease loop. Returns the exit status.
  int Run();

  // From the signal thread: stop taking jobs, stop the current one and give
  // it back. Returns after the job thread has settled the job, or after the
  // grace period, in which case the job is given back from here and the
  // process exits at once.
  void Shutdown(int signal_number);

  // Tells the signal thread that Run has returned.
  void MarkFinished() {
    std::lock_guard lock(mutex_);
    finished_ = true;
    wake_.notify_all();
  }

 private:
  bool Stopping() {
    std::lock_guard lock(mutex_);
    return stopping_;
  }
  // Sleeps `duration` unless the worker is stopping; false if stopping.
  bool SleepUnlessStopping(milliseconds duration) {
    std::unique_lock lock(mutex_);
    return !wake_.wait_for(lock, duration, [&] { return stopping_; });
  }

  void RunJob(const v1::LeaseJobResponse& lease);
  Status FetchModel(v1::JobSpec* spec, const JobRun& run);
  // The float model of spec.baseline_job (its float.ckpt artifact), when the
  // spec names one.
  Status FetchFloatCheckpoint(const v1::JobSpec& spec, const JobRun& run, std::vector<uint8_t>* checkpoint);
  void Complete(JobRun& run, const ExperimentOutput& output);
  // FailJob, repeated while the server is away (bounded in time).
  void ReportFailure(JobRun& run, const std::string& error, bool retryable);
  // Ends the attempt's log capture and uploads the log, once: a log that
  // cannot be stored is a warning, never the job's failure.
  void UploadJobLog(JobRun& run);

  const RemoteWorkerOptions options_;
  const std::string worker_id_;
  const std::string data_cache_dir_;
  LeaseClient client_;
  const std::shared_ptr<JobLogSink> job_log_;

  std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;                // guarded by mutex_
  bool finished_ = false;                // guarded by mutex_
  std::shared_ptr<JobRun> current_job_;  // guarded by mutex_
};

int RemoteWorker::Run() {
  spdlog::info("worker {}: serving jobs from {}", worker_id_, options_.server_address);
  Backoff backoff(kServerBackoff);
  int failures = 0;
  while (!Stopping()) {
    StatusOr<v1::LeaseJobResponse> lease = client_.LeaseJob(worker_id_, options_.lease_wait_ms);
    if (!lease.ok()) {
      if (Stopping()) break;
      if (lease.status().code() == StatusCode::kUnauthenticated) {
        // The message says "permission denied" for a token of the wrong role
        // (PERMISSION_DENIED); otherwise the token was missing or unknown.
        spdlog::error("worker {}: the server refuses this worker: {}", worker_id_, lease.status().message());
        return 1;
      }
      // Log the first failure of a run and then every tenth: a server that is
      // away for a minute should not flood the log.
      if (failures++ % 10 == 0) {
        spdlog::warn("worker {}: {}; retrying", worker_id_, lease.status().ToString());
      }
      SleepUnlessStopping(backoff.Next());
      continue;
    }
    if (failures > 0) spdlog::info("worker {}: connected to {}", worker_id_, options_.server_address);
    failures = 0;
    backoff.Reset();
    if (!lease->has_job() || lease->job().id().empty()) continue;
    RunJob(*lease);
  }
  spdlog::info("worker {}: stopped", worker_id_);
  return 0;
}

void RemoteWorker::RunJob(const v1::LeaseJobResponse& lease) {
  const v1::Job& job = lease.job();
  job_log_->Begin();
  auto run = std::make_shared<JobRun>(client_, lease);
  {
    std::lock_guard lock(mutex_);
    current_job_ = run;
    if (stopping_) run->RequestShutdown();
  }
  spdlog::info("worker {}: leased job {} (attempt {}, heartbeat every {} ms)", worker_id_, job.id(), job.attempt(),
               run->interval.count());

  v1::JobSpec spec = job.spec();
  Status data_status = client_.ResolveUploadedDatasets(spec.mutable_data(),
                                                       (std::filesystem::path(data_cache_dir_) / "datasets").string(),
                                                       [&run] { return run->KeepGoing(); });
  if (data_status.ok()) data_status = FetchModel(&spec, *run);
  std::vector<uint8_t> float_checkpoint;
  if (data_status.ok()) data_status = FetchFloatCheckpoint(spec, *run, &float_checkpoint);
  std::optional<StatusOr<ExperimentOutput>> output;
  if (data_status.ok()) {
    v1::RunRecord record = RecordRunInputs(job.spec(), spec, {options_.threads, worker_id_, job.attempt()});
    spdlog::info("job {}: engine {}, seed {}, {} thread(s), {} input file(s)", job.id(), record.engine_version(),
                 record.seed(), record.threads(), record.inputs_size());
    for (const v1::InputFileRecord& input : record.inputs()) {
      spdlog::info("job {}: {} {} sha256 {}", job.id(), input.role(), input.source(), input.sha256());
    }
    ExperimentOptions engine_options;
    engine_options.data_cache_dir = data_cache_dir_;
    engine_options.threads = options_.threads;
    if (!spec.baseline_job().empty()) {
      engine_options.float_checkpoint = &float_checkpoint;
      engine_options.baseline_job = spec.baseline_job();
    }
    output.emplace(ReportAllocationFailure([&] {
      return RunExperiment(spec, engine_options, [&run](const ProgressEvent& event) { return run->OnProgress(event); });
    }));
    if (output->ok()) {
      RecordRunOutputs((*output)->artifacts, &record);
      *(*output)->result.mutable_run() = std::move(record);
    }
  } else {
    output.emplace(data_status);
  }

  if (run->ClaimSettlement()) {
    if (!run->keeper.held()) {
      // The server already decided (cancelled, or re-queued after the lease
      // expired): reporting anything now would be refused, so say nothing.
      spdlog::info("worker {}: job {} stopped: {}", worker_id_, job.id(),
                   run->keeper.state() == LeaseKeeper::State::kCancelled ? "cancelled" : "lease lost");
    } else if (run->shutdown()) {
      spdlog::info("worker {}: job {}: shutting down; giving the job back", worker_id_, job.id());
      UploadJobLog(*run);
      ReportFailure(*run, "worker " + worker_id_ + " shut down before the job finished", /*retryable=*/true);
    } else if (!output->ok()) {
      const Status& error = output->status();
      // A data set the server could not hand out now may be there later;
      // everything else (bad spec, corrupt data, engine failure) will fail
      // again the same way.
      const bool retryable = error.code() == StatusCode::kUnavailable;
      spdlog::warn("worker {}: job {} failed: {}", worker_id_, job.id(), error.ToString());
      UploadJobLog(*run);
      ReportFailure(*run, error.ToString(), retryable);
    } else {
      run->keeper.WaitForProgressDelivered(kProgressFlushWait);
      Complete(*run, output->value());
    }
  }
  run->keeper.Stop();
  job_log_->End();  // a cancelled or lost job's capture, not uploaded
  std::lock_guard lock(mutex_);
  current_job_.reset();
  wake_.notify_all();
}

// An uploaded model ("model:<name>") becomes the path of its cached copy,
// <cache>/models/<sha256>, before the engine sees the spec: the engine reads
// ONNX files by path only.
Status RemoteWorker::FetchModel(v1::JobSpec* spec, const JobRun& run) {
  std::string* onnx = spec->mutable_model()->mutable_onnx();
  if (!onnx->starts_with(kUploadedModelPrefix)) return Status::Ok();
  if (!run.KeepGoing()) return Status::Cancelled("job stopped while fetching its model");
  const std::string name = onnx->substr(kUploadedModelPrefix.size());
  const std::string directory = (std::filesystem::path(data_cache_dir_) / "models").string();
  QATLAB_ASSIGN_OR_RETURN(*onnx, client_.FetchModel(name, directory));
  spdlog::info("worker {}: model {} is {}", worker_id_, name, *onnx);
  return Status::Ok();
}

Status RemoteWorker::FetchFloatCheckpoint(const v1::JobSpec& spec, const JobRun& run,
                                          std::vector<uint8_t>* checkpoint) {
  if (spec.baseline_job().empty()) return Status::Ok();
  if (!run.KeepGoing()) return Status::Cancelled("job stopped while fetching its baseline's float model");
  StatusOr<std::string> bytes = client_.DownloadArtifact(spec.baseline_job(), kFloatCheckpointName);
  if (!bytes.ok()) {
    return bytes.status().WithContext("fetching the float model of baseline job " + spec.baseline_job());
  }
  checkpoint->assign(bytes->begin(), bytes->end());
  spdlog::info("worker {}: job {} starts from the float model of job {} ({} bytes)", worker_id_, run.job_id,
               spec.baseline_job(), checkpoint->size());
  return Status::Ok();
}

void RemoteWorker::Complete(JobRun& run, const ExperimentOutput& output) {
  // Uploads and the completion outlive a server restart; they end when the
  // worker stops or the lease is no longer ours.
  auto pause = [&](milliseconds wait) { return run.keeper.held() && SleepUnlessStopping(wait); };
  const milliseconds forever = std::chrono::hours(24 * 365);
  // The engine names each variant's model by the digest of these same bytes
  // (RunExperiment sets artifact_sha256), and the upload header carries it
  // again: nothing to recompute here.
  const v1::JobResult& result = output.result;
  std::vector<VariantArtifact> uploads = output.artifacts;
  if (!output.float_checkpoint.empty()) {
    // For jobs that start from this one's float model (JobSpec.baseline_job).
    uploads.push_back(VariantArtifact{"float", kFloatCheckpointName, output.float_checkpoint});
  }
  for (const VariantArtifact& artifact : uploads) {
    Status uploaded = RetryWhileUnavailable(
        [&] { return client_.UploadArtifact(run.job_id, run.lease_id, artifact.file_name, Bytes(artifact.qmodel)); },
        Backoff(kServerBackoff), forever, pause);
    if (!uploaded.ok()) {
      spdlog::warn("worker {}: job {}: upload of {} failed: {}", worker_id_, run.job_id, artifact.file_name,
                   uploaded.ToString());
      // Without its artifacts the result is incomplete. A lost lease or a
      // stop says nothing more; any other refusal (the server's storage
      // failing, a size limit) is the job's error, told now rather than by a
      // lease expiring later.
      if (run.keeper.held() && !Stopping()) {
        ReportFailure(run, "storing artifact " + artifact.file_name + " on the server failed: " + uploaded.ToString(),
                      /*retryable=*/false);
      }
      return;
    }
  }
  spdlog::info("worker {}: job {}: {} model(s) uploaded; completing", worker_id_, run.job_id, output.artifacts.size());
  UploadJobLog(run);
  Status completed = RetryWhileUnavailable([&] { return client_.CompleteJob(run.job_id, run.lease_id, result); },
                                           Backoff(kServerBackoff), forever, pause);
  if (completed.ok()) {
    spdlog::info("worker {}: job {} completed ({} variants, {:.1f} s)", worker_id_, run.job_id, result.variants_size(),
                 result.total_seconds());
  } else {
    // Typically FAILED_PRECONDITION: the lease expired while the server was
    // away and the job went back to the queue; it will finish elsewhere.
    spdlog::warn("worker {}: job {}: completion refused: {}", worker_id_, run.job_id, completed.ToString());
  }
}

void RemoteWorker::UploadJobLog(JobRun& run) {
  const std::string name = WorkerLogArtifactName(run.attempt);
  const std::string text = job_log_->End();
  Status uploaded = client_.UploadArtifact(run.job_id, run.lease_id, name, text);
  if (!uploaded.ok()) {
    spdlog::warn("worker {}: job {}: the log {} was not stored: {}", worker_id_, run.job_id, name, uploaded.ToString());
  }
}

void RemoteWorker::ReportFailure(JobRun& run, const std::string& error, bool retryable) {
  BackoffPolicy quick = kServerBackoff;
  quick.max = milliseconds(500);
  Status reported = RetryWhileUnavailable([&] { return client_.FailJob(run.job_id, run.lease_id, error, retryable); },
                                          Backoff(quick), retryable ? kGiveBackRetries : kFailureRetries);
  if (reported.ok()) {
    spdlog::info("worker {}: job {} {}", worker_id_, run.job_id,
                 retryable ? "given back to the queue" : "reported failed");
  } else {
    // The lease will expire and the server re-queues the job: nothing is
    // lost, the job only starts later.
    spdlog::warn("worker {}: job {}: FailJob not delivered: {}", worker_id_, run.job_id, reported.ToString());
  }
}

void RemoteWorker::Shutdown(int signal_number) {
  std::shared_ptr<JobRun> job;
  {
    std::lock_guard lock(mutex_);
    if (finished_) return;
    if (!stopping_) spdlog::info("worker {}: signal {}: stopping", worker_id_, signal_number);
    stopping_ = true;
    job = current_job_;
    wake_.notify_all();
  }
  client_.CancelLeases();
  if (job) job->RequestShutdown();
  std::unique_lock lock(mutex_);
  if (wake_.wait_for(lock, kShutdownGrace, [&] { return finished_ || current_job_ == nullptr; })) return;
  lock.unlock();
  // The engine did not stop in time (it checks between batches; an
  // evaluation pass may take longer). Give the job back from here and leave:
  // its result would be refused anyway once the job is back in the queue.
  if (job && job->ClaimSettlement()) {
    ReportFailure(*job, "worker " + worker_id_ + " shut down before the job finished", /*retryable=*/true);
  }
  spdlog::info("worker {}: exiting without waiting for the engine", worker_id_);
  std::_Exit(0);
}

}  // namespace

int RunRemoteWorker(const RemoteWorkerOptions& options) {
  // Before any other thread starts (the signal thread, gRPC's): the default
  // logger's sink list is not guarded.
  std::shared_ptr<JobLogSink> job_log = JobLogSink::InstallOnDefaultLogger(kJobLogLimitBytes);
  StatusOr<std::string> token = ResolveToken(options.token_file);
  if (!token.ok()) {
    spdlog::error("qatlab-worker: {}", DescribeStatus(token.status()));
    return 1;
  }
  StatusOr<ChannelSecurity> security = LoadChannelSecurity(options.tls);
  if (!security.ok()) {
    spdlog::error("qatlab-worker: {}", DescribeStatus(security.status()));
    return 1;
  }
  StatusOr<std::unique_ptr<StopSignal>> stop_signal = StopSignal::Install();
  if (!stop_signal.ok()) {
    spdlog::error("qatlab-worker: {}", DescribeStatus(stop_signal.status()));
    return 1;
  }
  auto worker = std::make_shared<RemoteWorker>(options, *token, std::move(*security), std::move(job_log));
  (*stop_signal)->OnSignal([worker](int signal_number) { worker->Shutdown(signal_number); });
  const int exit_status = worker->Run();
  worker->MarkFinished();
  stop_signal->reset();  // ends the signal thread
  return exit_status;
}

}  // namespace qatlab
