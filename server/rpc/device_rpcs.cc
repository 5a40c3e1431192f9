#include "server/rpc/device_rpcs.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <chrono>

#include "server/rpc/grpc_status.h"

namespace qatlab::server::device_rpcs {

namespace {

// A long poll wakes at least this often to notice a client that went away.
constexpr std::chrono::milliseconds kLeaseSlice{200};

grpc::Status Unimplemented() {
  return grpc::Status(grpc::StatusCode::UNIMPLEMENTED, "this qatlab-server runs without devices and measurements");
}

grpc::Status Invalid(const std::string& message) { return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, message); }

grpc::Status RequireLeaseFields(const std::string& measurement_id, const std::string& lease_id) {
  if (measurement_id.empty()) return Invalid("measurement_id: empty");
  if (lease_id.empty()) return Invalid("lease_id: empty; use the lease_id LeaseMeasurement returned");
  return grpc::Status::OK;
}

}  // namespace

grpc::Status RegisterDevice(DeviceStore* store, const v1::RegisterDeviceRequest& request,
                            v1::RegisterDeviceResponse* response) {
  if (store == nullptr) return Unimplemented();
  if (!request.has_device()) return Invalid("device: missing; say what the board is");
  StatusOr<v1::Device> device = store->Register(request.device());
  if (!device.ok()) return ToGrpcStatus(device.status());
  *response->mutable_device() = std::move(*device);
  return grpc::Status::OK;
}

grpc::Status LeaseMeasurement(DeviceStore* store, grpc::ServerContext* context, const std::atomic<bool>& draining,
                              int max_wait_ms, const std::string& token_digest,
                              const v1::LeaseMeasurementRequest& request, v1::LeaseMeasurementResponse* response) {
  if (store == nullptr) return Unimplemented();
  if (request.device_id().empty()) return Invalid("device_id: empty; use the id RegisterDevice returned");
  if (request.wait_ms() < 0) return Invalid(fmt::format("wait_ms: {} is negative", request.wait_ms()));
  const int wait_ms = std::min(request.wait_ms(), max_wait_ms);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(wait_ms);
  while (!draining.load()) {
    // Read the generation before looking, so work queued between the look
    // and the wait still wakes us.
    const uint64_t generation = store->QueueGeneration();
    StatusOr<std::optional<MeasurementLease>> lease = store->LeaseNext(request.device_id(), token_digest);
    if (!lease.ok()) return ToGrpcStatus(lease.status());
    if (lease->has_value()) {
      MeasurementLease& granted = **lease;
      *response->mutable_measurement() = std::move(granted.measurement);
      response->set_lease_id(granted.lease_id);
      response->set_lease_deadline_unix_ms(granted.deadline_unix_ms);
      return grpc::Status::OK;
    }
    const auto now = std::chrono::steady_clock::now();
    if (now >= deadline || context->IsCancelled()) break;
    const auto slice = std::min<std::chrono::steady_clock::duration>(deadline - now, kLeaseSlice);
    store->WaitForQueueChange(
        generation, std::chrono::duration_cast<std::chrono::milliseconds>(slice) + std::chrono::milliseconds(1));
  }
  return grpc::Status::OK;
}

grpc::Status HeartbeatMeasurement(DeviceStore* store, const std::string& token_digest,
                                  const v1::HeartbeatMeasurementRequest& request, v1::HeartbeatResponse* response) {
  if (store == nullptr) return Unimplemented();
  if (grpc::Status s = RequireLeaseFields(request.measurement_id(), request.lease_id()); !s.ok()) return s;
  StatusOr<MeasurementHeartbeat> outcome =
      store->Heartbeat(request.measurement_id(), {request.lease_id(), token_digest});
  if (!outcome.ok()) return ToGrpcStatus(outcome.status());
  response->set_lease_lost(outcome->lease_lost);
  response->set_lease_deadline_unix_ms(outcome->deadline_unix_ms);
  return grpc::Status::OK;
}

grpc::Status CompleteMeasurement(DeviceStore* store, const std::string& token_digest,
                                 const v1::CompleteMeasurementRequest& request) {
  if (store == nullptr) return Unimplemented();
  if (grpc::Status s = RequireLeaseFields(request.measurement_id(), request.lease_id()); !s.ok()) return s;
  if (!request.has_result()) return Invalid("result: missing; CompleteMeasurement carries the MeasurementResult");
  const v1::MeasurementResult& result = request.result();
  if (result.bit_exact_inputs() < 0 || result.bit_exact_inputs() > result.checked_inputs()) {
    return Invalid(fmt::format("result.bit_exact_inputs: {} is outside 0..checked_inputs ({})",
                               result.bit_exact_inputs(), result.checked_inputs()));
  }
  return ToGrpcStatus(store->Complete(request.measurement_id(), {request.lease_id(), token_digest}, result));
}

grpc::Status FailMeasurement(DeviceStore* store, const std::string& token_digest,
                             const v1::FailMeasurementRequest& request) {
  if (store == nullptr) return Unimplemented();
  if (grpc::Status s = RequireLeaseFields(request.measurement_id(), request.lease_id()); !s.ok()) return s;
  return ToGrpcStatus(
      store->Fail(request.measurement_id(), {request.lease_id(), token_digest}, request.error(), request.retryable()));
}

grpc::Status ListDevices(DeviceStore* store, v1::ListDevicesResponse* response) {
  if (store == nullptr) return Unimplemented();
  StatusOr<std::vector<v1::Device>> devices = store->ListDevices();
  if (!devices.ok()) return ToGrpcStatus(devices.status());
  for (v1::Device& device : *devices) *response->add_devices() = std::move(device);
  return grpc::Status::OK;
}

grpc::Status Measure(DeviceStore* store, const v1::MeasureRequest& request, v1::MeasureResponse* response) {
  if (store == nullptr) return Unimplemented();
  if (request.job_id().empty()) return Invalid("job_id: empty; give the job whose models to measure");
  if (request.device_id().empty()) {
    // A requested device is checked by the store; a kind must be one some
    // agent registered, else nothing would ever lease the measurement.
    const std::string kind = request.board_kind().empty() ? kDefaultBoardKind : request.board_kind();
    StatusOr<std::vector<v1::Device>> devices = store->ListDevices();
    if (!devices.ok()) return ToGrpcStatus(devices.status());
    std::vector<std::string> kinds;
    for (const v1::Device& device : *devices) {
      if (std::find(kinds.begin(), kinds.end(), device.board_kind()) == kinds.end())
        kinds.push_back(device.board_kind());
    }
    if (std::find(kinds.begin(), kinds.end(), kind) == kinds.end()) {
      return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION,
                          fmt::format("board_kind: no agent has registered a {} board, so nothing would run the "
                                      "measurement; registered kinds: {} (start qatlab-agent --board {})",
                                      kind, kinds.empty() ? "none" : fmt::format("{}", fmt::join(kinds, ", ")), kind));
    }
  }
  StatusOr<std::vector<v1::Measurement>> queued =
      store->Queue({request.job_id(), request.variant(), request.board_kind(), request.device_id()});
  if (!queued.ok()) return ToGrpcStatus(queued.status());
  for (v1::Measurement& m : *queued) *response->add_measurements() = std::move(m);
  return grpc::Status::OK;
}

grpc::Status CancelMeasurement(DeviceStore* store, const v1::CancelMeasurementRequest& request,
                               v1::Measurement* response) {
  if (store == nullptr) return Unimplemented();
  if (request.measurement_id().empty()) return Invalid("measurement_id: empty; give the measurement to cancel");
  StatusOr<v1::Measurement> cancelled = store->Cancel(request.measurement_id());
  if (!cancelled.ok()) return ToGrpcStatus(cancelled.status());
  *response = std::move(*cancelled);
  return grpc::Status::OK;
}

grpc::Status AddMeasurements(DeviceStore* store, const std::string& job_id, v1::GetResultsResponse* response) {
  if (store == nullptr) return grpc::Status::OK;
  StatusOr<std::vector<v1::Measurement>> measurements = store->ListMeasurements(job_id);
  if (!measurements.ok()) return ToGrpcStatus(measurements.status());
  for (v1::Measurement& m : *measurements) *response->add_measurements() = std::move(m);
  return grpc::Status::OK;
}

}  // namespace qatlab::server::device_rpcs
