// The search RPCs of ExperimentService (SubmitSearch, GetSearch,
// ListSearches, CancelSearch) as functions the service routes to. Each checks
// its request, calls the SearchStore (and, to start or stop a search, the
// SearchRunner) and maps the Status through ToGrpcStatus. The caller has
// already checked authentication and priority.
#pragma once

#include <grpcpp/support/status.h>

#include "qatlab/v1/experiment.pb.h"
#include "server/rpc/service_dependencies.h"

namespace qatlab::server::search_rpcs {

// Checks the request (INVALID_ARGUMENT naming the field; FAILED_PRECONDITION
// for a board kind no agent registered, as Measure answers), counts the
// model's weighted layers (an uploaded ONNX model "model:<name>" from the
// server's copy), stores the search and starts it. Nothing is stored on error.
grpc::Status SubmitSearch(ServiceDependencies& deps, const SubmissionLookups& lookups,
                          const v1::SubmitSearchRequest& request, v1::Search* response);
grpc::Status GetSearch(ServiceDependencies& deps, const v1::GetSearchRequest& request, v1::Search* response);
grpc::Status ListSearches(ServiceDependencies& deps, const v1::ListSearchesRequest& request,
                          v1::ListSearchesResponse* response);
// Cancels the search, then the jobs it created and their measurements that
// have not finished, and stops its thread.
grpc::Status CancelSearch(ServiceDependencies& deps, const v1::CancelSearchRequest& request, v1::Search* response);

}  // namespace qatlab::server::search_rpcs
