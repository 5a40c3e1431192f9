// qatctl's sweep commands (docs/sweeps.md): sweep FILE [--wait], and the
// sweep forms of show, compare and cancel. `ls --sweep` is List's filter.
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <map>
#include <sstream>
#include <thread>

#include "client/qatctl_commands.h"
#include "client/result_view.h"
#include "client/sweep_ids.h"
#include "client/text_table.h"
#include "engine/sweep_file.h"
#include "server_client/rpc_status.h"

namespace qatlab {
namespace {

// "baseline (seed 2)" or the grid point's config name.
std::string RoleOf(const v1::Job& job, const v1::Sweep& sweep) {
  const auto& baselines = sweep.baseline_job_ids();
  if (std::find(baselines.begin(), baselines.end(), job.id()) != baselines.end()) {
    return fmt::format("baseline (seed {})", job.spec().seed());
  }
  return job.spec().configs_size() > 0 ? job.spec().configs(0).name() : "";
}

struct Counts {
  int jobs = 0, succeeded = 0, failed = 0, cancelled = 0, running = 0, queued = 0;
  int finished() const { return succeeded + failed + cancelled; }
};

Counts CountStates(const v1::SweepStatus& sweep) {
  Counts counts;
  for (const v1::Job& job : sweep.jobs()) {
    ++counts.jobs;
    switch (job.state()) {
      case v1::SUCCEEDED: ++counts.succeeded; break;
      case v1::FAILED: ++counts.failed; break;
      case v1::CANCELLED: ++counts.cancelled; break;
      case v1::RUNNING: ++counts.running; break;
      default: ++counts.queued; break;
    }
  }
  return counts;
}

std::string CountsLine(const Counts& counts) {
  return fmt::format("{} jobs: {} finished ({} succeeded, {} failed, {} cancelled), {} running, {} queued", counts.jobs,
                     counts.finished(), counts.succeeded, counts.failed, counts.cancelled, counts.running,
                     counts.queued);
}

std::string Percent(double value) { return fmt::format("{:.2f}%", value); }

}  // namespace

int QatctlCommands::SubmitSweep(const std::string& file, bool wait) {
  std::ifstream in(file, std::ios::binary);
  if (!in) return Fail(fmt::format("IO_ERROR: cannot read sweep file {}", file));
  std::stringstream text;
  text << in.rdbuf();
  StatusOr<v1::SweepSpec> spec = ParseSweepSpecJson(text.str());
  if (!spec.ok()) return Fail(DescribeStatus(spec.status().WithContext(file)));
  v1::SubmitSweepRequest request;
  *request.mutable_spec() = std::move(*spec);
  v1::SweepStatus submitted;
  grpc::Status status = Call(&v1::ExperimentService::Stub::SubmitSweep, request, &submitted);
  if (!status.ok()) return FailRpc(status);
  if (options_.json && !wait) return PrintJson(submitted);
  if (!options_.json) {
    // The sweep id first (scripts read line 1), then one line per job.
    fmt::print("{}\n", submitted.sweep().id());
    for (const v1::Job& job : submitted.jobs()) fmt::print("{}  {}\n", job.id(), RoleOf(job, submitted.sweep()));
    std::fflush(stdout);
  }
  if (!wait) return 0;
  // Polls the sweep: its jobs end one by one, and a sweep has no stream of
  // its own (qatctl watch follows its jobs live).
  const std::string& id = submitted.sweep().id();
  std::string last_line;
  while (true) {
    StatusOr<v1::SweepStatus> sweep = FetchSweep(*stub_, options_.token, options_.timeout_ms, id);
    if (!sweep.ok()) {
      if (sweep.status().code() == StatusCode::kUnavailable) {
        std::this_thread::sleep_for(std::chrono::seconds(1));
        continue;
      }
      return Fail(DescribeStatus(sweep.status()));
    }
    const Counts counts = CountStates(*sweep);
    const std::string line = CountsLine(counts);
    if (line != last_line && !options_.json) fmt::print(stderr, "{}\n", line);
    last_line = line;
    if (counts.finished() == counts.jobs) {
      const int shown = ShowSweep(id);
      if (shown != 0) return shown;
      return counts.succeeded == counts.jobs ? 0 : 1;
    }
    std::this_thread::sleep_for(std::chrono::seconds(1));
  }
}

int QatctlCommands::ShowSweep(const std::string& sweep_id) {
  StatusOr<v1::SweepStatus> sweep = FetchSweep(*stub_, options_.token, options_.timeout_ms, sweep_id);
  if (!sweep.ok()) return Fail(DescribeStatus(sweep.status()));
  if (options_.json) return PrintJson(*sweep);
  TextTable table;
  using Align = TextTable::Align;
  table.SetColumns({"JOB", "CONFIG", "STATE", "PTQ INT8", "QAT INT8", "FLASH"},
                   {Align::kLeft, Align::kLeft, Align::kLeft, Align::kRight, Align::kRight, Align::kRight});
  std::string best_text;
  double best = -1;
  for (const v1::Job& job : sweep->jobs()) {
    std::string ptq = "-", qat = "-", flash = "-", state = JobStateName(job.state());
    if (job.state() == v1::SUCCEEDED) {
      v1::GetResultsRequest request;
      request.set_id(job.id());
      v1::GetResultsResponse results;
      grpc::Status status = Call(&v1::ExperimentService::Stub::GetResults, request, &results);
      if (!status.ok()) return FailRpc(status);
      for (const v1::VariantResult& variant : results.result().variants()) {
        if (variant.kind() == "float") {
          if (job.spec().baseline_job().empty()) qat = "float " + Percent(variant.accuracy());
          continue;
        }
        (variant.kind() == "ptq" ? ptq : qat) = Percent(variant.integer_accuracy());
        flash = FormatKilobytes(variant.flash_bytes());
        if (variant.integer_accuracy() > best) {
          best = variant.integer_accuracy();
          best_text = fmt::format("{} {} of {} ({} flash)", variant.name(), Percent(variant.integer_accuracy()),
                                  job.id(), FormatKilobytes(variant.flash_bytes()));
        }
      }
    } else if (job.state() == v1::FAILED) {
      state += ": " + job.error().substr(0, 60);
    }
    table.AddRow({job.id(), RoleOf(job, sweep->sweep()), state, ptq, qat, flash});
  }
  fmt::print("sweep {}  {}  created {}\n", sweep->sweep().id(), sweep->sweep().name(),
             sweep->sweep().created_unix_ms() / 1000);
  fmt::print("{}", table.Render());
  fmt::print("{}\n", CountsLine(CountStates(*sweep)));
  fmt::print("best so far: {}\n", best_text.empty() ? "none yet" : best_text);
  return 0;
}

int QatctlCommands::CompareSweep(const std::string& sweep_id) {
  StatusOr<v1::SweepStatus> sweep = FetchSweep(*stub_, options_.token, options_.timeout_ms, sweep_id);
  if (!sweep.ok()) return Fail(DescribeStatus(sweep.status()));
  std::vector<v1::GetResultsResponse> all;
  for (const v1::Job& job : sweep->jobs()) {
    if (job.state() != v1::SUCCEEDED) continue;
    v1::GetResultsRequest request;
    request.set_id(job.id());
    v1::GetResultsResponse results;
    grpc::Status status = Call(&v1::ExperimentService::Stub::GetResults, request, &results);
    if (!status.ok()) return FailRpc(status);
    all.push_back(std::move(results));
  }
  if (all.empty()) return Fail(fmt::format("FAILED_PRECONDITION: sweep {} has no succeeded job yet", sweep_id));
  if (options_.json) {
    fmt::print("[");
    for (size_t i = 0; i < all.size(); ++i) {
      if (i > 0) fmt::print(",");
      std::fflush(stdout);
      PrintJson(all[i]);
    }
    fmt::print("]\n");
    return 0;
  }
  // The float model appears once, in its baseline's row: a grid job's float
  // variant is that same model (it records the baseline's id), not a
  // training of its own. Deltas are against the job's float accuracy.
  TextTable table;
  using Align = TextTable::Align;
  table.SetColumns({"JOB", "VARIANT", "BITS", "ACCURACY", "INT ACC", "Δ FLOAT", "FLASH", "RAM"},
                   {Align::kLeft, Align::kLeft, Align::kLeft, Align::kRight, Align::kRight, Align::kRight,
                    Align::kRight, Align::kRight});
  for (const auto& results : all) {
    double float_accuracy = -1;
    for (const auto& variant : results.result().variants()) {
      if (variant.kind() == "float") float_accuracy = variant.accuracy();
    }
    for (const auto& variant : results.result().variants()) {
      if (variant.kind() == "float" && !variant.baseline_job().empty()) continue;
      const bool quantized = variant.kind() != "float";
      const double shown = quantized ? variant.integer_accuracy() : variant.accuracy();
      table.AddRow({results.job().id(), variant.name(), VariantBits(variant), Percent(variant.accuracy()),
                    quantized ? Percent(variant.integer_accuracy()) : "-",
                    quantized && float_accuracy >= 0 ? fmt::format("{:+.2f}", shown - float_accuracy) : "-",
                    FormatKilobytes(variant.flash_bytes()), FormatKilobytes(variant.ram_bytes())});
    }
  }
  fmt::print("{}", table.Render());
  const Counts counts = CountStates(*sweep);
  if (counts.succeeded != counts.jobs) fmt::print("({} of {} jobs succeeded so far)\n", counts.succeeded, counts.jobs);
  return 0;
}

int QatctlCommands::CancelSweep(const std::string& sweep_id) {
  v1::CancelSweepRequest request;
  request.set_id(sweep_id);
  return CallAndPrint(&v1::ExperimentService::Stub::CancelSweep, request, [](const v1::SweepStatus& sweep) {
    for (const v1::Job& job : sweep.jobs()) fmt::print("{}\n", JobSummaryLine(job));
    fmt::print("{}\n", CountsLine(CountStates(sweep)));
  });
}

}  // namespace qatlab
