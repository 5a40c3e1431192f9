// qatlab.v1.WorkerService: what qatlab-worker (and later qatlab-agent) calls.
// Thin: checks fields, calls the JobStore, maps the Status. LeaseJob long-polls
// on the JobNotifier, woken by submissions and requeues. Every lease is bound
// to the worker token that took it, in the lease's row (server/store/lease.h):
// another worker token presenting it gets PERMISSION_DENIED, before and after
// a server restart.
#pragma once

#include "qatlab/v1/worker.grpc.pb.h"
#include "server/rpc/service_dependencies.h"

namespace qatlab::server {

class WorkerService final : public v1::WorkerService::Service {
 public:
  explicit WorkerService(ServiceDependencies deps) : deps_(deps) {}

  grpc::Status LeaseJob(grpc::ServerContext* context, const v1::LeaseJobRequest* request,
                        v1::LeaseJobResponse* response) override;
  grpc::Status Heartbeat(grpc::ServerContext* context, const v1::HeartbeatRequest* request,
                         v1::HeartbeatResponse* response) override;
  grpc::Status CompleteJob(grpc::ServerContext* context, const v1::CompleteJobRequest* request,
                           v1::CompleteJobResponse* response) override;
  grpc::Status FailJob(grpc::ServerContext* context, const v1::FailJobRequest* request,
                       v1::FailJobResponse* response) override;
  grpc::Status UploadArtifact(grpc::ServerContext* context, grpc::ServerReader<v1::UploadArtifactRequest>* reader,
                              v1::UploadArtifactResponse* response) override;
  grpc::Status FetchDataset(grpc::ServerContext* context, const v1::FetchDatasetRequest* request,
                            grpc::ServerWriter<v1::ArtifactChunk>* writer) override;
  grpc::Status FetchModel(grpc::ServerContext* context, const v1::FetchModelRequest* request,
                          grpc::ServerWriter<v1::ArtifactChunk>* writer) override;
  grpc::Status DownloadArtifact(grpc::ServerContext* context, const v1::DownloadArtifactRequest* request,
                                grpc::ServerWriter<v1::ArtifactChunk>* writer) override;
  grpc::Status GetJob(grpc::ServerContext* context, const v1::GetJobRequest* request, v1::Job* response) override;

  grpc::Status RegisterDevice(grpc::ServerContext* context, const v1::RegisterDeviceRequest* request,
                              v1::RegisterDeviceResponse* response) override;
  grpc::Status LeaseMeasurement(grpc::ServerContext* context, const v1::LeaseMeasurementRequest* request,
                                v1::LeaseMeasurementResponse* response) override;
  grpc::Status HeartbeatMeasurement(grpc::ServerContext* context, const v1::HeartbeatMeasurementRequest* request,
                                    v1::HeartbeatResponse* response) override;
  grpc::Status CompleteMeasurement(grpc::ServerContext* context, const v1::CompleteMeasurementRequest* request,
                                   v1::CompleteJobResponse* response) override;
  grpc::Status FailMeasurement(grpc::ServerContext* context, const v1::FailMeasurementRequest* request,
                               v1::FailJobResponse* response) override;

 private:
  // `lease_id` as the caller presents it: with its token's digest, which the
  // stores check against the token that took the lease (server/store/lease.h).
  LeaseClaim Claim(const grpc::ServerContext& context, const std::string& lease_id) const;

  ServiceDependencies deps_;
};

}  // namespace qatlab::server
