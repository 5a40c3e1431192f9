#include "server/rpc/experiment_service.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cctype>

#include "server/rpc/blob_transfer.h"
#include "server/rpc/device_rpcs.h"
#include "server/rpc/grpc_status.h"
#include "server/rpc/model_rpcs.h"
#include "server/rpc/search_rpcs.h"
#include "server/rpc/submission_validation.h"
#include "server/rpc/sweep_rpcs.h"
#include "status/printable_value.h"

namespace qatlab::server {

namespace {

// How long one wait of a watch lasts before checking whether the client left.
constexpr std::chrono::milliseconds kWatchSlice{250};

grpc::Status Invalid(const std::string& message) { return ToGrpcStatus(Status::InvalidArgument(message)); }

}  // namespace

SubmissionLookups ExperimentService::Lookups() {
  SubmissionLookups lookups;
  lookups.dataset_exists = [this](const std::string& name) { return deps_.catalogue.FindDataset(name).ok(); };
  lookups.find_model = [this](const std::string& name) { return deps_.catalogue.FindModel(name); };
  return lookups;
}

grpc::Status ExperimentService::SubmitJob(grpc::ServerContext* context, const v1::SubmitJobRequest* request,
                                          v1::SubmitJobResponse* response) {
  if (grpc::Status auth = deps_.authenticator.Check(*context); !auth.ok()) return auth;
  if (deps_.draining.load()) return ToGrpcStatus(Status::Unavailable("server is shutting down"));
  if (!request->has_spec()) return Invalid("spec: missing; a submission needs a job spec");
  if (grpc::Status allowed = deps_.authenticator.CheckPriority(*context, request->spec().priority()); !allowed.ok()) {
    return allowed;
  }
  if (request->idempotency_key().size() > 256) return Invalid("idempotency_key: longer than 256 characters");
  v1::JobSpec spec = request->spec();
  Status valid = PrepareSubmission(&spec, Lookups(), deps_.limits.submission);
  if (valid.ok()) valid = sweep_rpcs::CheckBaseline(deps_.store, spec);
  if (!valid.ok()) return ToGrpcStatus(valid);
  StatusOr<v1::Job> job = deps_.store.Submit(spec, request->idempotency_key());
  if (!job.ok()) return ToGrpcStatus(job.status());
  *response->mutable_job() = std::move(*job);
  if (deps_.devices != nullptr && spec.measure_on_size() > 0) {
    StatusOr<std::vector<std::string>> registered = deps_.devices->RegisteredBoardKinds();
    if (!registered.ok()) return ToGrpcStatus(registered.status());
    for (const std::string& kind : spec.measure_on()) {
      if (std::find(registered->begin(), registered->end(), kind) != registered->end()) continue;
      response->add_warnings(fmt::format(
          "measure_on: no agent has registered a {} board (registered kinds: {}); its measurement will wait for "
          "one and fail after {} s (--measurement-queue-timeout)",
          PrintableValue(kind), registered->empty() ? "none" : fmt::format("{}", fmt::join(*registered, ", ")),
          deps_.devices->queue_timeout_ms() / 1000));
    }
  }
  return grpc::Status::OK;
}

grpc::Status ExperimentService::GetJob(grpc::ServerContext* context, const v1::GetJobRequest* request,
                                       v1::Job* response) {
  if (grpc::Status auth = deps_.authenticator.Check(*context); !auth.ok()) return auth;
  if (request->id().empty()) return Invalid("id: empty; give a job id");
  StatusOr<v1::Job> job = deps_.store.Get(request->id());
  if (!job.ok()) return ToGrpcStatus(job.status());
  *response = std::move(*job);
  return grpc::Status::OK;
}

grpc::Status ExperimentService::ListJobs(grpc::ServerContext* context, const v1::ListJobsRequest* request,
                                         v1::ListJobsResponse* response) {
  if (grpc::Status auth = deps_.authenticator.Check(*context); !auth.ok()) return auth;
  if (!v1::JobState_IsValid(request->state()))
    return Invalid(fmt::format("state: {} is no JobState", request->state()));
  ListJobsQuery query;
  query.page_size = request->page_size();
  query.page_token = request->page_token();
  query.state = request->state();
  query.experiment = request->experiment();
  query.sweep_id = request->sweep_id();
  query.labels.insert(request->labels().begin(), request->labels().end());
  if (!v1::JobView_IsValid(request->view())) return Invalid(fmt::format("view: {} is no JobView", request->view()));
  query.full_spec = request->view() == v1::JOB_VIEW_FULL;
  StatusOr<JobPage> page = deps_.store.List(query);
  if (!page.ok()) return ToGrpcStatus(page.status());
  for (v1::Job& job : page->jobs) *response->add_jobs() = std::move(job);
  response->set_next_page_token(page->next_page_token);
  return grpc::Status::OK;
}

grpc::Status ExperimentService::WatchJob(grpc::ServerContext* context, const v1::WatchJobRequest* request,
                                         grpc::ServerWriter<v1::JobEvent>* writer) {
  if (grpc::Status auth = deps_.authenticator.Check(*context); !auth.ok()) return auth;
  if (request->id().empty()) return Invalid("id: empty; give a job id");
  StatusOr<JobStore::Watch> watch = deps_.store.WatchJob(request->id());
  if (!watch.ok()) return ToGrpcStatus(watch.status());

  // Sends one event; on the terminal state of a succeeded job attaches the
  // result. Returns false when the stream should end.
  auto send = [&](JobUpdate update, bool* terminal) -> bool {
    v1::JobEvent event;
    *terminal = IsTerminal(update.job.state());
    if (*terminal && update.job.state() == v1::SUCCEEDED) {
      if (update.result.has_value()) {
        *event.mutable_result() = std::move(*update.result);
      } else if (StatusOr<v1::JobResult> result = deps_.store.GetResult(update.job.id()); result.ok()) {
        *event.mutable_result() = std::move(*result);
      }
    }
    if (update.progress.has_value()) *event.mutable_progress() = std::move(*update.progress);
    event.set_message(std::move(update.message));
    *event.mutable_job() = std::move(update.job);
    return writer->Write(event);
  };

  bool terminal = false;
  if (!send(JobUpdate{std::move(watch->job), std::nullopt, std::nullopt, "current state"}, &terminal)) {
    return ToGrpcStatus(Status::Cancelled("watch stream broken by the client"));
  }
  while (!terminal) {
    if (context->IsCancelled()) return ToGrpcStatus(Status::Cancelled("watch cancelled by the client"));
    std::optional<JobUpdate> update = watch->subscription->Next(kWatchSlice);
    if (!update.has_value()) {
      if (deps_.notifier.shut_down()) {
        return ToGrpcStatus(Status::Unavailable("server is shutting down; watch again after restart"));
      }
      continue;
    }
    if (!send(std::move(*update), &terminal)) {
      return ToGrpcStatus(Status::Cancelled("watch stream broken by the client"));
    }
  }
  return grpc::Status::OK;
}

grpc::Status ExperimentService::CancelJob(grpc::ServerContext* context, const v1::CancelJobRequest* request,
                                          v1::Job* response) {
  if (grpc::Status auth = deps_.authenticator.Check(*context); !auth.ok()) return auth;
  if (request->id().empty()) return Invalid("id: empty; give a job id");
  StatusOr<v1::Job> job = deps_.store.Cancel(request->id());
  if (!job.ok()) return ToGrpcStatus(job.status());
  *response = std::move(*job);
  return grpc::Status::OK;
}

grpc::Status ExperimentService::GetResults(grpc::ServerContext* context, const v1::GetResultsRequest* request,
                                           v1::GetResultsResponse* response) {
  if (grpc::Status auth = deps_.authenticator.Check(*context); !auth.ok()) return auth;
  if (request->id().empty()) return Invalid("id: empty; give a job id");
  StatusOr<v1::Job> job = deps_.store.Get(request->id());
  if (!job.ok()) return ToGrpcStatus(job.status());
  // A job without a result yet answers with the job alone: callers look at
  // job.state to know why.
  if (job->state() == v1::SUCCEEDED) {
    StatusOr<v1::JobResult> result = deps_.store.GetResult(request->id());
    if (!result.ok()) return ToGrpcStatus(result.status());
    *response->mutable_result() = std::move(*result);
  }
  if (grpc::Status s = device_rpcs::AddMeasurements(deps_.devices, request->id(), response); !s.ok()) return s;
  *response->mutable_job() = std::move(*job);
  return grpc::Status::OK;
}

grpc::Status ExperimentService::UploadDataset(grpc::ServerContext* context,
                                              grpc::ServerReader<v1::UploadDatasetRequest>* reader,
                                              v1::Dataset* response) {
  if (grpc::Status auth = deps_.authenticator.Check(*context); !auth.ok()) return auth;
  v1::UploadDatasetRequest first;
  if (!reader->Read(&first)) return Invalid("upload: empty stream; send a header, then the data in chunks");
  if (first.part_case() != v1::UploadDatasetRequest::kHeader) {
    return Invalid("header: the first message of an upload must be the header");
  }
  const v1::DatasetHeader& header = first.header();
  if (Status s = CheckUploadName("header.name", header.name()); !s.ok()) return ToGrpcStatus(s);
  if (header.format() != "idx" && header.format() != "npy" && header.format() != "csv") {
    return Invalid(fmt::format("header.format: '{}' is not one of idx, npy, csv", header.format()));
  }
  UploadAnnouncement announced;
  if (Status s = CheckUploadHeader(header.sha256(), header.size(), deps_.limits.max_upload_bytes, &announced);
      !s.ok()) {
    return ToGrpcStatus(s);
  }
  // Data sets are immutable: refuse a clashing name before taking the bytes.
  if (StatusOr<v1::Dataset> existing = deps_.catalogue.FindDataset(header.name());
      existing.ok() && existing->sha256() != announced.sha256) {
    return ToGrpcStatus(Status::AlreadyExists(
        fmt::format("dataset '{}' already exists with different content (sha256 {}); data sets are immutable, "
                    "pick another name",
                    header.name(), existing->sha256())));
  }
  int64_t received = 0;
  StatusOr<std::string> sha256 =
      ReceiveUploadBody(reader, deps_.artifacts, announced, deps_.limits.max_upload_bytes, &received);
  if (!sha256.ok()) return ToGrpcStatus(sha256.status().WithContext("dataset " + header.name()));
  StatusOr<v1::Dataset> dataset = deps_.catalogue.RecordDataset(header.name(), header.format(), *sha256, received);
  if (!dataset.ok()) return ToGrpcStatus(dataset.status());
  *response = std::move(*dataset);
  return grpc::Status::OK;
}

grpc::Status ExperimentService::ListDatasets(grpc::ServerContext* context, const v1::ListDatasetsRequest*,
                                             v1::ListDatasetsResponse* response) {
  if (grpc::Status auth = deps_.authenticator.Check(*context); !auth.ok()) return auth;
  StatusOr<std::vector<v1::Dataset>> datasets = deps_.catalogue.ListDatasets();
  if (!datasets.ok()) return ToGrpcStatus(datasets.status());
  for (v1::Dataset& d : *datasets) *response->add_datasets() = std::move(d);
  return grpc::Status::OK;
}

grpc::Status DownloadArtifactFrom(ServiceDependencies& deps, grpc::ServerContext* context,
                                  const v1::DownloadArtifactRequest& request,
                                  grpc::ServerWriter<v1::ArtifactChunk>* writer) {
  if (request.name().empty() && request.sha256().empty()) {
    return Invalid("name: empty; give job_id and name, or sha256");
  }
  if (!request.name().empty() && request.job_id().empty()) return Invalid("job_id: empty; a name is per job");
  // Digests are stored lowercase; either case is accepted, as UploadDataset
  // and UploadArtifact accept it.
  std::string sha256 = request.sha256();
  std::transform(sha256.begin(), sha256.end(), sha256.begin(), [](unsigned char c) { return std::tolower(c); });
  if (!sha256.empty() && !IsSha256Hex(sha256)) {
    return Invalid(fmt::format("sha256: '{}' is not a sha256 hex digest", request.sha256().substr(0, 80)));
  }
  StatusOr<v1::Artifact> artifact = deps.catalogue.FindArtifact(request.job_id(), request.name(), sha256);
  if (!artifact.ok()) return ToGrpcStatus(artifact.status());
  return SendBlob(deps.artifacts, artifact->sha256(), artifact->name(), artifact->size(), context, writer);
}

grpc::Status ExperimentService::DownloadArtifact(grpc::ServerContext* context,
                                                 const v1::DownloadArtifactRequest* request,
                                                 grpc::ServerWriter<v1::ArtifactChunk>* writer) {
  if (grpc::Status auth = deps_.authenticator.Check(*context); !auth.ok()) return auth;
  return DownloadArtifactFrom(deps_, context, *request, writer);
}

grpc::Status ExperimentService::UploadModel(grpc::ServerContext* context,
                                            grpc::ServerReader<v1::UploadModelRequest>* reader, v1::Model* response) {
  if (grpc::Status auth = deps_.authenticator.Check(*context); !auth.ok()) return auth;
  return model_rpcs::UploadModel(deps_, reader, response);
}

grpc::Status ExperimentService::ListModels(grpc::ServerContext* context, const v1::ListModelsRequest*,
                                           v1::ListModelsResponse* response) {
  if (grpc::Status auth = deps_.authenticator.Check(*context); !auth.ok()) return auth;
  return model_rpcs::ListModels(deps_, response);
}

grpc::Status ExperimentService::ExportModel(grpc::ServerContext* context, const v1::ExportModelRequest* request,
                                            grpc::ServerWriter<v1::ExportChunk>* writer) {
  if (grpc::Status auth = deps_.authenticator.Check(*context); !auth.ok()) return auth;
  return model_rpcs::ExportModel(deps_, context, *request, writer);
}

grpc::Status ExperimentService::ListDevices(grpc::ServerContext* context, const v1::ListDevicesRequest*,
                                            v1::ListDevicesResponse* response) {
  if (grpc::Status auth = deps_.authenticator.Check(*context); !auth.ok()) return auth;
  return device_rpcs::ListDevices(deps_.devices, response);
}

grpc::Status ExperimentService::Measure(grpc::ServerContext* context, const v1::MeasureRequest* request,
                                        v1::MeasureResponse* response) {
  if (grpc::Status auth = deps_.authenticator.Check(*context); !auth.ok()) return auth;
  return device_rpcs::Measure(deps_.devices, *request, response);
}

grpc::Status ExperimentService::CancelMeasurement(grpc::ServerContext* context,
                                                  const v1::CancelMeasurementRequest* request,
                                                  v1::Measurement* response) {
  if (grpc::Status auth = deps_.authenticator.Check(*context); !auth.ok()) return auth;
  return device_rpcs::CancelMeasurement(deps_.devices, *request, response);
}

grpc::Status ExperimentService::SubmitSweep(grpc::ServerContext* context, const v1::SubmitSweepRequest* request,
                                            v1::SweepStatus* response) {
  if (grpc::Status auth = deps_.authenticator.Check(*context); !auth.ok()) return auth;
  if (deps_.draining.load()) return ToGrpcStatus(Status::Unavailable("server is shutting down"));
  if (grpc::Status allowed = deps_.authenticator.CheckPriority(*context, request->spec().base().priority());
      !allowed.ok()) {
    return allowed;
  }
  return sweep_rpcs::SubmitSweep(deps_.store, Lookups(), deps_.limits.submission, *request, response);
}

grpc::Status ExperimentService::GetSweep(grpc::ServerContext* context, const v1::GetSweepRequest* request,
                                         v1::SweepStatus* response) {
  if (grpc::Status auth = deps_.authenticator.Check(*context); !auth.ok()) return auth;
  return sweep_rpcs::GetSweep(deps_.store, *request, response);
}

grpc::Status ExperimentService::CancelSweep(grpc::ServerContext* context, const v1::CancelSweepRequest* request,
                                            v1::SweepStatus* response) {
  if (grpc::Status auth = deps_.authenticator.Check(*context); !auth.ok()) return auth;
  return sweep_rpcs::CancelSweep(deps_.store, *request, response);
}

grpc::Status ExperimentService::SubmitSearch(grpc::ServerContext* context, const v1::SubmitSearchRequest* request,
                                             v1::Search* response) {
  if (grpc::Status auth = deps_.authenticator.Check(*context); !auth.ok()) return auth;
  if (deps_.draining.load()) return ToGrpcStatus(Status::Unavailable("server is shutting down"));
  if (grpc::Status allowed = deps_.authenticator.CheckPriority(*context, request->spec().priority()); !allowed.ok()) {
    return allowed;
  }
  return search_rpcs::SubmitSearch(deps_, Lookups(), *request, response);
}

grpc::Status ExperimentService::GetSearch(grpc::ServerContext* context, const v1::GetSearchRequest* request,
                                          v1::Search* response) {
  if (grpc::Status auth = deps_.authenticator.Check(*context); !auth.ok()) return auth;
  return search_rpcs::GetSearch(deps_, *request, response);
}

grpc::Status ExperimentService::ListSearches(grpc::ServerContext* context, const v1::ListSearchesRequest* request,
                                             v1::ListSearchesResponse* response) {
  if (grpc::Status auth = deps_.authenticator.Check(*context); !auth.ok()) return auth;
  return search_rpcs::ListSearches(deps_, *request, response);
}

grpc::Status ExperimentService::CancelSearch(grpc::ServerContext* context, const v1::CancelSearchRequest* request,
                                             v1::Search* response) {
  if (grpc::Status auth = deps_.authenticator.Check(*context); !auth.ok()) return auth;
  return search_rpcs::CancelSearch(deps_, *request, response);
}

}  // namespace qatlab::server
