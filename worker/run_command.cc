#include "run_command.h"

#include <google/protobuf/util/json_util.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "engine/experiment.h"
#include "engine/float_checkpoint.h"
#include "engine/job_spec.h"
#include "process/stop_signal.h"
#include "worker/allocation_failure.h"
#include "worker/run_record.h"

namespace qatlab {
namespace {

std::atomic<bool> g_stop_requested{false};

// One line, whatever the message holds.
std::string OneLine(std::string text) {
  std::replace(text.begin(), text.end(), '\n', ' ');
  return text;
}

int Fail(const std::string& message) {
  std::fprintf(stderr, "error: %s\n", OneLine(message).c_str());
  return 1;
}

std::string FormatSeconds(double seconds) {
  char buffer[32];
  if (seconds >= 90) {
    std::snprintf(buffer, sizeof buffer, "%dm%02ds", static_cast<int>(seconds) / 60, static_cast<int>(seconds) % 60);
  } else {
    std::snprintf(buffer, sizeof buffer, "%.1fs", seconds);
  }
  return buffer;
}

// One line per epoch; within an epoch a line rewritten with '\r' when
// stderr is a terminal.
class ProgressPrinter {
 public:
  ProgressPrinter() : tty_(isatty(STDERR_FILENO) == 1) {}

  bool operator()(const ProgressEvent& event) {
    const auto& s = event.stats;
    if (event.end_of_epoch) {
      std::fprintf(stderr, "%s%-14s epoch %d/%d  loss %.4f  train %.2f%%  test %.2f%%  %s  ETA %s\n",
                   tty_ ? "\r\033[K" : "", s.variant().c_str(), s.epoch(), s.epochs(), s.loss(), s.train_accuracy(),
                   s.test_accuracy(), FormatSeconds(s.seconds()).c_str(), FormatSeconds(event.eta_seconds).c_str());
    } else if (tty_ && (event.batch % 10 == 0)) {
      std::fprintf(stderr, "\r\033[K%-14s epoch %d/%d  batch %d/%d  loss %.4f  train %.2f%%  ETA %s",
                   s.variant().c_str(), s.epoch(), s.epochs(), event.batch, event.batches, s.loss(), s.train_accuracy(),
                   FormatSeconds(event.eta_seconds).c_str());
    }
    std::fflush(stderr);
    return !g_stop_requested;
  }

 private:
  bool tty_;
};

}  // namespace

int RunJobCommand(const RunCommandOptions& options) {
  std::ifstream file(options.job_path, std::ios::binary);
  if (!file) return Fail("cannot read job file '" + options.job_path + "'");
  std::stringstream text;
  text << file.rdbuf();
  auto spec = ParseJobSpecJson(text.str());
  if (!spec.ok()) return Fail(options.job_path + ": " + spec.status().message());
  ApplyJobSpecDefaults(&*spec);
  if (Status s = ValidateJobSpec(*spec); !s.ok()) return Fail(options.job_path + ": " + s.message());

  std::error_code error;
  std::filesystem::create_directories(options.out_dir, error);
  if (error) return Fail("cannot create output directory '" + options.out_dir + "': " + error.message());

  // SIGINT/SIGTERM stop the engine between batches; the job ends cancelled.
  StatusOr<std::unique_ptr<StopSignal>> stop_signal = StopSignal::Install();
  if (!stop_signal.ok()) return Fail(stop_signal.status().ToString());
  (*stop_signal)->OnSignal([](int) { g_stop_requested = true; });
  ExperimentOptions experiment_options;
  experiment_options.data_cache_dir = options.data_cache_dir;
  experiment_options.threads = options.threads;
  std::vector<uint8_t> float_checkpoint;
  if (!options.float_checkpoint_path.empty()) {
    std::ifstream in(options.float_checkpoint_path, std::ios::binary);
    if (!in) return Fail("cannot read float checkpoint '" + options.float_checkpoint_path + "'");
    float_checkpoint.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    experiment_options.float_checkpoint = &float_checkpoint;
    experiment_options.baseline_job =
        spec->baseline_job().empty() ? options.float_checkpoint_path : spec->baseline_job();
  }
  ProgressPrinter printer;
  v1::RunRecord record = RecordRunInputs(*spec, *spec, {options.threads, "", 0});
  auto output = ReportAllocationFailure(
      [&] { return RunExperiment(*spec, experiment_options, [&](const ProgressEvent& e) { return printer(e); }); });
  if (!output.ok()) {
    const int code = output.status().code() == StatusCode::kCancelled ? 2 : 1;
    std::fprintf(stderr, "%serror: %s\n", isatty(STDERR_FILENO) ? "\n" : "",
                 OneLine(output.status().ToString()).c_str());
    return code;
  }
  // The record names the variants' models, not the float checkpoint.
  RecordRunOutputs(output->artifacts, &record);
  std::vector<VariantArtifact> files = std::move(output->artifacts);
  if (!output->float_checkpoint.empty()) {
    files.push_back(VariantArtifact{"float", kFloatCheckpointName, std::move(output->float_checkpoint)});
  }
  for (const VariantArtifact& artifact : files) {
    const std::filesystem::path path = std::filesystem::path(options.out_dir) / artifact.file_name;
    const std::filesystem::path temporary = path.string() + ".tmp";
    {
      std::ofstream out(temporary, std::ios::binary | std::ios::trunc);
      out.write(reinterpret_cast<const char*>(artifact.qmodel.data()),
                static_cast<std::streamsize>(artifact.qmodel.size()));
      if (!out) return Fail("cannot write '" + temporary.string() + "'");
    }
    std::filesystem::rename(temporary, path, error);
    if (error) return Fail("cannot rename to '" + path.string() + "': " + error.message());
  }
  *output->result.mutable_run() = std::move(record);
  std::string json;
  google::protobuf::util::JsonPrintOptions print;
  print.add_whitespace = true;
  print.always_print_primitive_fields = true;
  const auto status = google::protobuf::util::MessageToJsonString(output->result, &json, print);
  if (!status.ok()) return Fail("cannot print the result as JSON: " + std::string(status.message()));
  std::fwrite(json.data(), 1, json.size(), stdout);
  std::fflush(stdout);
  return 0;
}

}  // namespace qatlab
