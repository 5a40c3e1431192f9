#include "server/rpc/worker_service.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>

#include "server/rpc/blob_transfer.h"
#include "server/rpc/device_rpcs.h"
#include "server/rpc/experiment_service.h"
#include "server/rpc/grpc_status.h"

namespace qatlab::server {

namespace {

// A long poll wakes at least this often to notice a client that went away.
constexpr std::chrono::milliseconds kLeaseSlice{200};
// A worker id names a process in logs and in jobs: a host name and a number.
constexpr size_t kMaxWorkerIdBytes = 128;

grpc::Status Invalid(const std::string& message) { return ToGrpcStatus(Status::InvalidArgument(message)); }

grpc::Status RequireLeaseFields(const std::string& job_id, const std::string& lease_id) {
  if (job_id.empty()) return Invalid("job_id: empty");
  if (lease_id.empty()) return Invalid("lease_id: empty; use the lease_id LeaseJob returned");
  return grpc::Status::OK;
}

}  // namespace

LeaseClaim WorkerService::Claim(const grpc::ServerContext& context, const std::string& lease_id) const {
  return {lease_id, deps_.authenticator.Holder(context)};
}

grpc::Status WorkerService::LeaseJob(grpc::ServerContext* context, const v1::LeaseJobRequest* request,
                                     v1::LeaseJobResponse* response) {
  if (grpc::Status auth = deps_.authenticator.Check(*context); !auth.ok()) return auth;
  if (request->worker_id().empty()) return Invalid("worker_id: empty; name the worker (e.g. local-1)");
  if (request->worker_id().size() > kMaxWorkerIdBytes) {
    return Invalid(fmt::format("worker_id: {} bytes; at most {}", request->worker_id().size(), kMaxWorkerIdBytes));
  }
  if (request->wait_ms() < 0) return Invalid(fmt::format("wait_ms: {} is negative", request->wait_ms()));
  const int wait_ms = std::min(request->wait_ms(), deps_.limits.max_lease_wait_ms);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(wait_ms);
  // The server decides how often workers beat (HeartbeatIntervalMs): often
  // enough for a cancel to stop a job within a second.
  response->set_heartbeat_interval_ms(static_cast<int32_t>(deps_.store.heartbeat_interval_ms()));
  while (!deps_.draining.load()) {
    // Read the generation before looking, so a submission that lands between
    // the look and the wait still wakes us.
    const uint64_t generation = deps_.notifier.QueueGeneration();
    StatusOr<std::optional<JobLease>> lease =
        deps_.store.LeaseNext(request->worker_id(), deps_.authenticator.Holder(*context));
    if (!lease.ok()) return ToGrpcStatus(lease.status());
    if (lease->has_value()) {
      JobLease& granted = **lease;
      *response->mutable_job() = std::move(granted.job);
      response->set_lease_id(granted.lease_id);
      response->set_lease_deadline_unix_ms(granted.deadline_unix_ms);
      return grpc::Status::OK;
    }
    const auto now = std::chrono::steady_clock::now();
    if (now >= deadline || context->IsCancelled()) break;
    auto slice = std::min<std::chrono::steady_clock::duration>(deadline - now, kLeaseSlice);
    deps_.notifier.WaitForQueueChange(
        generation, std::chrono::duration_cast<std::chrono::milliseconds>(slice) + std::chrono::milliseconds(1));
  }
  return grpc::Status::OK;  // no job within wait_ms: an empty response
}

grpc::Status WorkerService::Heartbeat(grpc::ServerContext* context, const v1::HeartbeatRequest* request,
                                      v1::HeartbeatResponse* response) {
  if (grpc::Status auth = deps_.authenticator.Check(*context); !auth.ok()) return auth;
  if (grpc::Status s = RequireLeaseFields(request->job_id(), request->lease_id()); !s.ok()) return s;
  StatusOr<HeartbeatOutcome> outcome = deps_.store.Heartbeat(request->job_id(), Claim(*context, request->lease_id()),
                                                             request->has_progress() ? &request->progress() : nullptr);
  if (!outcome.ok()) return ToGrpcStatus(outcome.status());
  response->set_cancelled(outcome->cancelled);
  response->set_lease_lost(outcome->lease_lost);
  response->set_lease_deadline_unix_ms(outcome->deadline_unix_ms);
  return grpc::Status::OK;
}

grpc::Status WorkerService::CompleteJob(grpc::ServerContext* context, const v1::CompleteJobRequest* request,
                                        v1::CompleteJobResponse*) {
  if (grpc::Status auth = deps_.authenticator.Check(*context); !auth.ok()) return auth;
  if (grpc::Status s = RequireLeaseFields(request->job_id(), request->lease_id()); !s.ok()) return s;
  const LeaseClaim claim = Claim(*context, request->lease_id());
  // Before looking at the result: another token's lease learns nothing of the
  // job's artifacts.
  if (Status s = deps_.store.CheckLease(request->job_id(), claim); s.code() == StatusCode::kPermissionDenied) {
    return ToGrpcStatus(s);
  }
  if (!request->has_result()) return Invalid("result: missing; CompleteJob carries the JobResult");
  for (int i = 0; i < request->result().variants_size(); ++i) {
    const v1::VariantResult& v = request->result().variants(i);
    if (v.name().empty()) return Invalid(fmt::format("result.variants[{}].name: empty", i));
    if (!v.artifact_sha256().empty() && !IsSha256Hex(v.artifact_sha256())) {
      return Invalid(fmt::format("result.variants[{}].artifact_sha256: not a lowercase sha256 hex digest", i));
    }
    // A result may name only what was uploaded for this job: the results
    // must never point at a model nobody can download.
    if (!v.artifact().empty() || !v.artifact_sha256().empty()) {
      StatusOr<v1::Artifact> stored =
          deps_.catalogue.FindArtifact(request->job_id(), v.artifact(), v.artifact_sha256());
      if (!stored.ok() && stored.status().code() != StatusCode::kNotFound) return ToGrpcStatus(stored.status());
      if (!stored.ok() || (!v.artifact_sha256().empty() && stored->sha256() != v.artifact_sha256())) {
        return ToGrpcStatus(Status::FailedPrecondition(
            fmt::format("result.variants[{}].artifact: '{}' (sha256 '{}') was never uploaded for job {}; upload it "
                        "with UploadArtifact first",
                        i, v.artifact().substr(0, 128), v.artifact_sha256(), request->job_id().substr(0, 64))));
      }
    }
  }
  // The store queues what spec.measure_on asks for in the same transaction.
  return ToGrpcStatus(deps_.store.Complete(request->job_id(), claim, request->result()));
}

grpc::Status WorkerService::FailJob(grpc::ServerContext* context, const v1::FailJobRequest* request,
                                    v1::FailJobResponse*) {
  if (grpc::Status auth = deps_.authenticator.Check(*context); !auth.ok()) return auth;
  if (grpc::Status s = RequireLeaseFields(request->job_id(), request->lease_id()); !s.ok()) return s;
  std::string error = request->error().empty() ? "worker reported failure without a message" : request->error();
  return ToGrpcStatus(
      deps_.store.Fail(request->job_id(), Claim(*context, request->lease_id()), error, request->retryable()));
}

grpc::Status WorkerService::UploadArtifact(grpc::ServerContext* context,
                                           grpc::ServerReader<v1::UploadArtifactRequest>* reader,
                                           v1::UploadArtifactResponse* response) {
  if (grpc::Status auth = deps_.authenticator.Check(*context); !auth.ok()) return auth;
  v1::UploadArtifactRequest first;
  if (!reader->Read(&first)) return Invalid("upload: empty stream; send a header, then the data in chunks");
  if (first.part_case() != v1::UploadArtifactRequest::kHeader) {
    return Invalid("header: the first message of an upload must be the header");
  }
  const v1::ArtifactHeader& header = first.header();
  if (grpc::Status s = RequireLeaseFields(header.job_id(), header.lease_id()); !s.ok()) {
    return Invalid("header." + s.error_message());
  }
  if (header.name().empty() || header.name().size() > 256 || header.name().find('/') != std::string::npos) {
    return Invalid("header.name: give a file name (1..256 characters, no '/')");
  }
  UploadAnnouncement announced;
  if (Status s = CheckUploadHeader(header.sha256(), header.size(), deps_.limits.max_upload_bytes, &announced);
      !s.ok()) {
    return ToGrpcStatus(s);
  }
  // Refuse early (before reading megabytes) when the lease is another
  // token's or already stale.
  const LeaseClaim claim = Claim(*context, header.lease_id());
  if (Status s = deps_.store.CheckLease(header.job_id(), claim); !s.ok()) return ToGrpcStatus(s);
  int64_t received = 0;
  StatusOr<std::string> sha256 =
      ReceiveUploadBody(reader, deps_.artifacts, announced, deps_.limits.max_upload_bytes, &received);
  if (!sha256.ok()) return ToGrpcStatus(sha256.status().WithContext("artifact " + header.name()));
  StatusOr<v1::Artifact> artifact =
      deps_.catalogue.RecordArtifact(header.job_id(), claim, header.name(), *sha256, received);
  if (!artifact.ok()) return ToGrpcStatus(artifact.status());
  *response->mutable_artifact() = std::move(*artifact);
  return grpc::Status::OK;
}

grpc::Status WorkerService::FetchDataset(grpc::ServerContext* context, const v1::FetchDatasetRequest* request,
                                         grpc::ServerWriter<v1::ArtifactChunk>* writer) {
  if (grpc::Status auth = deps_.authenticator.Check(*context); !auth.ok()) return auth;
  if (request->name().empty()) return Invalid("name: empty; give the data set's name");
  StatusOr<v1::Dataset> dataset = deps_.catalogue.FindDataset(request->name());
  if (!dataset.ok()) return ToGrpcStatus(dataset.status());
  return SendBlob(deps_.artifacts, dataset->sha256(), dataset->name(), dataset->size(), context, writer);
}

grpc::Status WorkerService::FetchModel(grpc::ServerContext* context, const v1::FetchModelRequest* request,
                                       grpc::ServerWriter<v1::ArtifactChunk>* writer) {
  if (grpc::Status auth = deps_.authenticator.Check(*context); !auth.ok()) return auth;
  if (request->name().empty()) return Invalid("name: empty; give the model's name");
  StatusOr<v1::Model> model = deps_.catalogue.FindModel(request->name());
  if (!model.ok()) return ToGrpcStatus(model.status());
  return SendBlob(deps_.artifacts, model->sha256(), model->name(), model->size(), context, writer);
}

grpc::Status WorkerService::DownloadArtifact(grpc::ServerContext* context, const v1::DownloadArtifactRequest* request,
                                             grpc::ServerWriter<v1::ArtifactChunk>* writer) {
  if (grpc::Status auth = deps_.authenticator.Check(*context); !auth.ok()) return auth;
  return DownloadArtifactFrom(deps_, context, *request, writer);
}

grpc::Status WorkerService::GetJob(grpc::ServerContext* context, const v1::GetJobRequest* request, v1::Job* response) {
  if (grpc::Status auth = deps_.authenticator.Check(*context); !auth.ok()) return auth;
  if (request->id().empty()) return Invalid("id: empty; give a job id");
  StatusOr<v1::Job> job = deps_.store.Get(request->id());
  if (!job.ok()) return ToGrpcStatus(job.status());
  *response = std::move(*job);
  return grpc::Status::OK;
}

grpc::Status WorkerService::RegisterDevice(grpc::ServerContext* context, const v1::RegisterDeviceRequest* request,
                                           v1::RegisterDeviceResponse* response) {
  if (grpc::Status auth = deps_.authenticator.Check(*context); !auth.ok()) return auth;
  return device_rpcs::RegisterDevice(deps_.devices, *request, response);
}

grpc::Status WorkerService::LeaseMeasurement(grpc::ServerContext* context, const v1::LeaseMeasurementRequest* request,
                                             v1::LeaseMeasurementResponse* response) {
  if (grpc::Status auth = deps_.authenticator.Check(*context); !auth.ok()) return auth;
  return device_rpcs::LeaseMeasurement(deps_.devices, context, deps_.draining, deps_.limits.max_lease_wait_ms,
                                       deps_.authenticator.Holder(*context), *request, response);
}

grpc::Status WorkerService::HeartbeatMeasurement(grpc::ServerContext* context,
                                                 const v1::HeartbeatMeasurementRequest* request,
                                                 v1::HeartbeatResponse* response) {
  if (grpc::Status auth = deps_.authenticator.Check(*context); !auth.ok()) return auth;
  return device_rpcs::HeartbeatMeasurement(deps_.devices, deps_.authenticator.Holder(*context), *request, response);
}

grpc::Status WorkerService::CompleteMeasurement(grpc::ServerContext* context,
                                                const v1::CompleteMeasurementRequest* request,
                                                v1::CompleteJobResponse*) {
  if (grpc::Status auth = deps_.authenticator.Check(*context); !auth.ok()) return auth;
  return device_rpcs::CompleteMeasurement(deps_.devices, deps_.authenticator.Holder(*context), *request);
}

grpc::Status WorkerService::FailMeasurement(grpc::ServerContext* context, const v1::FailMeasurementRequest* request,
                                            v1::FailJobResponse*) {
  if (grpc::Status auth = deps_.authenticator.Check(*context); !auth.ok()) return auth;
  return device_rpcs::FailMeasurement(deps_.devices, deps_.authenticator.Holder(*context), *request);
}

}  // namespace qatlab::server
