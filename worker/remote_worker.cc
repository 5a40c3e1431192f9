#include "worker/remote_worker.h"

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <filesystem>
#include <fstream>
#include <memory>
#include <mutex>
#include <random>
#include <thread>

#include <grpcpp/grpcpp.h>
#include <spdlog/spdlog.h>

#include "server_client/server_link.h"
#include "digest/sha256.h"
#include "engine/experiment.h"
#include "data/mnist.h"
#include "qatlab/v1/worker.grpc.pb.h"

namespace qatlab {
namespace {

using SteadyClock = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr size_t kUploadChunkBytes = 256 * 1024;
constexpr int kHeartbeatTimeoutMs = 5000;
// The server decides how often to heartbeat (LeaseJobResponse
// heartbeat_interval_ms: often enough that a cancel stops the job within a
// second); the worker only refuses to hammer it.
constexpr int kMinHeartbeatIntervalMs = 10;
// Used when a server names no interval: a cancel must still be heard within
// about a second.
constexpr int kDefaultHeartbeatIntervalMs = 1000;
constexpr int kUnaryTimeoutMs = 30000;
// A long poll may take wait_ms; beyond that, this much more means the server
// is not there (the call waits for a connection meanwhile).
constexpr int kLeaseSlackMs = 5000;
// After SIGTERM, how long the engine may take to stop before the job is given
// back without it and the process leaves.
constexpr auto kShutdownGrace = std::chrono::seconds(5);
// How long a finished job waits for its last epochs' progress to reach the
// server before completing anyway.
constexpr auto kProgressFlushWait = std::chrono::seconds(3);
constexpr const char* kDatasetPrefix = "dataset:";

std::string DefaultWorkerId() {
  char host[256] = {};
  if (gethostname(host, sizeof(host) - 1) != 0 || host[0] == '\0') std::snprintf(host, sizeof(host), "worker");
  return std::string(host) + "-" + std::to_string(getpid());
}

// Exponential back-off with jitter for reaching a server that is away:
// 200 ms doubling to 5 s.
class Backoff {
 public:
  milliseconds Next() {
    milliseconds current = next_;
    next_ = std::min(next_ * 2, milliseconds(5000));
    std::uniform_int_distribution<int64_t> jitter(0, current.count() / 5);
    return current + milliseconds(jitter(random_));
  }
  void Reset() { next_ = milliseconds(200); }

 private:
  milliseconds next_{200};
  std::mt19937_64 random_{std::random_device{}()};
};

// Why a running job stops before the engine is done with it.
enum class StopReason { kNone, kCancelled, kLeaseLost, kShutdown };

const char* StopReasonText(StopReason reason) {
  switch (reason) {
    case StopReason::kNone: return "running";
    case StopReason::kCancelled: return "cancelled";
    case StopReason::kLeaseLost: return "lease lost";
    case StopReason::kShutdown: return "worker shutting down";
  }
  return "?";
}

// One leased job, shared by the thread running the engine, its heartbeat
// thread and the signal thread.
class JobRun {
 public:
  JobRun(std::string job_id, std::string lease_id, milliseconds heartbeat_interval)
      : job_id_(std::move(job_id)), lease_id_(std::move(lease_id)), heartbeat_interval_(heartbeat_interval) {}

  const std::string& job_id() const { return job_id_; }
  const std::string& lease_id() const { return lease_id_; }
  milliseconds heartbeat_interval() const { return heartbeat_interval_; }

  // The engine's progress callback: finished epochs are queued for the
  // heartbeat thread (the engine never waits for the network). Returns false
  // once the job must stop.
  bool OnProgress(const ProgressEvent& event) {
    std::lock_guard lock(mutex_);
    if (event.end_of_epoch) {
      pending_progress_.push_back(event.stats);
      changed_.notify_all();
    }
    return stop_reason_ == StopReason::kNone;
  }

  // The first reason given wins.
  void RequestStop(StopReason reason) {
    std::lock_guard lock(mutex_);
    if (stop_reason_ == StopReason::kNone) stop_reason_ = reason;
    changed_.notify_all();
  }
  StopReason stop_reason() {
    std::lock_guard lock(mutex_);
    return stop_reason_;
  }

  // Exactly one caller gets true: the one that reports how the job ended
  // (complete, fail, give back). The others must leave the job alone.
  bool ClaimSettlement() { return !settled_.exchange(true); }

  // --- heartbeat thread ---
  // Waits until there is progress to send, the interval passed, or the
  // heartbeats are to end. Returns false when they are to end; otherwise
  // `progress` holds the next unsent epoch, if any (left queued until
  // MarkProgressSent).
  bool WaitForBeat(milliseconds interval, std::optional<v1::EpochStats>* progress) {
    std::unique_lock lock(mutex_);
    changed_.wait_for(lock, interval, [&] { return !pending_progress_.empty() || heartbeats_over_; });
    if (heartbeats_over_) return false;
    progress->reset();
    if (!pending_progress_.empty()) *progress = pending_progress_.front();
    return true;
  }
  void MarkProgressSent() {
    std::lock_guard lock(mutex_);
    if (!pending_progress_.empty()) pending_progress_.pop_front();
    changed_.notify_all();
  }
  void EndHeartbeats() {
    std::lock_guard lock(mutex_);
    heartbeats_over_ = true;
    changed_.notify_all();
  }

  // --- job thread ---
  // Waits (at most `limit`) until every queued epoch was delivered or the job
  // is stopping.
  void WaitForProgressDelivered(milliseconds limit) {
    std::unique_lock lock(mutex_);
    changed_.wait_for(lock, limit,
                      [&] { return pending_progress_.empty() || stop_reason_ != StopReason::kNone; });
  }

 private:
  const std::string job_id_;
  const std::string lease_id_;
  const milliseconds heartbeat_interval_;
  std::atomic<bool> settled_{false};

  std::mutex mutex_;
  std::condition_variable changed_;
  std::deque<v1::EpochStats> pending_progress_;  // guarded by mutex_
  StopReason stop_reason_ = StopReason::kNone;    // guarded by mutex_
  bool heartbeats_over_ = false;                  // guarded by mutex_
};

class RemoteWorker {
 public:
  RemoteWorker(const RemoteWorkerOptions& options, std::string token)
      : options_(options),
        token_(std::move(token)),
        worker_id_(options.worker_id.empty() ? DefaultWorkerId() : options.worker_id),
        data_cache_dir_(options.data_cache_dir.empty() ? DefaultDataCacheDir() : options.data_cache_dir),
        stub_(v1::WorkerService::NewStub(OpenServerChannel(options.server_address))) {}

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
  // Every worker call waits for the channel to (re)connect rather than
  // failing at once while gRPC backs off between attempts: a restarted
  // server then hears from its workers as soon as it listens. Deadlines
  // bound the wait.
  void Prepare(grpc::ClientContext* context, int timeout_ms) const {
    PrepareCall(context, token_, timeout_ms);
    context->set_wait_for_ready(true);
  }

  void RunJob(const v1::LeaseJobResponse& lease);
  void HeartbeatLoop(JobRun& run);
  Status FetchDatasets(v1::JobSpec* spec, JobRun& run);
  StatusOr<std::string> FetchDataset(const std::string& name);
  Status UploadArtifact(JobRun& run, const VariantArtifact& artifact);
  void Complete(JobRun& run, const ExperimentOutput& output);
  // FailJob with retries on transient failures (bounded in time).
  void ReportFailure(JobRun& run, const std::string& error, bool retryable);

  const RemoteWorkerOptions options_;
  const std::string token_;
  const std::string worker_id_;
  const std::string data_cache_dir_;
  std::unique_ptr<v1::WorkerService::Stub> stub_;

  std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;                      // guarded by mutex_
  bool finished_ = false;                      // guarded by mutex_
  grpc::ClientContext* lease_call_ = nullptr;  // guarded by mutex_; the long poll in flight
  std::shared_ptr<JobRun> current_job_;        // guarded by mutex_
};

int RemoteWorker::Run() {
  spdlog::info("worker {}: serving jobs from {}", worker_id_, options_.server_address);
  Backoff backoff;
  int failures = 0;
  while (!Stopping()) {
    v1::LeaseJobRequest request;
    request.set_worker_id(worker_id_);
    request.set_wait_ms(options_.lease_wait_ms);
    v1::LeaseJobResponse response;
    grpc::ClientContext context;
    Prepare(&context, options_.lease_wait_ms + kLeaseSlackMs);
    {
      std::lock_guard lock(mutex_);
      if (stopping_) break;
      lease_call_ = &context;
    }
    grpc::Status status = stub_->LeaseJob(&context, request, &response);
    {
      std::lock_guard lock(mutex_);
      lease_call_ = nullptr;
    }
    if (!status.ok()) {
      if (Stopping()) break;
      if (status.error_code() == grpc::StatusCode::UNAUTHENTICATED ||
          status.error_code() == grpc::StatusCode::PERMISSION_DENIED) {
        spdlog::error("worker {}: the server refuses this worker: {}", worker_id_, DescribeRpcError(status));
        return 1;
      }
      // Log the first failure of a run and then every tenth: a server that is
      // away for a minute should not flood the log.
      if (failures++ % 10 == 0) {
        spdlog::warn("worker {}: LeaseJob failed ({}); retrying", worker_id_,
                     DescribeRpcError(status, options_.server_address));
      }
      SleepUnlessStopping(backoff.Next());
      continue;
    }
    if (failures > 0) spdlog::info("worker {}: connected to {}", worker_id_, options_.server_address);
    failures = 0;
    backoff.Reset();
    if (!response.has_job() || response.job().id().empty()) continue;
    RunJob(response);
  }
  spdlog::info("worker {}: stopped", worker_id_);
  return 0;
}

void RemoteWorker::RunJob(const v1::LeaseJobResponse& lease) {
  const v1::Job& job = lease.job();
  const int interval_ms =
      lease.heartbeat_interval_ms() > 0 ? std::max(lease.heartbeat_interval_ms(), kMinHeartbeatIntervalMs)
                                        : kDefaultHeartbeatIntervalMs;
  auto run = std::make_shared<JobRun>(job.id(), lease.lease_id(), milliseconds(interval_ms));
  {
    std::lock_guard lock(mutex_);
    current_job_ = run;
    if (stopping_) run->RequestStop(StopReason::kShutdown);
  }
  spdlog::info("worker {}: leased job {} (attempt {}, heartbeat every {} ms)", worker_id_, job.id(), job.attempt(),
               interval_ms);

  std::thread heartbeats([this, run] { HeartbeatLoop(*run); });

  v1::JobSpec spec = job.spec();
  Status data_status = FetchDatasets(&spec, *run);
  std::optional<StatusOr<ExperimentOutput>> output;
  if (data_status.ok()) {
    ExperimentOptions engine_options;
    engine_options.data_cache_dir = data_cache_dir_;
    engine_options.threads = options_.threads;
    output.emplace(RunExperiment(spec, engine_options, [&run](const ProgressEvent& event) {
      return run->OnProgress(event);
    }));
  } else {
    output.emplace(data_status);
  }

  StopReason reason = run->stop_reason();
  if (run->ClaimSettlement()) {
    if (reason == StopReason::kShutdown) {
      ReportFailure(*run, "worker " + worker_id_ + " shut down before the job finished", /*retryable=*/true);
    } else if (reason != StopReason::kNone) {
      // The server already decided (cancelled, or re-queued after the lease
      // expired): reporting anything now would be refused, so say nothing.
      spdlog::info("worker {}: job {} stopped: {}", worker_id_, job.id(), StopReasonText(reason));
    } else if (!output->ok()) {
      const Status& error = output->status();
      // A data set the server could not hand out now may be there later;
      // everything else (bad spec, corrupt data, engine failure) will fail
      // again the same way.
      bool retryable = error.code() == StatusCode::kUnavailable;
      spdlog::warn("worker {}: job {} failed: {}", worker_id_, job.id(), error.ToString());
      ReportFailure(*run, error.ToString(), retryable);
    } else {
      run->WaitForProgressDelivered(std::chrono::duration_cast<milliseconds>(kProgressFlushWait));
      Complete(*run, output->value());
    }
  }
  run->EndHeartbeats();
  heartbeats.join();
  std::lock_guard lock(mutex_);
  current_job_.reset();
  wake_.notify_all();
}

void RemoteWorker::HeartbeatLoop(JobRun& run) {
  milliseconds wait = run.heartbeat_interval();
  int failures = 0;
  std::optional<v1::EpochStats> progress;
  while (run.WaitForBeat(wait, &progress)) {
    v1::HeartbeatRequest request;
    request.set_job_id(run.job_id());
    request.set_lease_id(run.lease_id());
    if (progress) *request.mutable_progress() = *progress;
    v1::HeartbeatResponse response;
    grpc::ClientContext context;
    Prepare(&context, kHeartbeatTimeoutMs);
    grpc::Status status = stub_->Heartbeat(&context, request, &response);
    wait = run.heartbeat_interval();
    if (status.ok()) {
      failures = 0;
      if (progress) run.MarkProgressSent();
      if (response.cancelled()) {
        spdlog::info("worker {}: job {} cancelled by the server", worker_id_, run.job_id());
        run.RequestStop(StopReason::kCancelled);
      } else if (response.lease_lost()) {
        spdlog::warn("worker {}: job {}: lease lost", worker_id_, run.job_id());
        run.RequestStop(StopReason::kLeaseLost);
      }
      continue;
    }
    if (status.error_code() == grpc::StatusCode::FAILED_PRECONDITION ||
        status.error_code() == grpc::StatusCode::NOT_FOUND) {
      // The lease is no longer this worker's: the job was re-queued,
      // finished elsewhere, or cancelled.
      spdlog::warn("worker {}: job {}: heartbeat refused ({}); stopping", worker_id_, run.job_id(),
                   DescribeRpcError(status));
      run.RequestStop(StopReason::kLeaseLost);
      if (progress) run.MarkProgressSent();
      continue;
    }
    // The server is away: keep training, keep trying, a little faster than
    // the interval so a restarted server hears from us before the deadline.
    if (failures++ % 10 == 0) {
      spdlog::warn("worker {}: job {}: heartbeat failed ({}); retrying", worker_id_, run.job_id(),
                   DescribeRpcError(status, options_.server_address));
    }
    wait = std::min(run.heartbeat_interval(), milliseconds(500));
    // Progress that cannot be delivered must not hold up the next attempt's
    // plain beat, but it stays queued and goes out once the server answers.
    std::this_thread::sleep_for(milliseconds(100));
  }
}

Status RemoteWorker::FetchDatasets(v1::JobSpec* spec, JobRun& run) {
  v1::DataSpec* data = spec->mutable_data();
  std::string* paths[] = {data->mutable_train_images(), data->mutable_train_labels(), data->mutable_test_images(),
                          data->mutable_test_labels()};
  for (std::string* path : paths) {
    if (path->rfind(kDatasetPrefix, 0) != 0) continue;
    if (run.stop_reason() != StopReason::kNone) return Status::Cancelled("job stopped while fetching data");
    std::string name = path->substr(std::string(kDatasetPrefix).size());
    StatusOr<std::string> local = FetchDataset(name);
    if (!local.ok()) return local.status().WithContext("data set " + name);
    *path = *local;
  }
  return Status::Ok();
}

StatusOr<std::string> RemoteWorker::FetchDataset(const std::string& name) {
  std::filesystem::path directory = std::filesystem::path(data_cache_dir_) / "datasets";
  std::error_code error;
  std::filesystem::create_directories(directory, error);
  if (error) return Status::IOError("cannot create " + directory.string() + ": " + error.message());

  v1::FetchDatasetRequest request;
  request.set_name(name);
  grpc::ClientContext context;
  Prepare(&context, 10 * 60 * 1000);
  std::unique_ptr<grpc::ClientReader<v1::ArtifactChunk>> reader = stub_->FetchDataset(&context, request);
  v1::ArtifactChunk chunk;
  if (!reader->Read(&chunk)) {
    grpc::Status status = reader->Finish();
    if (status.error_code() == grpc::StatusCode::NOT_FOUND) return Status::NotFound(DescribeRpcError(status));
    if (IsTransientRpcError(status)) return Status::Unavailable(DescribeRpcError(status));
    return Status::IOError(status.ok() ? "the server sent nothing" : DescribeRpcError(status));
  }
  const std::string announced_sha256 = chunk.sha256();
  const int64_t announced_size = chunk.size();
  if (IsSha256Hex(announced_sha256)) {
    std::filesystem::path cached = directory / announced_sha256;
    // Files enter the cache by rename after their sum was checked, so one
    // that exists is complete.
    if (std::filesystem::exists(cached)) {
      context.TryCancel();
      reader->Finish().ok();
      spdlog::info("worker {}: data set {} from the cache ({})", worker_id_, name, cached.string());
      return cached.string();
    }
  }
  // Data set names may hold any character; the temporary file's must not.
  std::filesystem::path partial = directory / (".partial-" + std::to_string(getpid()) + "-" + Sha256Hex(name));
  std::ofstream out(partial, std::ios::binary | std::ios::trunc);
  if (!out) return Status::IOError("cannot write " + partial.string());
  Sha256 digest;
  int64_t received = 0;
  do {
    digest.Update(chunk.data());
    out.write(chunk.data().data(), static_cast<std::streamsize>(chunk.data().size()));
    received += static_cast<int64_t>(chunk.data().size());
  } while (reader->Read(&chunk));
  grpc::Status status = reader->Finish();
  out.close();
  auto discard = [&] { std::filesystem::remove(partial, error); };
  if (!status.ok()) {
    discard();
    if (IsTransientRpcError(status)) return Status::Unavailable(DescribeRpcError(status));
    return Status::IOError(DescribeRpcError(status));
  }
  if (!out) {
    discard();
    return Status::IOError("error writing " + partial.string());
  }
  std::string actual = digest.FinishHex();
  if (!announced_sha256.empty() && actual != announced_sha256) {
    discard();
    return Status::Corruption("sha256 " + actual + " does not match the announced " + announced_sha256);
  }
  if (announced_size > 0 && received != announced_size) {
    discard();
    return Status::Corruption("received " + std::to_string(received) + " bytes, expected " +
                              std::to_string(announced_size));
  }
  std::filesystem::path cached = directory / actual;
  std::filesystem::rename(partial, cached, error);
  if (error) return Status::IOError("cannot write " + cached.string() + ": " + error.message());
  spdlog::info("worker {}: fetched data set {} ({} bytes) into {}", worker_id_, name, received, cached.string());
  return cached.string();
}

Status RemoteWorker::UploadArtifact(JobRun& run, const VariantArtifact& artifact) {
  std::string_view bytes(reinterpret_cast<const char*>(artifact.qmodel.data()), artifact.qmodel.size());
  const std::string sha256 = Sha256Hex(bytes);
  Backoff backoff;
  while (true) {
    grpc::ClientContext context;
    Prepare(&context, 5 * 60 * 1000);
    v1::UploadArtifactResponse response;
    std::unique_ptr<grpc::ClientWriter<v1::UploadArtifactRequest>> writer = stub_->UploadArtifact(&context, &response);
    v1::UploadArtifactRequest header;
    header.mutable_header()->set_job_id(run.job_id());
    header.mutable_header()->set_lease_id(run.lease_id());
    header.mutable_header()->set_name(artifact.file_name);
    header.mutable_header()->set_sha256(sha256);
    header.mutable_header()->set_size(static_cast<int64_t>(bytes.size()));
    bool open = writer->Write(header);
    for (size_t offset = 0; open && offset < bytes.size(); offset += kUploadChunkBytes) {
      v1::UploadArtifactRequest chunk;
      chunk.set_chunk(std::string(bytes.substr(offset, kUploadChunkBytes)));
      open = writer->Write(chunk);
    }
    writer->WritesDone();
    grpc::Status status = writer->Finish();
    if (status.ok()) return Status::Ok();
    if (!IsTransientRpcError(status)) return Status::FailedPrecondition(DescribeRpcError(status));
    if (run.stop_reason() != StopReason::kNone || Stopping()) return Status::Cancelled("stopped while uploading");
    SleepUnlessStopping(backoff.Next());
  }
}

void RemoteWorker::Complete(JobRun& run, const ExperimentOutput& output) {
  v1::JobResult result = output.result;
  for (const VariantArtifact& artifact : output.artifacts) {
    // The result names each variant's model by the digest of the bytes the
    // server now holds, whatever the engine filled in.
    std::string sha256 =
        Sha256Hex(std::string_view(reinterpret_cast<const char*>(artifact.qmodel.data()), artifact.qmodel.size()));
    for (auto& variant : *result.mutable_variants()) {
      if (variant.artifact() == artifact.file_name) variant.set_artifact_sha256(sha256);
    }
    Status uploaded = UploadArtifact(run, artifact);
    if (!uploaded.ok()) {
      // Without its artifacts the result is incomplete; the lease runs out
      // and the job is re-run rather than finished half-way.
      spdlog::warn("worker {}: job {}: upload of {} failed: {}", worker_id_, run.job_id(), artifact.file_name,
                   uploaded.ToString());
      return;
    }
  }
  Backoff backoff;
  while (true) {
    v1::CompleteJobRequest request;
    request.set_job_id(run.job_id());
    request.set_lease_id(run.lease_id());
    *request.mutable_result() = result;
    v1::CompleteJobResponse response;
    grpc::ClientContext context;
    Prepare(&context, kUnaryTimeoutMs);
    grpc::Status status = stub_->CompleteJob(&context, request, &response);
    if (status.ok()) {
      spdlog::info("worker {}: job {} completed ({} variants, {:.1f} s)", worker_id_, run.job_id(),
                   result.variants_size(), result.total_seconds());
      return;
    }
    if (!IsTransientRpcError(status)) {
      // Typically FAILED_PRECONDITION: the lease expired while the server was
      // away and the job went back to the queue; it will finish elsewhere.
      spdlog::warn("worker {}: job {}: completion refused: {}", worker_id_, run.job_id(), DescribeRpcError(status));
      return;
    }
    if (Stopping()) return;
    SleepUnlessStopping(backoff.Next());
  }
}

void RemoteWorker::ReportFailure(JobRun& run, const std::string& error, bool retryable) {
  Backoff backoff;
  auto give_up_at = SteadyClock::now() + std::chrono::seconds(retryable ? 3 : 30);
  while (true) {
    v1::FailJobRequest request;
    request.set_job_id(run.job_id());
    request.set_lease_id(run.lease_id());
    request.set_error(error);
    request.set_retryable(retryable);
    v1::FailJobResponse response;
    grpc::ClientContext context;
    Prepare(&context, 3000);
    grpc::Status status = stub_->FailJob(&context, request, &response);
    if (status.ok()) {
      spdlog::info("worker {}: job {} {}", worker_id_, run.job_id(),
                   retryable ? "given back to the queue" : "reported failed");
      return;
    }
    if (!IsTransientRpcError(status) || SteadyClock::now() > give_up_at) {
      // The lease will expire and the server re-queues the job: nothing is
      // lost, the job only starts later.
      spdlog::warn("worker {}: job {}: FailJob not delivered: {}", worker_id_, run.job_id(), DescribeRpcError(status));
      return;
    }
    std::this_thread::sleep_for(std::min(backoff.Next(), milliseconds(500)));
  }
}

void RemoteWorker::Shutdown(int signal_number) {
  std::shared_ptr<JobRun> job;
  {
    std::lock_guard lock(mutex_);
    if (finished_) return;
    if (!stopping_) spdlog::info("worker {}: signal {}: stopping", worker_id_, signal_number);
    stopping_ = true;
    if (lease_call_ != nullptr) lease_call_->TryCancel();
    job = current_job_;
    wake_.notify_all();
  }
  if (job) job->RequestStop(StopReason::kShutdown);
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

// SIGTERM and SIGINT are turned into bytes on a pipe by an async-signal-safe
// handler and acted on by a thread of our own, which may then lock, log and
// call the server. A handler (rather than a blocked mask and sigwait) holds
// whichever thread the kernel picks, including threads that libraries
// started before main.
int g_signal_pipe[2] = {-1, -1};

void ForwardSignal(int signal_number) {
  int saved_errno = errno;
  unsigned char byte = static_cast<unsigned char>(signal_number);
  [[maybe_unused]] ssize_t written = write(g_signal_pipe[1], &byte, 1);
  errno = saved_errno;
}

}  // namespace

int RunRemoteWorker(const RemoteWorkerOptions& options) {
  StatusOr<std::string> token = ResolveToken(options.token_file);
  if (!token.ok()) {
    spdlog::error("qatlab-worker: {}", DescribeStatus(token.status()));
    return 1;
  }
  if (pipe2(g_signal_pipe, O_CLOEXEC) != 0) {
    spdlog::error("qatlab-worker: cannot create the signal pipe: {}", std::strerror(errno));
    return 1;
  }
  struct sigaction action {};
  action.sa_handler = ForwardSignal;
  sigemptyset(&action.sa_mask);
  action.sa_flags = SA_RESTART;
  sigaction(SIGTERM, &action, nullptr);
  sigaction(SIGINT, &action, nullptr);
  // Undo a mask inherited from the parent (a supervisor may block SIGTERM).
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_UNBLOCK, &signals, nullptr);

  auto worker = std::make_shared<RemoteWorker>(options, *token);
  std::thread signal_thread([worker] {
    while (true) {
      unsigned char byte = 0;
      ssize_t got = read(g_signal_pipe[0], &byte, 1);
      if (got < 0 && errno == EINTR) continue;
      // Byte 0 is RunRemoteWorker saying the worker has finished.
      if (got <= 0 || byte == 0) return;
      worker->Shutdown(byte);
    }
  });
  int exit_status = worker->Run();
  worker->MarkFinished();
  unsigned char done = 0;
  [[maybe_unused]] ssize_t written = write(g_signal_pipe[1], &done, 1);
  signal_thread.join();
  return exit_status;
}

}  // namespace qatlab
