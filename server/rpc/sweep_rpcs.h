// The sweep RPCs of ExperimentService (SubmitSweep, GetSweep, CancelSweep)
// and the check of a job's baseline (JobSpec.baseline_job), as functions the
// service routes to. Each checks its request, calls the engine's sweep
// expansion (engine/sweep_spec.h) and the JobStore, and maps the Status
// through ToGrpcStatus. The caller has already checked authentication.
#pragma once

#include <grpcpp/support/status.h>

#include "qatlab/v1/experiment.pb.h"
#include "server/rpc/submission_validation.h"
#include "server/store/job_store.h"

namespace qatlab::server::sweep_rpcs {

// When `spec` names a baseline_job: it must exist (NotFound naming it) and
// train the float model `spec` would (InvalidArgument naming the field that
// differs). REQUIRES: defaults applied to `spec`.
Status CheckBaseline(JobStore& store, const v1::JobSpec& spec);

// Expands the grid, checks every job as SubmitJob does (PrepareSubmission),
// and stores the sweep and all its jobs in one transaction, or nothing.
grpc::Status SubmitSweep(JobStore& store, const SubmissionLookups& lookups, const SubmissionLimits& limits,
                         const v1::SubmitSweepRequest& request, v1::SweepStatus* response);
grpc::Status GetSweep(JobStore& store, const v1::GetSweepRequest& request, v1::SweepStatus* response);
grpc::Status CancelSweep(JobStore& store, const v1::CancelSweepRequest& request, v1::SweepStatus* response);

}  // namespace qatlab::server::sweep_rpcs
