#include "server_client/lease_client.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include <spdlog/spdlog.h>

#include "digest/sha256.h"
#include "server_client/checked_download.h"
#include "server_client/chunked_upload.h"
#include "server_client/rpc_status.h"
#include "server_client/server_link.h"

namespace qatlab {
namespace {

constexpr int kHeartbeatTimeoutMs = 5000;
constexpr int kUnaryTimeoutMs = 30000;
// A long poll may take wait_ms; beyond that, this much more means the server
// is not there (the call waits for a connection meanwhile).
constexpr int kLongPollSlackMs = 10000;
// Uploads and downloads of models and data sets.
constexpr int kTransferTimeoutMs = 10 * 60 * 1000;
constexpr size_t kUploadChunkBytes = 256 * 1024;

}  // namespace

LeaseClient::LeaseClient(LeaseClientOptions options)
    : options_(std::move(options)),
      channel_(OpenServerChannel(options_.address, options_.security)),
      workers_(v1::WorkerService::NewStub(channel_)) {}

void LeaseClient::Prepare(grpc::ClientContext* context, int timeout_ms) const {
  PrepareCall(context, options_.token, timeout_ms);
  if (options_.wait_for_ready) context->set_wait_for_ready(true);
}

template <typename Response, typename Call>
StatusOr<Response> LeaseClient::Unary(int timeout_ms, const std::string& what, Call call) {
  grpc::ClientContext context;
  Prepare(&context, timeout_ms);
  Response response;
  QATLAB_RETURN_IF_ERROR(FromRpcStatus(call(&context, &response), what, options_.address));
  return response;
}

template <typename Response, typename Call>
StatusOr<Response> LeaseClient::LongPoll(int wait_ms, const char* what, Call call) {
  grpc::ClientContext context;
  Prepare(&context, wait_ms + kLongPollSlackMs);
  {
    std::lock_guard lock(lease_mutex_);
    if (leases_cancelled_) return Status::Cancelled("stopping: no more leases");
    lease_call_ = &context;
  }
  Response response;
  Status status = FromRpcStatus(call(&context, &response), what, options_.address);
  std::lock_guard lock(lease_mutex_);
  lease_call_ = nullptr;
  if (leases_cancelled_ && !status.ok()) return Status::Cancelled("stopping: no more leases");
  QATLAB_RETURN_IF_ERROR(status);
  return response;
}

void LeaseClient::CancelLeases() {
  std::lock_guard lock(lease_mutex_);
  leases_cancelled_ = true;
  if (lease_call_ != nullptr) lease_call_->TryCancel();
}

StatusOr<v1::LeaseJobResponse> LeaseClient::LeaseJob(const std::string& worker_id, int wait_ms) {
  v1::LeaseJobRequest request;
  request.set_worker_id(worker_id);
  request.set_wait_ms(wait_ms);
  return LongPoll<v1::LeaseJobResponse>(wait_ms, "LeaseJob", [&](grpc::ClientContext* context, auto* response) {
    return workers_->LeaseJob(context, request, response);
  });
}

StatusOr<v1::HeartbeatResponse> LeaseClient::HeartbeatJob(const std::string& job_id, const std::string& lease_id,
                                                          const v1::EpochStats* progress) {
  v1::HeartbeatRequest request;
  request.set_job_id(job_id);
  request.set_lease_id(lease_id);
  if (progress != nullptr) *request.mutable_progress() = *progress;
  return Unary<v1::HeartbeatResponse>(kHeartbeatTimeoutMs, "Heartbeat", [&](auto* context, auto* response) {
    return workers_->Heartbeat(context, request, response);
  });
}

Status LeaseClient::UploadArtifact(const std::string& job_id, const std::string& lease_id, const std::string& name,
                                   std::string_view bytes) {
  grpc::ClientContext context;
  Prepare(&context, kTransferTimeoutMs);
  v1::UploadArtifactResponse response;
  std::unique_ptr<grpc::ClientWriter<v1::UploadArtifactRequest>> writer = workers_->UploadArtifact(&context, &response);
  return FromRpcStatus(
      UploadInChunks(*writer, ArtifactUploadHeader(job_id, lease_id, name, bytes), bytes, kUploadChunkBytes),
      "UploadArtifact " + job_id + "/" + name, options_.address);
}

Status LeaseClient::CompleteJob(const std::string& job_id, const std::string& lease_id, const v1::JobResult& result) {
  v1::CompleteJobRequest request;
  request.set_job_id(job_id);
  request.set_lease_id(lease_id);
  *request.mutable_result() = result;
  return Unary<v1::CompleteJobResponse>(
             kUnaryTimeoutMs, "CompleteJob " + job_id,
             [&](auto* context, auto* response) { return workers_->CompleteJob(context, request, response); })
      .status();
}

Status LeaseClient::FailJob(const std::string& job_id, const std::string& lease_id, const std::string& error,
                            bool retryable) {
  v1::FailJobRequest request;
  request.set_job_id(job_id);
  request.set_lease_id(lease_id);
  request.set_error(error);
  request.set_retryable(retryable);
  return Unary<v1::FailJobResponse>(
             kUnaryTimeoutMs, "FailJob " + job_id,
             [&](auto* context, auto* response) { return workers_->FailJob(context, request, response); })
      .status();
}

StatusOr<std::string> LeaseClient::FetchDataset(const std::string& name, const std::string& cache_directory) {
  v1::FetchDatasetRequest request;
  request.set_name(name);
  return FetchIntoCache(name, cache_directory, "FetchDataset " + name,
                        [&](grpc::ClientContext* context) { return workers_->FetchDataset(context, request); });
}

StatusOr<std::string> LeaseClient::FetchModel(const std::string& name, const std::string& cache_directory) {
  v1::FetchModelRequest request;
  request.set_name(name);
  return FetchIntoCache(name, cache_directory, "FetchModel " + name,
                        [&](grpc::ClientContext* context) { return workers_->FetchModel(context, request); });
}

Status LeaseClient::ResolveUploadedDatasets(v1::DataSpec* data, const std::string& cache_directory,
                                            const std::function<bool()>& keep_going) {
  std::string* paths[] = {data->mutable_train_images(), data->mutable_train_labels(), data->mutable_test_images(),
                          data->mutable_test_labels()};
  for (std::string* path : paths) {
    if (!path->starts_with(kUploadedDatasetPrefix)) continue;
    if (keep_going && !keep_going()) return Status::Cancelled("stopped while fetching data");
    const std::string name = path->substr(kUploadedDatasetPrefix.size());
    QATLAB_ASSIGN_OR_RETURN(*path, FetchDataset(name, cache_directory));
    spdlog::info("data set {} is {}", name, *path);
  }
  return Status::Ok();
}

StatusOr<std::string> LeaseClient::FetchIntoCache(const std::string& name, const std::string& cache_directory,
                                                  const std::string& what, const OpenFetch& open) {
  const std::filesystem::path directory(cache_directory);
  std::error_code error;
  std::filesystem::create_directories(directory, error);
  if (error) return Status::IOError("cannot create " + directory.string() + ": " + error.message());

  grpc::ClientContext context;
  Prepare(&context, kTransferTimeoutMs);
  std::unique_ptr<grpc::ClientReader<v1::ArtifactChunk>> reader = open(&context);
  // Data set names may hold any character; the temporary file's must not.
  const std::filesystem::path partial = directory / (".partial-" + std::to_string(::getpid()) + "-" + Sha256Hex(name));
  std::filesystem::path cached;
  std::ofstream out;
  DownloadSink sink;
  sink.begin = [&](const BlobAnnouncement& announced) {
    if (IsSha256Hex(announced.sha256)) {
      cached = directory / announced.sha256;
      if (std::filesystem::exists(cached)) return false;
    }
    out.open(partial, std::ios::binary | std::ios::trunc);
    return true;
  };
  sink.append = [&](std::string_view bytes) {
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    return out ? Status::Ok() : Status::IOError("cannot write " + partial.string());
  };
  StatusOr<ReceivedBlob> blob = ReceiveChecked(context, *reader, sink, what, options_.address);
  if (blob.ok() && !blob->taken) return cached.string();
  out.close();
  if (blob.ok() && !out) blob = Status::IOError("error writing " + partial.string());
  if (!blob.ok()) {
    std::filesystem::remove(partial, error);
    return blob.status();
  }
  cached = directory / blob->sha256;
  std::filesystem::rename(partial, cached, error);
  if (error) return Status::IOError("cannot write " + cached.string() + ": " + error.message());
  return cached.string();
}

StatusOr<v1::Device> LeaseClient::RegisterDevice(const v1::Device& device) {
  v1::RegisterDeviceRequest request;
  *request.mutable_device() = device;
  QATLAB_ASSIGN_OR_RETURN(
      v1::RegisterDeviceResponse registered,
      Unary<v1::RegisterDeviceResponse>(kUnaryTimeoutMs, "RegisterDevice", [&](auto* context, auto* response) {
        return workers_->RegisterDevice(context, request, response);
      }));
  return registered.device();
}

StatusOr<v1::LeaseMeasurementResponse> LeaseClient::LeaseMeasurement(const std::string& device_id, int wait_ms) {
  v1::LeaseMeasurementRequest request;
  request.set_device_id(device_id);
  request.set_wait_ms(wait_ms);
  return LongPoll<v1::LeaseMeasurementResponse>(wait_ms, "LeaseMeasurement",
                                                [&](grpc::ClientContext* context, auto* response) {
                                                  return workers_->LeaseMeasurement(context, request, response);
                                                });
}

StatusOr<v1::HeartbeatResponse> LeaseClient::HeartbeatMeasurement(const std::string& measurement_id,
                                                                  const std::string& lease_id) {
  v1::HeartbeatMeasurementRequest request;
  request.set_measurement_id(measurement_id);
  request.set_lease_id(lease_id);
  return Unary<v1::HeartbeatResponse>(kHeartbeatTimeoutMs, "HeartbeatMeasurement", [&](auto* context, auto* response) {
    return workers_->HeartbeatMeasurement(context, request, response);
  });
}

Status LeaseClient::CompleteMeasurement(const std::string& measurement_id, const std::string& lease_id,
                                        const v1::MeasurementResult& result) {
  v1::CompleteMeasurementRequest request;
  request.set_measurement_id(measurement_id);
  request.set_lease_id(lease_id);
  *request.mutable_result() = result;
  return Unary<v1::CompleteJobResponse>(
             kUnaryTimeoutMs, "CompleteMeasurement " + measurement_id,
             [&](auto* context, auto* response) { return workers_->CompleteMeasurement(context, request, response); })
      .status();
}

Status LeaseClient::FailMeasurement(const std::string& measurement_id, const std::string& lease_id,
                                    const std::string& error, bool retryable) {
  v1::FailMeasurementRequest request;
  request.set_measurement_id(measurement_id);
  request.set_lease_id(lease_id);
  request.set_error(error);
  request.set_retryable(retryable);
  return Unary<v1::FailJobResponse>(
             kUnaryTimeoutMs, "FailMeasurement " + measurement_id,
             [&](auto* context, auto* response) { return workers_->FailMeasurement(context, request, response); })
      .status();
}

StatusOr<v1::Job> LeaseClient::GetJob(const std::string& job_id) {
  v1::GetJobRequest request;
  request.set_id(job_id);
  return Unary<v1::Job>(kUnaryTimeoutMs, "GetJob " + job_id,
                        [&](auto* context, auto* job) { return workers_->GetJob(context, request, job); });
}

StatusOr<std::string> LeaseClient::DownloadArtifact(const std::string& job_id, const std::string& name) {
  grpc::ClientContext context;
  Prepare(&context, kTransferTimeoutMs);
  v1::DownloadArtifactRequest request;
  request.set_job_id(job_id);
  request.set_name(name);
  std::unique_ptr<grpc::ClientReader<v1::ArtifactChunk>> reader = workers_->DownloadArtifact(&context, request);
  std::string bytes;
  DownloadSink sink;
  sink.append = [&](std::string_view piece) {
    bytes.append(piece);
    return Status::Ok();
  };
  QATLAB_RETURN_IF_ERROR(
      ReceiveChecked(context, *reader, sink, "DownloadArtifact " + job_id + "/" + name, options_.address).status());
  return bytes;
}

Status RetryWhileUnavailable(const std::function<Status()>& call, Backoff backoff,
                             std::chrono::milliseconds give_up_after,
                             const std::function<bool(std::chrono::milliseconds)>& pause) {
  const auto give_up_at = std::chrono::steady_clock::now() + give_up_after;
  while (true) {
    Status status = call();
    if (status.ok() || status.code() != StatusCode::kUnavailable) return status;
    const std::chrono::milliseconds wait = backoff.Next();
    if (std::chrono::steady_clock::now() + wait > give_up_at) return status;
    if (pause) {
      if (!pause(wait)) return status;
    } else {
      std::this_thread::sleep_for(wait);
    }
  }
}

}  // namespace qatlab
