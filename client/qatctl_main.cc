// qatctl: the command line of qatlab. main only parses flags and dispatches
// to QatctlCommands.
#include <cstdio>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include "client/qatctl_commands.h"
#include "server_client/server_link.h"
#include "server_client/tls_command_line.h"

int main(int argc, char** argv) {
  CLI::App app{"qatctl: submit, follow and compare quantization experiments on a qatlab-server"};
  app.require_subcommand(1);
  app.fallthrough();  // global flags may follow the subcommand: `qatctl show ID --json`

  std::string server;
  std::string token_file;
  bool json = false;
  double timeout_seconds = 30;
  app.add_option("--server", server, "server address host:port (default $QATLAB_SERVER or 127.0.0.1:50051)");
  app.add_option("--token-file", token_file, "file holding the bearer token (default $QATLAB_TOKEN)");
  qatlab::TlsFlags tls_flags;
  qatlab::AddTlsFlags(app, &tls_flags);
  app.add_flag("--json", json, "print protobuf JSON instead of tables");
  app.add_option("--timeout", timeout_seconds, "seconds to wait for each request (watch waits as long as the job)");

  // submit
  qatlab::SubmitFlags submit_flags;
  std::string idempotency_key;
  bool submit_watch = false;
  int epochs = 0, qat_epochs = 0, batch_size = 0, train_limit = 0, test_limit = 0, priority = 0, max_attempts = 0;
  double learning_rate = 0;
  uint64_t seed = 0;
  auto* submit = app.add_subcommand("submit", "submit a job (a JSON job file and/or flags); prints the job id");
  submit->add_option("job_file", submit_flags.job_file, "job file: qatlab.v1.JobSpec as JSON");
  submit->add_option("--preset", submit_flags.preset, "model preset: mlp, cnn, cnn_bn, ds_cnn");
  submit->add_option("--bits", submit_flags.bits, "bit configurations, e.g. 8,4 or w4a8,w2a8 or 8:4:8");
  auto* epochs_option = submit->add_option("--epochs", epochs, "float training epochs");
  auto* qat_epochs_option = submit->add_option("--qat-epochs", qat_epochs, "QAT epochs");
  auto* batch_option = submit->add_option("--batch-size", batch_size, "training batch size");
  auto* lr_option = submit->add_option("--learning-rate", learning_rate, "float training learning rate");
  auto* train_limit_option = submit->add_option("--train-limit", train_limit, "use only the first N training samples");
  auto* test_limit_option = submit->add_option("--test-limit", test_limit, "use only the first N test samples");
  auto* seed_option = submit->add_option("--seed", seed, "random seed");
  auto* priority_option = submit->add_option("--priority", priority, "higher runs first");
  auto* attempts_option = submit->add_option("--max-attempts", max_attempts, "retries before the job fails");
  submit->add_option("--experiment", submit_flags.experiment, "experiment name");
  submit->add_option("--label", submit_flags.labels, "label key=value (repeatable)");
  submit->add_option("--measure-on", submit_flags.measure_on, "board kind to measure on (repeatable)");
  submit->add_flag("--skip-ptq", submit_flags.skip_ptq, "no post-training quantization variants");
  submit->add_flag("--skip-qat", submit_flags.skip_qat, "no quantization-aware training variants");
  submit->add_option("--idempotency-key", idempotency_key, "resubmitting with the same key returns the same job");
  submit->add_flag("--watch", submit_watch, "follow the job until it ends");

  // watch, show, cancel
  std::string job_id;
  auto* watch = app.add_subcommand("watch", "follow a job's progress live; ends with its result table");
  watch->add_option("id", job_id, "job id")->required();
  auto* show = app.add_subcommand("show", "a job and its results");
  show->add_option("id", job_id, "job id")->required();
  auto* cancel = app.add_subcommand("cancel", "cancel a queued or running job");
  cancel->add_option("id", job_id, "job id")->required();

  // ls
  qatlab::ListFlags list_flags;
  auto* list = app.add_subcommand("ls", "list jobs, newest first");
  list->add_option("--state", list_flags.state, "QUEUED, RUNNING, SUCCEEDED, FAILED or CANCELLED");
  list->add_option("--experiment", list_flags.experiment, "only this experiment");
  list->add_option("--label", list_flags.labels, "only jobs with label key=value (repeatable)");
  list->add_option("--limit", list_flags.limit, "at most N jobs")->capture_default_str();

  // compare
  std::vector<std::string> compare_ids;
  auto* compare = app.add_subcommand("compare", "one table over the variants of several jobs");
  compare->add_option("ids", compare_ids, "job ids")->required();

  // report
  qatlab::ReportFlags report_flags;
  auto* report = app.add_subcommand("report", "write an HTML report (tables and plots) of one or more jobs");
  report->add_option("ids", report_flags.ids, "job ids")->required();
  report->add_option("-o,--output", report_flags.output, "the HTML file to write")->required();
  report->add_flag("--force", report_flags.force, "overwrite the file if it exists");
  report->add_option("--title", report_flags.title, "the report's title (default: the job ids)");

  // devices, measure
  auto* devices = app.add_subcommand("devices", "boards registered by qatlab-agent, ONLINE/BUSY/OFFLINE");
  std::string measure_variant, measure_board, measure_device;
  auto* measure = app.add_subcommand("measure", "queue measurements of a job's quantized models on a board");
  measure->add_option("id", job_id, "job id")->required();
  measure->add_option("--variant", measure_variant, "one variant, e.g. qat_w8a8 (default: every quantized one)");
  auto* board_option = measure->add_option("--board", measure_board, "board kind (default mps2-an386)");
  measure->add_option("--device", measure_device, "a specific device id (see qatctl devices)")->excludes(board_option);
  std::string measurement_id;
  auto* cancel_measurement =
      app.add_subcommand("cancel-measurement", "cancel a QUEUED or RUNNING measurement (it ends FAILED: cancelled)");
  cancel_measurement->add_option("id", measurement_id, "measurement id (see qatctl measure / show)")->required();

  // datasets
  auto* datasets = app.add_subcommand("datasets", "data sets stored on the server");
  datasets->require_subcommand(1);
  auto* datasets_ls = datasets->add_subcommand("ls", "list data sets");
  std::string dataset_name, dataset_file, dataset_format = "idx";
  auto* datasets_upload = datasets->add_subcommand("upload", "upload a data file (refer to it as dataset:NAME)");
  datasets_upload->add_option("name", dataset_name, "data set name")->required();
  datasets_upload->add_option("file", dataset_file, "file to upload")->required()->check(CLI::ExistingFile);
  datasets_upload->add_option("--format", dataset_format, "idx, npy or csv")->capture_default_str();

  // artifacts
  auto* artifacts = app.add_subcommand("artifacts", "model files (.qmodel) produced by jobs");
  artifacts->require_subcommand(1);
  auto* artifacts_ls = artifacts->add_subcommand("ls", "list a job's artifacts");
  artifacts_ls->add_option("id", job_id, "job id")->required();
  std::string artifact_name, artifact_output;
  auto* artifacts_get = artifacts->add_subcommand("get", "download an artifact");
  artifacts_get->add_option("id", job_id, "job id")->required();
  artifacts_get->add_option("name", artifact_name, "artifact name, e.g. qat_w8a8.qmodel")->required();
  artifacts_get->add_option("-o,--output", artifact_output, "output file (default: NAME; - for stdout)");
  bool artifact_force = false;
  artifacts_get->add_flag("--force", artifact_force, "replace an existing output file");

  // models
  auto* models = app.add_subcommand("models", "trained float models (ONNX) stored on the server");
  models->require_subcommand(1);
  auto* models_ls = models->add_subcommand("ls", "list uploaded models");
  std::string model_file, model_name;
  auto* models_upload =
      models->add_subcommand("upload", "upload an ONNX model (refer to it as model:NAME in a job's model.onnx)");
  models_upload->add_option("file", model_file, "the .onnx file")->required()->check(CLI::ExistingFile);
  models_upload->add_option("--name", model_name, "model name (default: the file name without .onnx)");

  // export
  qatlab::ExportFlags export_flags;
  auto* export_command = app.add_subcommand(
      "export", "a job's integer model as a .qmodel, a QDQ ONNX model or C source (writes nothing on error)");
  export_command->add_option("id", export_flags.job_id, "job id")->required();
  export_command->add_option("--variant", export_flags.variant, "a quantized variant, e.g. qat_w8a8")->required();
  export_command->add_option("--format", export_flags.format, "qmodel, onnx or c")->capture_default_str();
  export_command->add_option("-o,--output", export_flags.output,
                             "output file, or directory for c (default: ./JOB-VARIANT.FORMAT, ./JOB-VARIANT-c/; "
                             "- for stdout)");
  export_command->add_option("--name", export_flags.name, "names the files and C symbols (default: the variant)");
  export_command->add_flag("--force", export_flags.force, "replace an existing output");

  // rerun, logs
  qatlab::RerunFlags rerun_flags;
  auto* rerun = app.add_subcommand("rerun", "submit a job again from its run record; prints the new job id");
  rerun->add_option("id", rerun_flags.job_id, "job id")->required();
  rerun->add_flag("--allow-changed-data", rerun_flags.allow_changed_data, "submit even if an uploaded input changed");
  rerun->add_flag("--wait", rerun_flags.wait, "follow the re-run, then compare its models with the original's");
  int logs_attempt = 0;
  auto* logs = app.add_subcommand("logs", "the worker's log of a job's attempt (uploaded when the attempt ends)");
  logs->add_option("id", job_id, "job id")->required();
  logs->add_option("--attempt", logs_attempt, "attempt number (default: the latest)");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& error) {
    return app.exit(error);
  }

  qatlab::StatusOr<std::string> token = qatlab::ResolveToken(token_file);
  if (!token.ok()) {
    fmt::print(stderr, "qatctl: error: {}\n", qatlab::DescribeStatus(token.status()));
    return 1;
  }
  qatlab::StatusOr<qatlab::ChannelSecurity> security = qatlab::LoadChannelSecurity(tls_flags);
  if (!security.ok()) {
    fmt::print(stderr, "qatctl: error: {}\n", qatlab::DescribeStatus(security.status()));
    return 1;
  }
  qatlab::QatctlOptions options;
  options.security = std::move(*security);
  options.address = qatlab::ResolveServerAddress(server);
  options.token = *token;
  options.json = json;
  options.timeout_ms = static_cast<int>(timeout_seconds * 1000);
  qatlab::QatctlCommands commands(options);

  if (*submit) {
    if (epochs_option->count()) submit_flags.epochs = epochs;
    if (qat_epochs_option->count()) submit_flags.qat_epochs = qat_epochs;
    if (batch_option->count()) submit_flags.batch_size = batch_size;
    if (lr_option->count()) submit_flags.learning_rate = learning_rate;
    if (train_limit_option->count()) submit_flags.train_limit = train_limit;
    if (test_limit_option->count()) submit_flags.test_limit = test_limit;
    if (seed_option->count()) submit_flags.seed = seed;
    if (priority_option->count()) submit_flags.priority = priority;
    if (attempts_option->count()) submit_flags.max_attempts = max_attempts;
    return commands.Submit(submit_flags, idempotency_key, submit_watch);
  }
  if (*watch) return commands.Watch(job_id);
  if (*show) return commands.Show(job_id);
  if (*cancel) return commands.Cancel(job_id);
  if (*list) return commands.List(list_flags);
  if (*compare) return commands.Compare(compare_ids);
  if (*report) return commands.Report(report_flags);
  if (*devices) return commands.ListDevices();
  if (*measure) return commands.Measure(job_id, measure_variant, measure_board, measure_device);
  if (*cancel_measurement) return commands.CancelMeasurement(measurement_id);
  if (*datasets_ls) return commands.ListDatasets();
  if (*datasets_upload) return commands.UploadDataset(dataset_name, dataset_file, dataset_format);
  if (*artifacts_ls) return commands.ListArtifacts(job_id);
  if (*artifacts_get) return commands.GetArtifact(job_id, artifact_name, artifact_output, artifact_force);
  if (*models_ls) return commands.ListModels();
  if (*models_upload) return commands.UploadModel(model_file, model_name);
  if (*export_command) return commands.Export(export_flags);
  if (*rerun) return commands.Rerun(rerun_flags);
  if (*logs) return commands.Logs(job_id, logs_attempt);
  return 1;
}
