// The device and measurement RPCs of WorkerService (what qatlab-agent calls)
// and ExperimentService (what users call), as functions the two service
// classes route to, so the services stay thin and the device side lives in
// one place. Each checks its request's fields, calls the DeviceStore and maps
// the Status through ToGrpcStatus. A null store (a server assembled without
// the device side) answers UNIMPLEMENTED.
//
// The caller has already checked authentication. `token_digest` is the
// caller's (TokenAuthenticator::Holder): leases are bound to it and checked
// against it (server/store/lease.h).
#pragma once

#include <grpcpp/server_context.h>
#include <grpcpp/support/status.h>

#include <atomic>
#include <string>

#include "qatlab/v1/experiment.pb.h"
#include "qatlab/v1/worker.pb.h"
#include "server/store/device_store.h"

namespace qatlab::server::device_rpcs {

// --- WorkerService ---
grpc::Status RegisterDevice(DeviceStore* store, const v1::RegisterDeviceRequest& request,
                            v1::RegisterDeviceResponse* response);
// Long-polls up to min(wait_ms, max_wait_ms); ends early when the server
// drains or the client goes away. An empty response means "nothing for you".
grpc::Status LeaseMeasurement(DeviceStore* store, grpc::ServerContext* context, const std::atomic<bool>& draining,
                              int max_wait_ms, const std::string& token_digest,
                              const v1::LeaseMeasurementRequest& request, v1::LeaseMeasurementResponse* response);
grpc::Status HeartbeatMeasurement(DeviceStore* store, const std::string& token_digest,
                                  const v1::HeartbeatMeasurementRequest& request, v1::HeartbeatResponse* response);
grpc::Status CompleteMeasurement(DeviceStore* store, const std::string& token_digest,
                                 const v1::CompleteMeasurementRequest& request);
grpc::Status FailMeasurement(DeviceStore* store, const std::string& token_digest,
                             const v1::FailMeasurementRequest& request);

// --- ExperimentService ---
grpc::Status ListDevices(DeviceStore* store, v1::ListDevicesResponse* response);
// FAILED_PRECONDITION, naming the registered kinds, for a board kind no
// agent has registered: such a measurement would wait in the queue forever.
grpc::Status Measure(DeviceStore* store, const v1::MeasureRequest& request, v1::MeasureResponse* response);
grpc::Status CancelMeasurement(DeviceStore* store, const v1::CancelMeasurementRequest& request,
                               v1::Measurement* response);
// Adds the job's measurements to a GetResults answer (none without a store).
grpc::Status AddMeasurements(DeviceStore* store, const std::string& job_id, v1::GetResultsResponse* response);

}  // namespace qatlab::server::device_rpcs
