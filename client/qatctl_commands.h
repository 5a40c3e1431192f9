// The commands of qatctl, one method each, over one connection to a
// qatlab-server. Every method prints its output to stdout, its one-line error
// ("qatctl: error: NOT_FOUND: job j-123 not found") to stderr, and returns the
// process exit status (client/exit_codes.h): 0 on success, 1 on a failure
// (including a watched job that ends FAILED or CANCELLED), 3 when the server
// cannot be reached, 4 when it refuses the caller.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <google/protobuf/message.h>

#include "client/job_spec_flags.h"
#include "qatlab/v1/experiment.grpc.pb.h"
#include "server_client/server_link.h"

namespace qatlab {

struct QatctlOptions {
  std::string address;     // host:port of the server
  std::string token;       // bearer token; empty: none
  bool json = false;       // read commands print protobuf JSON
  int timeout_ms = 30000;  // per unary call; watch has none

  ChannelSecurity security;  // TLS or not (server_client/server_link.h)
};

struct ListFlags {
  std::string state;  // QUEUED | RUNNING | ... (case-insensitive); empty: any
  std::string experiment;
  std::vector<std::string> labels;  // "k=v"
  std::string sweep;                // only this sweep's jobs
  int limit = 50;
};

struct ExportFlags {
  std::string job_id;
  std::string variant;
  std::string format = "qmodel";  // qmodel | onnx | c (the server checks it)
  std::string output;             // empty: ./<job>-<variant>.<format>, or ./<job>-<variant>-c/ for c
  std::string name;               // names the files and C symbols; empty: the variant
  bool force = false;             // replace an existing output
};

// `qatctl report JOB... -o report.html` (report/html_report.h).
struct ReportFlags {
  std::vector<std::string> ids;  // job ids, in the order of the report
  std::string output;            // the HTML file to write
  bool force = false;            // overwrite an existing file
  std::string title;             // empty: "qatlab report: <ids>"
};

// `qatctl rerun ID` (qatctl_rerun_commands.cc, client/rerun_plan.h).
struct RerunFlags {
  std::string job_id;
  bool allow_changed_data = false;  // submit even when an uploaded input changed
  bool wait = false;                // follow the re-run and compare its models
};

class QatctlCommands {
 public:
  explicit QatctlCommands(QatctlOptions options);

  int Submit(const SubmitFlags& flags, const std::string& idempotency_key, bool watch);
  // Follows jobs until each has ended. One job: its live progress
  // (ProgressView), then, when its spec queued measurements and
  // `follow_measurements`, those until each has ended, then its result
  // table. Several jobs (a sweep is its jobs): one line per job with counts
  // and the best result so far (JobSetView). 0 when every job SUCCEEDED.
  int Watch(const std::vector<std::string>& job_ids, bool follow_measurements = true);
  int List(const ListFlags& flags);
  // With `layers`, the per-layer cycles of each measurement too.
  int Show(const std::string& job_id, bool layers = false);
  int Compare(const std::vector<std::string>& job_ids);
  int Cancel(const std::string& job_id);
  int ListDatasets();
  int UploadDataset(const std::string& name, const std::string& file, const std::string& format);
  int ListArtifacts(const std::string& job_id);
  // Refuses an existing `output` unless `force`.
  int GetArtifact(const std::string& job_id, const std::string& name, const std::string& output, bool force);
  // Models in and out (qatctl_model_commands.cc). `name` empty: the file's
  // name without its extension.
  int ListModels();
  int UploadModel(const std::string& file, const std::string& name);
  // Writes nothing on any error; refuses an existing output unless
  // flags.force.
  int Export(const ExportFlags& flags);
  // The HTML report of the jobs (report_command.cc): written through
  // output_files (never a partial file; an existing one only with
  // flags.force), nothing written when a job is unknown or has no results
  // yet; "wrote ..." on stderr on success.
  int Report(const ReportFlags& flags);
  // Devices and measurements (qatctl_device_commands.cc).
  int ListDevices();
  // With `watch`, follows the queued measurements until each has ended
  // (0 when all SUCCEEDED).
  int Measure(const std::string& job_id, const std::string& variant, const std::string& board_kind,
              const std::string& device_id, bool watch = false);
  int CancelMeasurement(const std::string& measurement_id);
  // Sweeps (qatctl_sweep_commands.cc, docs/sweeps.md). SubmitSweep prints
  // the sweep id, then one line per job ("<job id>  <config or baseline>");
  // with `wait`, polls until every job ended, prints ShowSweep and returns 1
  // unless all succeeded. ShowSweep: one line per job, the counts and the
  // best integer accuracy so far. CompareSweep: every variant of the sweep in
  // one table, the shared float model once.
  int SubmitSweep(const std::string& file, bool wait);
  int ShowSweep(const std::string& sweep_id);
  int CompareSweep(const std::string& sweep_id);
  int CancelSweep(const std::string& sweep_id);
  // Re-runs and worker logs (qatctl_rerun_commands.cc). Rerun prints the new
  // job's id; with flags.wait it follows it and compares its run record with
  // the original's (exit 1 when the same inputs and engine gave other
  // models). Logs prints attempt `attempt`'s worker log (0: the latest).
  int Rerun(const RerunFlags& flags);
  int Logs(const std::string& job_id, int attempt);

 private:
  // Prints "qatctl: error: <reason>" to stderr; returns 1.
  int Fail(const std::string& reason) const;
  // The same for a failed call; returns its exit status (ExitCodeForRpc).
  int FailRpc(const grpc::Status& status) const;
  int WatchOne(const std::string& job_id, bool follow_measurements);
  int WatchMany(const std::vector<std::string>& job_ids);
  // Polls the job's measurements (those in `ids`; empty: all) into `view`
  // until each has ended; the last GetResults in `*last`.
  int FollowMeasurements(const std::string& job_id, const std::vector<std::string>& ids,
                         const std::function<void(const v1::GetResultsResponse&)>& view, v1::GetResultsResponse* last);
  void Prepare(grpc::ClientContext* context, bool with_deadline) const;
  // Prints `message` as indented protobuf JSON and a newline; returns 0.
  int PrintJson(const google::protobuf::Message& message) const;

  template <typename Request, typename Response>
  using UnaryRpc = grpc::Status (v1::ExperimentService::Stub::*)(grpc::ClientContext*, const Request&, Response*);

  // One unary call with the token and the per-call deadline.
  template <typename Request, typename Response>
  grpc::Status Call(UnaryRpc<Request, Response> rpc, const Request& request, Response* response) const {
    grpc::ClientContext context;
    Prepare(&context, true);
    return (stub_.get()->*rpc)(&context, request, response);
  }

  // The shape of the commands that make one call and print its answer: on
  // failure the error line and 1; else 0, after printing `json_part(response)`
  // as JSON under --json, or calling `print_text(response)` otherwise.
  template <typename Request, typename Response, typename PrintText, typename JsonPart = std::identity>
  int CallAndPrint(UnaryRpc<Request, Response> rpc, const Request& request, PrintText print_text,
                   JsonPart json_part = {}) const {
    Response response;
    grpc::Status status = Call(rpc, request, &response);
    if (!status.ok()) return FailRpc(status);
    if (options_.json) return PrintJson(json_part(response));
    print_text(response);
    return 0;
  }

  QatctlOptions options_;
  std::unique_ptr<v1::ExperimentService::Stub> stub_;
};

}  // namespace qatlab
