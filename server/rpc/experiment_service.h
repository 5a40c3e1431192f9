// qatlab.v1.ExperimentService: what users and scripts call. Thin: checks the
// request's fields, calls the JobStore / ArtifactStore, maps the Status.
#pragma once

#include "qatlab/v1/experiment.grpc.pb.h"
#include "server/rpc/service_dependencies.h"
#include "server/rpc/submission_validation.h"

namespace qatlab::server {

class ExperimentService final : public v1::ExperimentService::Service {
 public:
  explicit ExperimentService(ServiceDependencies deps) : deps_(deps) {}

  grpc::Status SubmitJob(grpc::ServerContext* context, const v1::SubmitJobRequest* request,
                         v1::SubmitJobResponse* response) override;
  grpc::Status GetJob(grpc::ServerContext* context, const v1::GetJobRequest* request, v1::Job* response) override;
  grpc::Status ListJobs(grpc::ServerContext* context, const v1::ListJobsRequest* request,
                        v1::ListJobsResponse* response) override;
  grpc::Status WatchJob(grpc::ServerContext* context, const v1::WatchJobRequest* request,
                        grpc::ServerWriter<v1::JobEvent>* writer) override;
  grpc::Status CancelJob(grpc::ServerContext* context, const v1::CancelJobRequest* request, v1::Job* response) override;
  grpc::Status GetResults(grpc::ServerContext* context, const v1::GetResultsRequest* request,
                          v1::GetResultsResponse* response) override;
  grpc::Status UploadDataset(grpc::ServerContext* context, grpc::ServerReader<v1::UploadDatasetRequest>* reader,
                             v1::Dataset* response) override;
  grpc::Status ListDatasets(grpc::ServerContext* context, const v1::ListDatasetsRequest* request,
                            v1::ListDatasetsResponse* response) override;
  grpc::Status DownloadArtifact(grpc::ServerContext* context, const v1::DownloadArtifactRequest* request,
                                grpc::ServerWriter<v1::ArtifactChunk>* writer) override;
  grpc::Status UploadModel(grpc::ServerContext* context, grpc::ServerReader<v1::UploadModelRequest>* reader,
                           v1::Model* response) override;
  grpc::Status ListModels(grpc::ServerContext* context, const v1::ListModelsRequest* request,
                          v1::ListModelsResponse* response) override;
  grpc::Status ExportModel(grpc::ServerContext* context, const v1::ExportModelRequest* request,
                           grpc::ServerWriter<v1::ExportChunk>* writer) override;
  grpc::Status ListDevices(grpc::ServerContext* context, const v1::ListDevicesRequest* request,
                           v1::ListDevicesResponse* response) override;
  grpc::Status Measure(grpc::ServerContext* context, const v1::MeasureRequest* request,
                       v1::MeasureResponse* response) override;
  grpc::Status CancelMeasurement(grpc::ServerContext* context, const v1::CancelMeasurementRequest* request,
                                 v1::Measurement* response) override;
  grpc::Status SubmitSweep(grpc::ServerContext* context, const v1::SubmitSweepRequest* request,
                           v1::SweepStatus* response) override;
  grpc::Status GetSweep(grpc::ServerContext* context, const v1::GetSweepRequest* request,
                        v1::SweepStatus* response) override;
  grpc::Status CancelSweep(grpc::ServerContext* context, const v1::CancelSweepRequest* request,
                           v1::SweepStatus* response) override;
  grpc::Status SubmitSearch(grpc::ServerContext* context, const v1::SubmitSearchRequest* request,
                            v1::Search* response) override;
  grpc::Status GetSearch(grpc::ServerContext* context, const v1::GetSearchRequest* request,
                         v1::Search* response) override;
  grpc::Status ListSearches(grpc::ServerContext* context, const v1::ListSearchesRequest* request,
                            v1::ListSearchesResponse* response) override;
  grpc::Status CancelSearch(grpc::ServerContext* context, const v1::CancelSearchRequest* request,
                            v1::Search* response) override;

 private:
  SubmissionLookups Lookups();

  ServiceDependencies deps_;
};

// Shared with WorkerService.DownloadArtifact.
grpc::Status DownloadArtifactFrom(ServiceDependencies& deps, grpc::ServerContext* context,
                                  const v1::DownloadArtifactRequest& request,
                                  grpc::ServerWriter<v1::ArtifactChunk>* writer);

}  // namespace qatlab::server
