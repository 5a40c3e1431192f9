#include "client/qatctl_commands.h"

#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <thread>

#include <fmt/format.h>
#include <google/protobuf/util/json_util.h>
#include <nlohmann/json.hpp>

#include "client/exit_codes.h"
#include "client/job_set_view.h"
#include "client/output_files.h"
#include "client/progress_view.h"
#include "client/result_view.h"
#include "client/run_record_view.h"
#include "client/sweep_ids.h"
#include "client/terminal.h"
#include "client/text_table.h"
#include "digest/sha256.h"
#include "retry/backoff.h"
#include "server_client/checked_download.h"
#include "server_client/server_link.h"

namespace qatlab {
namespace {

constexpr size_t kUploadChunkBytes = 256 * 1024;
// How long `watch` keeps trying to reach a server that went away before it
// gives up: long enough for a supervised restart.
constexpr auto kWatchReconnectBudget = std::chrono::seconds(60);
// How often a watch of several jobs, or of measurements, asks again.
constexpr auto kPollInterval = std::chrono::milliseconds(500);

std::string ToJson(const google::protobuf::Message& message, bool pretty) {
  google::protobuf::util::JsonPrintOptions options;
  options.add_whitespace = pretty;
  options.always_print_primitive_fields = true;
  std::string text;
  auto status = google::protobuf::util::MessageToJsonString(message, &text, options);
  if (!status.ok()) return "{}";
  // The pretty printer ends with a newline, the compact one does not.
  while (!text.empty() && text.back() == '\n') text.pop_back();
  return text;
}

bool IsFinal(v1::JobState state) { return state == v1::SUCCEEDED || state == v1::FAILED || state == v1::CANCELLED; }

bool IsFinalMeasurement(const v1::Measurement& measurement) {
  return measurement.state() == "SUCCEEDED" || measurement.state() == "FAILED" || measurement.state() == "CANCELLED";
}

// The width to fit stdout into when it is a terminal.
size_t StdoutColumns() { return TerminalColumns(STDOUT_FILENO); }

std::string UpperCase(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(), [](unsigned char c) { return std::toupper(c); });
  return text;
}

// `qatctl show`: the job, its labels and times, then its results or, while
// it runs, its latest progress; then its measurements, whatever their state,
// and with `layers` their per-layer cycles.
void PrintJobDetails(const v1::GetResultsResponse& results, bool layers) {
  const v1::Job& job = results.job();
  fmt::print("{}\n", JobSummaryLine(job));
  if (!job.labels().empty()) {
    std::vector<std::string> labels;
    for (const auto& [key, value] : job.labels()) labels.push_back(key + "=" + value);
    std::sort(labels.begin(), labels.end());
    fmt::print("labels: {}\n", fmt::join(labels, " "));
  }
  fmt::print("created {}  started {}  finished {}\n", FormatUnixMillis(job.created_unix_ms()),
             FormatUnixMillis(job.started_unix_ms()), FormatUnixMillis(job.finished_unix_ms()));
  if (results.has_result() && results.result().variants_size() > 0) {
    const v1::JobResult& result = results.result();
    const bool ptq_subset = result.ptq_test_samples() > 0 && result.ptq_test_samples() < result.test_samples();
    fmt::print("model {}  data {} ({} train / {} test{})  total {}\n\n", result.model(), result.dataset(),
               result.train_samples(), result.test_samples(),
               ptq_subset ? fmt::format("; PTQ variants on the first {}", result.ptq_test_samples()) : "",
               FormatDuration(result.total_seconds()));
    fmt::print("{}", RenderResultTable(results));
    fmt::print("{}", RenderRunRecord(result.run()));
  } else if (job.state() == v1::RUNNING && job.has_last_progress()) {
    const v1::EpochStats& last = job.last_progress();
    fmt::print("progress: {} epoch {}/{}  loss {:.4f}  test {}\n", last.variant(), last.epoch(), last.epochs(),
               last.loss(), FormatPercent(last.test_accuracy()));
  }
  if (results.measurements_size() > 0) fmt::print("\nmeasurements:\n{}", RenderMeasurementTable(results));
  if (layers) {
    const std::string cycles = RenderLayerCycles(results);
    fmt::print("\nper-layer cycles:\n{}", cycles.empty() ? "(no measurement recorded per-layer cycles)\n" : cycles);
  }
}

void PrintDatasetTable(const v1::ListDatasetsResponse& response) {
  TextTable table;
  using Align = TextTable::Align;
  table.SetColumns({"NAME", "FORMAT", "SIZE", "SHA256", "CREATED"},
                   {Align::kLeft, Align::kLeft, Align::kRight, Align::kLeft, Align::kLeft});
  for (const auto& dataset : response.datasets()) {
    table.AddRow({dataset.name(), dataset.format(), FormatKilobytes(dataset.size()), dataset.sha256().substr(0, 16),
                  FormatUnixMillis(dataset.created_unix_ms())});
  }
  fmt::print("{}", table.Render());
}

// `qatctl artifacts ls --json`: {"jobId": ..., "artifacts": [{"name",
// "variant", "sha256", "size"}, ...]}, the fields named as the API's
// Artifact message names them.
std::string ArtifactListJson(const v1::GetResultsResponse& results) {
  nlohmann::json list = nlohmann::json::array();
  for (const auto& variant : results.result().variants()) {
    if (variant.artifact().empty() && variant.artifact_sha256().empty()) continue;
    list.push_back({{"name", variant.artifact()},
                    {"variant", variant.name()},
                    {"sha256", variant.artifact_sha256()},
                    {"size", variant.flash_bytes()}});
  }
  nlohmann::json document = {{"jobId", results.job().id()}, {"artifacts", list}};
  return document.dump(2);
}

// The variants of a job that have an artifact.
void PrintArtifactTable(const v1::GetResultsResponse& results) {
  TextTable table;
  using Align = TextTable::Align;
  table.SetColumns({"VARIANT", "ARTIFACT", "SIZE", "SHA256"},
                   {Align::kLeft, Align::kLeft, Align::kRight, Align::kLeft});
  for (const auto& variant : results.result().variants()) {
    if (variant.artifact().empty() && variant.artifact_sha256().empty()) continue;
    table.AddRow(
        {variant.name(), variant.artifact(), FormatKilobytes(variant.flash_bytes()), variant.artifact_sha256()});
  }
  fmt::print("{}", table.Render());
}

}  // namespace

QatctlCommands::QatctlCommands(QatctlOptions options)
    : options_(std::move(options)),
      stub_(v1::ExperimentService::NewStub(OpenServerChannel(options_.address, options_.security))) {}

int QatctlCommands::Fail(const std::string& reason) const {
  std::fflush(stdout);
  fmt::print(stderr, "qatctl: error: {}\n", reason);
  return 1;
}

int QatctlCommands::FailRpc(const grpc::Status& status) const {
  Fail(DescribeRpcError(status, options_.address));
  return ExitCodeForRpc(status.error_code());
}

void QatctlCommands::Prepare(grpc::ClientContext* context, bool with_deadline) const {
  PrepareCall(context, options_.token, with_deadline ? options_.timeout_ms : 0);
}

int QatctlCommands::PrintJson(const google::protobuf::Message& message) const {
  fmt::print("{}\n", ToJson(message, true));
  return 0;
}

int QatctlCommands::Submit(const SubmitFlags& flags, const std::string& idempotency_key, bool watch) {
  StatusOr<v1::JobSpec> spec = BuildJobSpec(flags);
  if (!spec.ok()) return Fail(DescribeStatus(spec.status()));
  v1::SubmitJobRequest request;
  *request.mutable_spec() = *spec;
  request.set_idempotency_key(idempotency_key);
  v1::SubmitJobResponse response;
  grpc::Status status = Call(&v1::ExperimentService::Stub::SubmitJob, request, &response);
  if (!status.ok()) return FailRpc(status);
  for (const std::string& warning : response.warnings()) fmt::print(stderr, "qatctl: warning: {}\n", warning);
  if (options_.json && !watch) {
    PrintJson(response.job());
  } else {
    fmt::print("{}\n", response.job().id());
  }
  std::fflush(stdout);
  if (!watch) return 0;
  return Watch({response.job().id()});
}

int QatctlCommands::Watch(const std::vector<std::string>& job_ids, bool follow_measurements) {
  if (job_ids.empty()) return Fail("INVALID_ARGUMENT: give at least one job id");
  // A sweep id stands for all of its jobs.
  StatusOr<std::vector<std::string>> expanded = ExpandSweepIds(*stub_, options_.token, options_.timeout_ms, job_ids);
  if (!expanded.ok()) return Fail(DescribeStatus(expanded.status()));
  if (expanded->size() == 1 && !IsSweepId(job_ids.front())) return WatchOne(expanded->front(), follow_measurements);
  return WatchMany(*expanded);
}

int QatctlCommands::WatchOne(const std::string& job_id, bool follow_measurements) {
  const bool terminal = IsTerminal(STDOUT_FILENO);
  ProgressView view(options_.json ? nullptr : stdout, terminal, StdoutColumns);
  auto give_up_at = std::chrono::steady_clock::now() + kWatchReconnectBudget;
  Backoff reconnect({std::chrono::milliseconds(200), std::chrono::milliseconds(2000), 0.0});
  grpc::Status last_status;
  while (true) {
    grpc::ClientContext context;
    Prepare(&context, false);
    v1::WatchJobRequest request;
    request.set_id(job_id);
    std::unique_ptr<grpc::ClientReader<v1::JobEvent>> reader = stub_->WatchJob(&context, request);
    v1::JobEvent event;
    bool got_event = false;
    while (reader->Read(&event)) {
      got_event = true;
      if (options_.json) {
        fmt::print("{}\n", ToJson(event, false));
        std::fflush(stdout);
      }
      view.OnEvent(event);
    }
    last_status = reader->Finish();
    if (IsFinal(view.state())) break;
    // The stream ended before the job did: the server went away (restart,
    // network). Anything but a transient failure is final.
    if (!last_status.ok() && !IsTransientRpcError(last_status)) return FailRpc(last_status);
    if (got_event) {
      give_up_at = std::chrono::steady_clock::now() + kWatchReconnectBudget;
      reconnect.Reset();
    }
    if (std::chrono::steady_clock::now() > give_up_at) {
      return FailRpc(last_status.ok() ? grpc::Status(grpc::StatusCode::UNAVAILABLE, "watch stream ended early")
                                      : last_status);
    }
    std::this_thread::sleep_for(reconnect.Next());
  }

  const v1::Job& job = view.job();
  int measurements_status = 0;
  if (job.state() == v1::SUCCEEDED) {
    v1::GetResultsResponse results;
    if (follow_measurements && job.spec().measure_on_size() > 0) {
      measurements_status = FollowMeasurements(
          job_id, {}, [&view](const v1::GetResultsResponse& update) { view.OnMeasurements(update); }, &results);
      if (measurements_status != 0 && results.job().id().empty()) return measurements_status;
    } else if (!options_.json) {
      v1::GetResultsRequest request;
      request.set_id(job_id);
      grpc::Status status = Call(&v1::ExperimentService::Stub::GetResults, request, &results);
      if (!status.ok()) {
        if (!view.has_result()) return FailRpc(status);
        *results.mutable_job() = job;
        *results.mutable_result() = view.result();
      }
    }
    if (options_.json) {
      if (results.measurements_size() > 0) PrintJson(results);
    } else {
      fmt::print("\n{}", RenderResultTable(results, terminal ? StdoutColumns() : 0));
    }
  }
  if (job.state() == v1::FAILED) {
    return Fail(fmt::format("job {} FAILED{}", job.id(), job.error().empty() ? "" : ": " + job.error()));
  }
  if (job.state() == v1::CANCELLED) return Fail(fmt::format("job {} CANCELLED", job.id()));
  return measurements_status;
}

int QatctlCommands::FollowMeasurements(const std::string& job_id, const std::vector<std::string>& ids,
                                       const std::function<void(const v1::GetResultsResponse&)>& view,
                                       v1::GetResultsResponse* last) {
  auto give_up_at = std::chrono::steady_clock::now() + kWatchReconnectBudget;
  while (true) {
    v1::GetResultsRequest request;
    request.set_id(job_id);
    v1::GetResultsResponse results;
    grpc::Status status = Call(&v1::ExperimentService::Stub::GetResults, request, &results);
    if (!status.ok()) {
      if (!IsTransientRpcError(status) || std::chrono::steady_clock::now() > give_up_at) return FailRpc(status);
      std::this_thread::sleep_for(kPollInterval);
      continue;
    }
    give_up_at = std::chrono::steady_clock::now() + kWatchReconnectBudget;
    if (!ids.empty()) {
      // Only the measurements asked about.
      auto* measurements = results.mutable_measurements();
      measurements->erase(std::remove_if(measurements->begin(), measurements->end(),
                                         [&ids](const v1::Measurement& m) {
                                           return std::find(ids.begin(), ids.end(), m.id()) == ids.end();
                                         }),
                          measurements->end());
    }
    view(results);
    const bool all_final = std::all_of(results.measurements().begin(), results.measurements().end(),
                                       [](const v1::Measurement& m) { return IsFinalMeasurement(m); });
    if (all_final) {
      *last = std::move(results);
      int failed = 0;
      for (const auto& measurement : last->measurements()) failed += measurement.state() != "SUCCEEDED";
      if (failed > 0) {
        return Fail(
            fmt::format("{} of {} measurements of job {} did not succeed", failed, last->measurements_size(), job_id));
      }
      return 0;
    }
    std::this_thread::sleep_for(kPollInterval);
  }
}

int QatctlCommands::WatchMany(const std::vector<std::string>& job_ids) {
  JobSetView view(job_ids, options_.json ? nullptr : stdout, IsTerminal(STDOUT_FILENO), StdoutColumns);
  auto give_up_at = std::chrono::steady_clock::now() + kWatchReconnectBudget;
  std::vector<std::string> printed_json;
  while (true) {
    bool reached_all = true;
    for (const std::string& id : job_ids) {
      if (view.IsFinal(id) && !view.NeedsResults(id)) continue;  // ended: asked no more
      v1::GetJobRequest request;
      request.set_id(id);
      v1::Job job;
      grpc::Status status = Call(&v1::ExperimentService::Stub::GetJob, request, &job);
      if (!status.ok()) {
        // A server away (restart) is waited for, within the budget.
        if (!IsTransientRpcError(status) || std::chrono::steady_clock::now() > give_up_at) return FailRpc(status);
        reached_all = false;
        continue;
      }
      view.OnJob(job);
      if (view.NeedsResults(id)) {
        v1::GetResultsRequest results_request;
        results_request.set_id(id);
        v1::GetResultsResponse results;
        if (Call(&v1::ExperimentService::Stub::GetResults, results_request, &results).ok()) view.OnResults(results);
      }
      if (options_.json && IsFinal(job.state()) &&
          std::find(printed_json.begin(), printed_json.end(), id) == printed_json.end()) {
        printed_json.push_back(id);
        fmt::print("{}\n", ToJson(job, false));
        std::fflush(stdout);
      }
    }
    if (reached_all) give_up_at = std::chrono::steady_clock::now() + kWatchReconnectBudget;
    view.Show();
    if (reached_all && view.AllFinal()) break;
    std::this_thread::sleep_for(kPollInterval);
  }
  const int not_succeeded = static_cast<int>(job_ids.size()) - view.CountIn(v1::SUCCEEDED);
  if (not_succeeded > 0) {
    return Fail(fmt::format("{} of {} jobs did not succeed ({} failed, {} cancelled)", not_succeeded, job_ids.size(),
                            view.CountIn(v1::FAILED), view.CountIn(v1::CANCELLED)));
  }
  return 0;
}

int QatctlCommands::List(const ListFlags& flags) {
  v1::ListJobsRequest request;
  if (!flags.state.empty()) {
    v1::JobState state;
    if (!v1::JobState_Parse(UpperCase(flags.state), &state) || state == v1::JOB_STATE_UNSPECIFIED) {
      return Fail(
          fmt::format("INVALID_ARGUMENT: --state: unknown state \"{}\" (QUEUED, RUNNING, SUCCEEDED, "
                      "FAILED, CANCELLED)",
                      flags.state));
    }
    request.set_state(state);
  }
  request.set_experiment(flags.experiment);
  request.set_sweep_id(flags.sweep);
  for (const auto& text : flags.labels) {
    StatusOr<std::pair<std::string, std::string>> label = ParseLabel(text);
    if (!label.ok()) return Fail(DescribeStatus(label.status()));
    (*request.mutable_labels())[label->first] = label->second;
  }
  if (flags.limit < 1) {
    Fail(fmt::format("--limit must be at least 1, not {}", flags.limit));
    return kExitUsage;
  }
  const int limit = flags.limit;
  v1::ListJobsResponse all;
  while (all.jobs_size() < limit) {
    request.set_page_size(std::min(1000, limit - all.jobs_size()));
    v1::ListJobsResponse page;
    grpc::Status status = Call(&v1::ExperimentService::Stub::ListJobs, request, &page);
    if (!status.ok()) return FailRpc(status);
    for (auto& job : *page.mutable_jobs()) {
      if (all.jobs_size() < limit) *all.add_jobs() = std::move(job);
    }
    if (page.next_page_token().empty() || page.jobs_size() == 0) break;
    request.set_page_token(page.next_page_token());
    all.set_next_page_token(page.next_page_token());
  }
  if (options_.json) return PrintJson(all);
  TextTable table;
  using Align = TextTable::Align;
  table.SetColumns({"ID", "STATE", "EXPERIMENT", "MODEL", "CONFIGS", "ATTEMPT", "CREATED", "PROGRESS"},
                   {Align::kLeft, Align::kLeft, Align::kLeft, Align::kLeft, Align::kLeft, Align::kRight, Align::kLeft,
                    Align::kLeft});
  for (const auto& job : all.jobs()) {
    std::vector<std::string> configs;
    for (const auto& config : job.spec().configs()) {
      configs.push_back(!config.name().empty() ? config.name()
                                               : fmt::format("w{}a{}", config.weight_bits(), config.activation_bits()));
    }
    std::string progress = "-";
    if (job.state() == v1::RUNNING && job.has_last_progress()) {
      const v1::EpochStats& last = job.last_progress();
      progress = fmt::format("{} {}/{} test {}", last.variant(), last.epoch(), last.epochs(),
                             FormatPercent(last.test_accuracy()));
    } else if (job.state() == v1::FAILED && !job.error().empty()) {
      progress = job.error().substr(0, 60);
    }
    std::string model = job.spec().model().preset();
    if (model.empty()) model = job.spec().model().onnx();
    if (model.empty()) model = fmt::format("{} layers", job.spec().model().layers_size());
    table.AddRow({job.id(), JobStateName(job.state()), job.experiment().empty() ? "-" : job.experiment(), model,
                  configs.empty() ? "-" : fmt::format("{}", fmt::join(configs, ",")),
                  fmt::format("{}/{}", job.attempt(), job.max_attempts()), FormatUnixMillis(job.created_unix_ms()),
                  progress});
  }
  fmt::print("{}", table.Render());
  if (!all.next_page_token().empty() && all.jobs_size() >= limit) {
    fmt::print("(showing {}; more with --limit)\n", all.jobs_size());
  }
  return 0;
}

int QatctlCommands::Show(const std::string& job_id, bool layers) {
  v1::GetResultsRequest request;
  request.set_id(job_id);
  return CallAndPrint(&v1::ExperimentService::Stub::GetResults, request,
                      [layers](const v1::GetResultsResponse& results) { PrintJobDetails(results, layers); });
}

int QatctlCommands::Compare(const std::vector<std::string>& job_ids) {
  std::vector<v1::GetResultsResponse> all;
  for (const auto& id : job_ids) {
    v1::GetResultsRequest request;
    request.set_id(id);
    v1::GetResultsResponse results;
    grpc::Status status = Call(&v1::ExperimentService::Stub::GetResults, request, &results);
    if (!status.ok()) return FailRpc(status);
    all.push_back(std::move(results));
  }
  if (options_.json) {
    std::vector<std::string> documents;
    for (const auto& results : all) documents.push_back(ToJson(results, true));
    fmt::print("[{}]\n", fmt::join(documents, ",\n"));
    return 0;
  }
  fmt::print("{}", RenderComparisonTable(all));
  if (std::string differ = RenderSettingsThatDiffer(all); !differ.empty()) fmt::print("\n{}", differ);
  return 0;
}

int QatctlCommands::Cancel(const std::string& job_id) {
  v1::CancelJobRequest request;
  request.set_id(job_id);
  return CallAndPrint(&v1::ExperimentService::Stub::CancelJob, request,
                      [](const v1::Job& job) { fmt::print("{}\n", JobSummaryLine(job)); });
}

int QatctlCommands::ListDatasets() {
  return CallAndPrint(&v1::ExperimentService::Stub::ListDatasets, v1::ListDatasetsRequest(), PrintDatasetTable);
}

int QatctlCommands::UploadDataset(const std::string& name, const std::string& file, const std::string& format) {
  if (format != "idx" && format != "npy" && format != "csv") {
    return Fail(fmt::format("INVALID_ARGUMENT: --format must be idx, npy or csv, not \"{}\"", format));
  }
  StatusOr<std::string> digest = Sha256OfFile(file);
  if (!digest.ok()) return Fail(DescribeStatus(digest.status()));
  std::error_code error;
  auto size = std::filesystem::file_size(file, error);
  if (error) return Fail(fmt::format("IO_ERROR: cannot read {}: {}", file, error.message()));

  grpc::ClientContext context;
  Prepare(&context, false);
  v1::Dataset dataset;
  std::unique_ptr<grpc::ClientWriter<v1::UploadDatasetRequest>> writer = stub_->UploadDataset(&context, &dataset);
  v1::UploadDatasetRequest header;
  header.mutable_header()->set_name(name);
  header.mutable_header()->set_format(format);
  header.mutable_header()->set_sha256(*digest);
  header.mutable_header()->set_size(static_cast<int64_t>(size));
  bool open = writer->Write(header);
  std::ifstream in(file, std::ios::binary);
  std::string buffer(kUploadChunkBytes, '\0');
  while (open && in) {
    in.read(buffer.data(), static_cast<std::streamsize>(buffer.size()));
    if (in.gcount() == 0) break;
    v1::UploadDatasetRequest chunk;
    chunk.set_chunk(buffer.data(), static_cast<size_t>(in.gcount()));
    open = writer->Write(chunk);
  }
  writer->WritesDone();
  grpc::Status status = writer->Finish();
  if (!status.ok()) return FailRpc(status);
  if (options_.json) {
    PrintJson(dataset);
  } else {
    fmt::print("uploaded dataset {} ({}, {}, sha256 {})\n", dataset.name(), dataset.format(),
               FormatKilobytes(dataset.size()), dataset.sha256());
  }
  return 0;
}

int QatctlCommands::ListArtifacts(const std::string& job_id) {
  v1::GetResultsRequest request;
  request.set_id(job_id);
  v1::GetResultsResponse results;
  grpc::Status status = Call(&v1::ExperimentService::Stub::GetResults, request, &results);
  if (!status.ok()) return FailRpc(status);
  if (options_.json) {
    fmt::print("{}\n", ArtifactListJson(results));
  } else {
    PrintArtifactTable(results);
  }
  return 0;
}

int QatctlCommands::GetArtifact(const std::string& job_id, const std::string& name, const std::string& output,
                                bool force) {
  bool to_stdout = output == "-";
  std::string path = output.empty() ? std::filesystem::path(name).filename().string() : output;
  // Refused before the transfer; checked again, atomically, when it lands.
  if (!to_stdout) {
    if (Status free = CheckOutputFree(path, force); !free.ok()) return Fail(DescribeStatus(free));
  }
  v1::DownloadArtifactRequest request;
  request.set_job_id(job_id);
  request.set_name(name);
  grpc::ClientContext context;
  Prepare(&context, false);
  std::unique_ptr<grpc::ClientReader<v1::ArtifactChunk>> reader = stub_->DownloadArtifact(&context, request);

  // Written under a temporary name and renamed at the end, so an interrupted
  // or corrupted transfer never leaves a file that looks complete.
  const std::string partial = TemporaryPathBeside(path);
  std::ofstream out;
  if (!to_stdout) {
    out.open(partial, std::ios::binary | std::ios::trunc);
    if (!out) return Fail(fmt::format("IO_ERROR: cannot write {}", partial));
  }
  DownloadSink sink;
  sink.append = [&](std::string_view bytes) {
    if (to_stdout) {
      std::fwrite(bytes.data(), 1, bytes.size(), stdout);
      return Status::Ok();
    }
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    return out ? Status::Ok() : Status::IOError("cannot write " + partial);
  };
  StatusOr<ReceivedBlob> blob =
      ReceiveChecked(context, *reader, sink, fmt::format("artifact {} of job {}", name, job_id), options_.address);
  if (!to_stdout) out.close();
  if (!blob.ok()) {
    if (!to_stdout) std::filesystem::remove(partial);
    return Fail(DescribeStatus(blob.status()));
  }
  if (to_stdout) return 0;
  if (!out) {
    std::filesystem::remove(partial);
    return Fail(fmt::format("IO_ERROR: cannot write {}", partial));
  }
  if (Status placed = MoveIntoPlace(partial, path, force); !placed.ok()) return Fail(DescribeStatus(placed));
  fmt::print(stderr, "wrote {} ({} bytes, sha256 {})\n", path, blob->size, blob->sha256);
  return 0;
}

}  // namespace qatlab
