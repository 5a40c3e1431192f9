// qatctl: the command line of qatlab. main only parses flags and dispatches
// to QatctlCommands. Exit codes: client/exit_codes.h.
#include <cstdio>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <CLI/CLI.hpp>

#include "client/cli_config.h"
#include "client/command_tree.h"
#include "client/exit_codes.h"
#include "client/qatctl_commands.h"
#include "client/qatctl_search_commands.h"
#include "client/sweep_ids.h"
#include "server_client/server_link.h"
#include "server_client/tls_command_line.h"
#include "version/version.h"

namespace {

int UsageError(const std::string& message, const std::string& help_command) {
  fmt::print(stderr, "qatctl: error: {}\nRun '{} --help' for usage.\n", message, help_command);
  return qatlab::kExitUsage;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"qatctl: submit, follow and compare quantization experiments on a qatlab-server"};
  app.name("qatctl");
  app.require_subcommand(1);
  app.fallthrough();  // global flags may follow the subcommand: `qatctl show ID --json`
  app.set_version_flag("--version", qatlab::VersionLine("qatctl"));

  // Global flags: each also read from the environment and the config file
  // (flag > environment > file; client/cli_config.h).
  qatlab::ConnectionFlags connection;
  bool json = false;
  app.add_option("--config", connection.config_file,
                 "config file (default $QATLAB_CONFIG, else $XDG_CONFIG_HOME/qatlab/config.json)");
  app.add_option("--server", connection.server,
                 "server address host:port ($QATLAB_SERVER; config \"server\"; default 127.0.0.1:50051)");
  app.add_option("--token-file", connection.token_file,
                 "file holding the bearer token ($QATLAB_TOKEN; config \"token_file\" or \"token\")");
  qatlab::AddTlsFlags(app, &connection.tls);
  app.add_flag("--json", json, "print protobuf JSON instead of tables");
  app.add_option("--timeout", connection.timeout_seconds,
                 "seconds to wait for each request, default 30 (watch waits as long as the job)")
      ->check(qatlab::Positive());

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
  std::vector<std::string> watch_ids;
  bool watch_no_measurements = false;
  auto* watch = app.add_subcommand(
      "watch",
      "follow jobs live: one job's every phase and measurement, then its result table; several jobs (or a "
      "sweep), one line each with counts and the best result so far");
  watch->add_option("ids", watch_ids, "job ids or sweep ids")->required();
  watch->add_flag("--no-measurements", watch_no_measurements,
                  "stop when the job ends, without following the measurements it queued");
  bool show_layers = false;
  auto* show = app.add_subcommand("show",
                                  "a job, its results and its measurements; or a sweep: one line per job "
                                  "and the best so far; or a search (se-...): its state and progress");
  show->add_option("id", job_id, "job id, sweep id or search id")->required();
  show->add_flag("--layers", show_layers, "also the per-layer cycles each board measured");
  auto* cancel = app.add_subcommand(
      "cancel", "cancel a queued or running job, every unfinished job of a sweep, or a search and its jobs");
  cancel->add_option("id", job_id, "job id, sweep id or search id")->required();

  // sweep
  std::string sweep_file;
  bool sweep_wait = false;
  auto* sweep = app.add_subcommand(
      "sweep", "submit a sweep file (a base job and a grid, docs/sweeps.md); prints the sweep id and its job ids");
  sweep->add_option("file", sweep_file, "sweep file: qatlab.v1.SweepSpec as JSON")->required();
  sweep->add_flag("--wait", sweep_wait, "wait until every job ended, then show the sweep");

  // ls
  qatlab::ListFlags list_flags;
  auto* list = app.add_subcommand("ls", "list jobs, newest first");
  list->add_option("--state", list_flags.state, "QUEUED, RUNNING, SUCCEEDED, FAILED or CANCELLED");
  list->add_option("--experiment", list_flags.experiment, "only this experiment");
  list->add_option("--label", list_flags.labels, "only jobs with label key=value (repeatable)");
  list->add_option("--limit", list_flags.limit, "at most N jobs (N >= 1)")
      ->capture_default_str()
      ->check(qatlab::AtLeast(1));
  list->add_option("--sweep", list_flags.sweep, "only this sweep's jobs");
  std::string list_sweep;
  list->add_option("sweep_id", list_sweep, "a sweep id: only its jobs (as --sweep)");

  // compare
  std::vector<std::string> compare_ids;
  auto* compare = app.add_subcommand("compare", "one table over the variants of several jobs");
  compare->add_option("ids", compare_ids, "job ids, or one sweep id")->required();

  qatlab::SearchFlags search_flags;
  auto* search = qatlab::AddSearchCommand(app, &search_flags);

  // report
  qatlab::ReportFlags report_flags;
  auto* report = app.add_subcommand("report", "write an HTML report (tables and plots) of jobs or sweeps");
  report->add_option("ids", report_flags.ids, "job ids or sweep ids")->required();
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
  bool measure_watch = false;
  measure->add_flag("--watch", measure_watch, "follow the measurements until each has ended");
  std::string measurement_id;
  auto* cancel_measurement =
      app.add_subcommand("cancel-measurement", "cancel a QUEUED or RUNNING measurement (it ends CANCELLED)");
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

  // completion
  std::string completion_shell;
  auto* completion =
      app.add_subcommand("completion", "print a shell completion script: source <(qatctl completion bash), or zsh");
  completion->add_option("shell", completion_shell, "bash or zsh")->required()->check(CLI::IsMember({"bash", "zsh"}));

  qatlab::ShowGlobalFlagsInSubcommandHelp(app);
  const std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty()) {
    fmt::print(stderr, "{}", app.help());
    return qatlab::kExitUsage;
  }
  std::string command_path;
  if (std::optional<std::string> unknown = qatlab::UnknownCommandError(app, args, &command_path)) {
    return UsageError(*unknown, command_path);
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& error) {
    if (error.get_exit_code() == 0) return app.exit(error);  // --help, --version
    // The help to point at: the deepest command given.
    std::string help_command = "qatctl";
    const CLI::App* level = &app;
    while (!level->get_subcommands().empty()) {
      level = level->get_subcommands().front();
      help_command += " " + level->get_name();
    }
    std::string message = error.what();
    if (message == "A subcommand is required") {
      // CLI11's words name no command: list the ones that would do.
      std::vector<std::string> names;
      for (const CLI::App* sub : level->get_subcommands([](const CLI::App* s) { return !s->get_name().empty(); })) {
        names.push_back(sub->get_name());
      }
      message = fmt::format("\"{}\" needs a command: {}", help_command, fmt::join(names, ", "));
    }
    return UsageError(message, help_command);
  }
  if (*completion) {
    fmt::print("{}", completion_shell == "bash" ? qatlab::BashCompletionScript(app, "qatctl")
                                                : qatlab::ZshCompletionScript(app, "qatctl"));
    return qatlab::kExitOk;
  }

  const qatlab::EnvironmentLookup environment = qatlab::ProcessEnvironment();
  qatlab::StatusOr<qatlab::CliConfig> config =
      qatlab::LoadCliConfig(qatlab::FindConfigFile(connection.config_file, environment), environment);
  if (!config.ok()) return UsageError(qatlab::DescribeStatus(config.status()), "qatctl");
  qatlab::StatusOr<qatlab::ResolvedConnection> resolved = qatlab::ResolveConnection(connection, *config, environment);
  if (!resolved.ok()) {
    fmt::print(stderr, "qatctl: error: {}\n", qatlab::DescribeStatus(resolved.status()));
    return qatlab::kExitFailure;
  }
  qatlab::StatusOr<qatlab::ChannelSecurity> security = qatlab::LoadChannelSecurity(resolved->tls);
  if (!security.ok()) {
    fmt::print(stderr, "qatctl: error: {}\n", qatlab::DescribeStatus(security.status()));
    return qatlab::kExitFailure;
  }
  qatlab::QatctlOptions options;
  options.security = std::move(*security);
  options.address = resolved->address;
  options.token = resolved->token;
  options.json = json;
  options.timeout_ms = resolved->timeout_ms;
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
  if (*watch) return commands.Watch(watch_ids, !watch_no_measurements);
  if (*show && qatlab::IsSearchId(job_id)) return qatlab::ShowSearch(options, job_id);
  if (*show) return qatlab::IsSweepId(job_id) ? commands.ShowSweep(job_id) : commands.Show(job_id, show_layers);
  if (*cancel && qatlab::IsSearchId(job_id)) return qatlab::CancelSearch(options, job_id);
  if (*cancel) return qatlab::IsSweepId(job_id) ? commands.CancelSweep(job_id) : commands.Cancel(job_id);
  if (*sweep) return commands.SubmitSweep(sweep_file, sweep_wait);
  if (*list) {
    if (!list_sweep.empty()) list_flags.sweep = list_sweep;
    return commands.List(list_flags);
  }
  if (*compare) {
    if (compare_ids.size() == 1 && qatlab::IsSweepId(compare_ids[0])) return commands.CompareSweep(compare_ids[0]);
    return commands.Compare(compare_ids);
  }
  if (*report) return commands.Report(report_flags);
  if (*search) return qatlab::RunSearch(options, search_flags);
  if (*devices) return commands.ListDevices();
  if (*measure) return commands.Measure(job_id, measure_variant, measure_board, measure_device, measure_watch);
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
  return qatlab::kExitUsage;
}
