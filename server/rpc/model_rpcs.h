// The model RPCs of ExperimentService: trained float models brought in
// (UploadModel, ListModels) and a job's integer models taken out
// (ExportModel), as functions the service class routes to, so the service
// stays thin. The domain steps (checking an uploaded file with the importer,
// choosing and exporting a variant's artifact) are plain functions returning
// Status, testable without a network; the RPCs convert messages and map the
// Status through ToGrpcStatus.
//
// The caller has already checked authentication.
#pragma once

#include <grpcpp/server_context.h>
#include <grpcpp/support/status.h>
#include <grpcpp/support/sync_stream.h>

#include <string>
#include <vector>

#include "model_export/model_export.h"
#include "qatlab/v1/experiment.grpc.pb.h"
#include "server/rpc/service_dependencies.h"
#include "status/status.h"

namespace qatlab::server {

// Names of uploaded data sets and models: 1..128 of letters, digits, '.',
// '_' and '-', not starting with '.'. InvalidArgument naming `field`.
Status CheckUploadName(const std::string& field, const std::string& name);

// Checks `bytes` (a whole uploaded file) is an ONNX model the importer can
// load and describes it as the record to store under `name`. InvalidArgument
// naming the model and the importer's reason otherwise.
StatusOr<v1::Model> DescribeUploadedModel(const std::string& name, const std::string& bytes);

// The files of variant `variant` of job `job_id` exported as `format`, named
// `name` (empty: the variant's name). Errors, each naming what to do instead:
// InvalidArgument for an unknown format (the known ones listed) or a bad
// name; NotFound for an unknown job or variant (the job's variants listed);
// FailedPrecondition for a job that has not SUCCEEDED, the float variant
// (no integer model) or a variant without a stored .qmodel; the exporter's
// own errors as they are.
StatusOr<std::vector<ExportedFile>> ExportJobVariant(ServiceDependencies& deps, const std::string& job_id,
                                                     const std::string& variant, const std::string& format,
                                                     const std::string& name);

namespace model_rpcs {

grpc::Status UploadModel(ServiceDependencies& deps, grpc::ServerReader<v1::UploadModelRequest>* reader,
                         v1::Model* response);
grpc::Status ListModels(ServiceDependencies& deps, v1::ListModelsResponse* response);
grpc::Status ExportModel(ServiceDependencies& deps, grpc::ServerContext* context, const v1::ExportModelRequest& request,
                         grpc::ServerWriter<v1::ExportChunk>* writer);

}  // namespace model_rpcs
}  // namespace qatlab::server
