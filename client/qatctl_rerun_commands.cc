// qatctl rerun and qatctl logs: a job submitted again from its record, and
// the worker's log of a job's attempt.
//
// Rerun is done client-side over GetResults, ListDatasets, ListModels and
// SubmitJob rather than by a RerunJob RPC: every check it makes reads what
// those calls already return, the server gains no code path to keep in step,
// and a script can do the same through the API.
#include <cstdio>

#include <fmt/format.h>

#include "client/qatctl_commands.h"
#include "client/rerun_plan.h"
#include "server_client/checked_download.h"
#include "server_client/worker_log_name.h"
#include "version/version.h"

namespace qatlab {
int QatctlCommands::Rerun(const RerunFlags& flags) {
  v1::GetResultsRequest get;
  get.set_id(flags.job_id);
  v1::GetResultsResponse original;
  if (grpc::Status status = Call(&v1::ExperimentService::Stub::GetResults, get, &original); !status.ok()) {
    return FailRpc(status);
  }
  v1::ListDatasetsResponse datasets;
  if (grpc::Status status = Call(&v1::ExperimentService::Stub::ListDatasets, v1::ListDatasetsRequest(), &datasets);
      !status.ok()) {
    return FailRpc(status);
  }
  v1::ListModelsResponse models;
  if (grpc::Status status = Call(&v1::ExperimentService::Stub::ListModels, v1::ListModelsRequest(), &models);
      !status.ok()) {
    return FailRpc(status);
  }
  const RerunPlan plan = PlanRerun(original, {datasets.datasets().begin(), datasets.datasets().end()},
                                   {models.models().begin(), models.models().end()}, QatlabVersion());
  for (const std::string& note : plan.notes) fmt::print(stderr, "qatctl: note: {}\n", note);
  if (!plan.changed.empty()) {
    if (!flags.allow_changed_data) {
      std::string reasons;
      for (const std::string& change : plan.changed) reasons += "\n  " + change;
      return Fail(
          fmt::format("FAILED_PRECONDITION: job {} read other data than is stored now; nothing submitted "
                      "(--allow-changed-data re-runs it anyway):{}",
                      flags.job_id, reasons));
    }
    for (const std::string& change : plan.changed) fmt::print(stderr, "qatctl: warning: {}\n", change);
  }

  v1::SubmitJobRequest submit;
  *submit.mutable_spec() = plan.spec;
  v1::SubmitJobResponse submitted;
  if (grpc::Status status = Call(&v1::ExperimentService::Stub::SubmitJob, submit, &submitted); !status.ok()) {
    return FailRpc(status);
  }
  const std::string& new_id = submitted.job().id();
  if (options_.json && !flags.wait) return PrintJson(submitted.job());
  fmt::print("{}\n", new_id);
  std::fflush(stdout);
  if (!flags.wait) return 0;

  if (int watched = Watch({new_id}, false); watched != 0) return watched;
  if (!original.result().has_run()) return 0;
  v1::GetResultsRequest get_rerun;
  get_rerun.set_id(new_id);
  v1::GetResultsResponse rerun;
  if (grpc::Status status = Call(&v1::ExperimentService::Stub::GetResults, get_rerun, &rerun); !status.ok()) {
    return FailRpc(status);
  }
  const RunComparison comparison = CompareRunRecords(original.result().run(), rerun.result().run());
  for (const std::string& line : comparison.lines) {
    fmt::print(stderr, "rerun {} of {}: {}\n", new_id, flags.job_id, line);
  }
  // Different models from the same inputs and engine break the engine's
  // promise of determinism: that is an error, not a note.
  if (comparison.same_inputs && comparison.same_engine && !comparison.identical_models) {
    return Fail(fmt::format("INTERNAL: re-run {} of {} produced different models from the same inputs and engine",
                            new_id, flags.job_id));
  }
  return 0;
}

int QatctlCommands::Logs(const std::string& job_id, int attempt) {
  v1::GetJobRequest get;
  get.set_id(job_id);
  v1::Job job;
  if (grpc::Status status = Call(&v1::ExperimentService::Stub::GetJob, get, &job); !status.ok()) {
    return FailRpc(status);
  }
  const int chosen = attempt > 0 ? attempt : job.attempt();
  const bool still_going = job.state() == v1::QUEUED || job.state() == v1::RUNNING;
  if (chosen < 1) {
    return Fail(fmt::format("job {} has not started: no log yet: the worker uploads it when the attempt ends", job_id));
  }
  if (chosen > job.attempt()) {
    return Fail(fmt::format("INVALID_ARGUMENT: job {} has had {} attempt(s); --attempt {} is not one of them", job_id,
                            job.attempt(), chosen));
  }

  v1::DownloadArtifactRequest request;
  request.set_job_id(job_id);
  request.set_name(WorkerLogArtifactName(chosen));
  grpc::ClientContext context;
  Prepare(&context, true);
  std::unique_ptr<grpc::ClientReader<v1::ArtifactChunk>> reader = stub_->DownloadArtifact(&context, request);
  std::string text;
  DownloadSink sink;
  sink.append = [&](std::string_view bytes) {
    text.append(bytes);
    return Status::Ok();
  };
  StatusOr<ReceivedBlob> blob =
      ReceiveChecked(context, *reader, sink, fmt::format("log of job {} attempt {}", job_id, chosen), options_.address);
  if (!blob.ok()) {
    if (blob.status().code() != StatusCode::kNotFound) return Fail(DescribeStatus(blob.status()));
    if (still_going && chosen == job.attempt()) {
      return Fail(fmt::format("job {} is {} (attempt {}): no log yet: the worker uploads it when the attempt ends",
                              job_id, v1::JobState_Name(job.state()), chosen));
    }
    return Fail(
        fmt::format("NOT_FOUND: job {} has no log for attempt {} (an attempt that was cancelled or whose "
                    "worker was lost leaves none)",
                    job_id, chosen));
  }
  std::fwrite(text.data(), 1, text.size(), stdout);
  return 0;
}

}  // namespace qatlab
