// The calls a lease holder makes to qatlab-server: the worker (jobs) and the
// agent (measurements) are loops over this one client:
//   lease (long poll) -> heartbeat (LeaseKeeper) -> upload / download
//   (checked) -> complete or fail.
// Every failure comes back as a Status (FromRpcStatus): kUnavailable means
// the server was away or slow and the call is worth repeating; anything else
// is the server's answer.
// Thread-safety: all methods may be called from any thread (gRPC stubs are
// thread-safe); CancelLeases() is meant for a signal thread.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include <grpcpp/channel.h>
#include <grpcpp/client_context.h>

#include "qatlab/v1/experiment.grpc.pb.h"
#include "qatlab/v1/worker.grpc.pb.h"
#include "retry/backoff.h"
#include "server_client/server_link.h"
#include "status/status.h"

namespace qatlab {

struct LeaseClientOptions {
  std::string address;  // host:port
  std::string token;    // empty: no authorization header (a worker token: WorkerService only)
  // Calls wait for the channel to (re)connect instead of failing at once
  // while gRPC backs off between attempts (deadlines bound the wait): a
  // restarted server hears from its clients as soon as it listens.
  bool wait_for_ready = false;
  ChannelSecurity security;  // TLS or not (server_link.h)
};

// How a job spec names files uploaded to the server (job.proto):
// "dataset:<name>" as a DataSpec path, "model:<name>" as ModelSpec.onnx.
inline constexpr std::string_view kUploadedDatasetPrefix = "dataset:";
inline constexpr std::string_view kUploadedModelPrefix = "model:";

class LeaseClient {
 public:
  explicit LeaseClient(LeaseClientOptions options);

  const std::string& address() const { return options_.address; }

  // --- jobs (qatlab-worker) ---
  // The long poll; a response without a job means none came in `wait_ms`.
  StatusOr<v1::LeaseJobResponse> LeaseJob(const std::string& worker_id, int wait_ms);
  StatusOr<v1::HeartbeatResponse> HeartbeatJob(const std::string& job_id, const std::string& lease_id,
                                               const v1::EpochStats* progress);
  // Sends `bytes` with their size and sha256 (the server checks both).
  Status UploadArtifact(const std::string& job_id, const std::string& lease_id, const std::string& name,
                        std::string_view bytes);
  Status CompleteJob(const std::string& job_id, const std::string& lease_id, const v1::JobResult& result);
  Status FailJob(const std::string& job_id, const std::string& lease_id, const std::string& error, bool retryable);
  // The data set `name` as a file in `cache_directory`, named by its sha256:
  // fetched (checked) unless a file of the announced sha256 is already
  // there. Files enter the cache by rename after their sum was checked, so
  // one that exists is complete. Returns the file's path.
  StatusOr<std::string> FetchDataset(const std::string& name, const std::string& cache_directory);
  // The uploaded model `name` ("model:<name>" in a spec), cached the same way.
  StatusOr<std::string> FetchModel(const std::string& name, const std::string& cache_directory);
  // Replaces each "dataset:<name>" path of `data` by its cached copy in
  // `cache_directory` (FetchDataset), so the loaders read local files: what
  // a worker does before it trains and an agent before it measures.
  // `keep_going`, when given, is asked before each download (false:
  // Cancelled).
  Status ResolveUploadedDatasets(v1::DataSpec* data, const std::string& cache_directory,
                                 const std::function<bool()>& keep_going = {});

  // --- measurements (qatlab-agent) ---
  StatusOr<v1::Device> RegisterDevice(const v1::Device& device);
  StatusOr<v1::LeaseMeasurementResponse> LeaseMeasurement(const std::string& device_id, int wait_ms);
  StatusOr<v1::HeartbeatResponse> HeartbeatMeasurement(const std::string& measurement_id, const std::string& lease_id);
  Status CompleteMeasurement(const std::string& measurement_id, const std::string& lease_id,
                             const v1::MeasurementResult& result);
  Status FailMeasurement(const std::string& measurement_id, const std::string& lease_id, const std::string& error,
                         bool retryable);
  StatusOr<v1::Job> GetJob(const std::string& job_id);
  // The artifact's bytes, checked against the announced size and sha256.
  StatusOr<std::string> DownloadArtifact(const std::string& job_id, const std::string& name);

  // Cuts the long poll in flight short and makes later ones fail at once
  // with kCancelled: the holder is stopping.
  void CancelLeases();

 private:
  void Prepare(grpc::ClientContext* context, int timeout_ms) const;
  // One call with a deadline: `call(context, response)`; the response, or the
  // failure as FromRpcStatus with `what`.
  template <typename Response, typename Call>
  StatusOr<Response> Unary(int timeout_ms, const std::string& what, Call call);
  // A long poll of `wait_ms`: `call(context, response)` runs with its context
  // registered for CancelLeases().
  template <typename Response, typename Call>
  StatusOr<Response> LongPoll(int wait_ms, const char* what, Call call);
  // FetchDataset and FetchModel: `open(context)` starts the download stream.
  using OpenFetch = std::function<std::unique_ptr<grpc::ClientReader<v1::ArtifactChunk>>(grpc::ClientContext*)>;
  StatusOr<std::string> FetchIntoCache(const std::string& name, const std::string& cache_directory,
                                       const std::string& what, const OpenFetch& open);

  const LeaseClientOptions options_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::WorkerService::Stub> workers_;

  std::mutex lease_mutex_;
  grpc::ClientContext* lease_call_ = nullptr;  // guarded by lease_mutex_
  bool leases_cancelled_ = false;              // guarded by lease_mutex_
};

// Repeats `call` while it fails with kUnavailable, pausing `backoff.Next()`
// between attempts, until it succeeds, fails otherwise, or `give_up_after`
// has passed. `pause(wait)` waits and returns false when the caller is
// stopping, which ends the retries (default: sleeps). Returns the last
// Status. For reports (complete, fail, upload) that must outlive a short
// server restart.
Status RetryWhileUnavailable(const std::function<Status()>& call, Backoff backoff,
                             std::chrono::milliseconds give_up_after,
                             const std::function<bool(std::chrono::milliseconds)>& pause = {});

}  // namespace qatlab
