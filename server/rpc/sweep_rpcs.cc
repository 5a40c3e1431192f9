#include "server/rpc/sweep_rpcs.h"

#include "engine/baseline_job.h"
#include "engine/sweep_spec.h"
#include "server/rpc/grpc_status.h"

namespace qatlab::server::sweep_rpcs {
namespace {

// A reply a default gRPC client (4 MiB) can read: a sweep of up to 10,000
// jobs with layer-list models could pass that, so past 2 MiB the jobs' layer
// lists are left out (GetJob has each whole).
constexpr size_t kMaxReplyBytes = 2 << 20;

void ToResponse(SweepRecord record, v1::SweepStatus* response) {
  *response->mutable_sweep() = std::move(record.sweep);
  for (v1::Job& job : record.jobs) *response->add_jobs() = std::move(job);
  if (response->ByteSizeLong() > kMaxReplyBytes) {
    for (v1::Job& job : *response->mutable_jobs()) job.mutable_spec()->mutable_model()->clear_layers();
  }
}

}  // namespace

Status CheckBaseline(JobStore& store, const v1::JobSpec& spec) {
  if (spec.baseline_job().empty()) return Status::Ok();
  StatusOr<v1::Job> baseline = store.Get(spec.baseline_job());
  if (!baseline.ok()) {
    if (baseline.status().code() == StatusCode::kNotFound) {
      return Status::NotFound("baseline_job " + spec.baseline_job() + ": no such job");
    }
    return baseline.status();
  }
  return CheckBaselineCompatible(spec, baseline->id(), baseline->spec());
}

grpc::Status SubmitSweep(JobStore& store, const SubmissionLookups& lookups, const SubmissionLimits& limits,
                         const v1::SubmitSweepRequest& request, v1::SweepStatus* response) {
  if (!request.has_spec()) return ToGrpcStatus(Status::InvalidArgument("spec: missing; a sweep needs a sweep spec"));
  if (request.spec().name().size() > 256) {
    return ToGrpcStatus(Status::InvalidArgument("spec.name: longer than 256 characters"));
  }
  StatusOr<SweepPlan> plan = ExpandSweep(request.spec());
  if (!plan.ok()) return ToGrpcStatus(plan.status());
  std::vector<SweepJobGroup> groups;
  for (SweepGroup& group : plan->groups) {
    SweepJobGroup stored;
    if (group.new_baseline) {
      v1::JobSpec baseline = std::move(group.baseline);
      if (Status valid = PrepareSubmission(&baseline, lookups, limits); !valid.ok()) {
        return ToGrpcStatus(valid.WithContext("the baseline"));
      }
      stored.baseline = std::move(baseline);
    }
    for (v1::JobSpec& job : group.jobs) {
      const std::string point = job.configs(0).name();
      if (Status valid = PrepareSubmission(&job, lookups, limits); !valid.ok()) {
        return ToGrpcStatus(valid.WithContext("grid point " + point));
      }
      stored.jobs.push_back(std::move(job));
    }
    // An existing baseline is checked once: every point shares its float
    // training (the seed axis is refused with one).
    if (!group.new_baseline && !stored.jobs.empty()) {
      if (Status baseline = CheckBaseline(store, stored.jobs.front()); !baseline.ok()) {
        return ToGrpcStatus(baseline);
      }
    }
    groups.push_back(std::move(stored));
  }
  StatusOr<SweepRecord> record = store.SubmitSweep(request.spec(), plan->name, groups);
  if (!record.ok()) return ToGrpcStatus(record.status());
  ToResponse(std::move(*record), response);
  return grpc::Status::OK;
}

grpc::Status GetSweep(JobStore& store, const v1::GetSweepRequest& request, v1::SweepStatus* response) {
  if (request.id().empty()) return ToGrpcStatus(Status::InvalidArgument("id: empty; give a sweep id"));
  StatusOr<SweepRecord> record = store.GetSweep(request.id());
  if (!record.ok()) return ToGrpcStatus(record.status());
  ToResponse(std::move(*record), response);
  return grpc::Status::OK;
}

grpc::Status CancelSweep(JobStore& store, const v1::CancelSweepRequest& request, v1::SweepStatus* response) {
  if (request.id().empty()) return ToGrpcStatus(Status::InvalidArgument("id: empty; give a sweep id"));
  StatusOr<SweepRecord> record = store.CancelSweep(request.id());
  if (!record.ok()) return ToGrpcStatus(record.status());
  ToResponse(std::move(*record), response);
  return grpc::Status::OK;
}

}  // namespace qatlab::server::sweep_rpcs
