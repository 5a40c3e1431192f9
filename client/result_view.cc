#include "client/result_view.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <string>
#include <vector>

namespace qatlab {
namespace {

using Align = TextTable::Align;

// The float baseline of a result: the variant of kind "float", if any.
const v1::VariantResult* FindFloatVariant(const v1::JobResult& result) {
  for (const auto& variant : result.variants()) {
    if (variant.kind() == "float") return &variant;
  }
  return nullptr;
}

// The first successful measurement of a variant, or null.
const v1::Measurement* FindMeasurement(const v1::GetResultsResponse& results, const std::string& variant) {
  for (const auto& measurement : results.measurements()) {
    if (measurement.variant() == variant && measurement.state() == "SUCCEEDED" && measurement.has_result() &&
        measurement.result().median_us() > 0) {
      return &measurement;
    }
  }
  return nullptr;
}

// The board a latency was measured on: the result's, or the requested kind
// for results stored before results named it.
std::string MeasuredBoard(const v1::Measurement& measurement) {
  if (!measurement.result().board().empty()) return measurement.result().board();
  return measurement.board_kind().empty() ? "?" : measurement.board_kind();
}

// "1.50 ms* mps2-an386": every latency names its board; `clock_notes` gains
// one line per board saying how its clock was counted (emulated: '*').
std::string LatencyCell(const v1::Measurement* measurement, std::vector<std::string>* clock_notes) {
  if (measurement == nullptr) return "-";
  const v1::MeasurementResult& result = measurement->result();
  const std::string board = MeasuredBoard(*measurement);
  const std::string marker = result.emulated() ? "*" : "";
  std::string note = fmt::format("{}{} {}: {}{}", marker, board, FormatClock(result.clock_hz()),
                                 result.timing_model().empty() ? "clock model not recorded" : result.timing_model(),
                                 result.emulated() ? "; emulated, not real cycles" : "");
  if (std::find(clock_notes->begin(), clock_notes->end(), note) == clock_notes->end()) clock_notes->push_back(note);
  return FormatMicroseconds(result.median_us()) + marker + " " + board;
}

std::string ClockNotes(const std::vector<std::string>& clock_notes) {
  std::string text;
  for (const std::string& note : clock_notes) text += note + "\n";
  return text;
}

// A variant has an integer accuracy only when it was exported to the integer
// kernels; unexported variants carry zeros in both integer fields.
std::string IntegerAccuracyCell(const v1::VariantResult& variant) {
  if (variant.kind() == "float") return "-";
  if (variant.integer_accuracy() == 0 && variant.agreement() == 0) return "-";
  return FormatPercent(variant.integer_accuracy());
}

// A variant that ended without figures (VariantResult.error) says so instead
// of showing zeros as an accuracy; its reason goes below the table.
std::string AccuracyCell(const v1::VariantResult& variant) {
  if (variant.error().empty()) return FormatPercent(variant.accuracy());
  return variant.error().starts_with("diverged") ? "diverged" : "failed";
}

void AddErrorNote(const v1::VariantResult& variant, const std::string& job, std::vector<std::string>* notes) {
  if (variant.error().empty()) return;
  notes->push_back(fmt::format("{}{}: {}", job.empty() ? "" : job + " ", variant.name(), variant.error()));
}

std::string DeltaCell(const v1::VariantResult& variant, const v1::VariantResult* baseline) {
  if (baseline == nullptr || &variant == baseline || !variant.error().empty()) return "-";
  return FormatPointsDelta(variant.accuracy() - baseline->accuracy());
}

}  // namespace

std::string JobStateName(v1::JobState state) {
  if (state == v1::JOB_STATE_UNSPECIFIED) return "UNSPECIFIED";
  return v1::JobState_Name(state);
}

std::string VariantBits(const v1::VariantResult& variant) {
  if (variant.kind() == "float") return "fp32";
  if (variant.layer_weight_bits_size() > 0) {
    return fmt::format("w[{}]a{}", fmt::join(variant.layer_weight_bits(), ","), variant.activation_bits());
  }
  return fmt::format("w{}a{}", variant.weight_bits(), variant.activation_bits());
}

std::string JobSummaryLine(const v1::Job& job) {
  std::string line = fmt::format("job {} {}", job.id(), JobStateName(job.state()));
  if (!job.experiment().empty()) line += fmt::format("  experiment={}", job.experiment());
  if (!job.spec().model().preset().empty()) line += fmt::format("  model={}", job.spec().model().preset());
  if (job.max_attempts() > 0) line += fmt::format("  attempt {}/{}", job.attempt(), job.max_attempts());
  if (!job.worker_id().empty()) line += fmt::format("  worker {}", job.worker_id());
  if (job.cancel_requested() && job.state() == v1::RUNNING) line += "  (cancel requested)";
  if (!job.error().empty()) line += fmt::format("  error: {}", job.error());
  return line;
}

std::string RenderResultTable(const v1::GetResultsResponse& results) {
  const v1::JobResult& result = results.result();
  const v1::VariantResult* baseline = FindFloatVariant(result);
  TextTable table;
  table.SetColumns({"VARIANT", "BITS", "ACCURACY", "INT ACC", "AGREE", "Δ FLOAT", "FLASH", "RAM", "PARAMS", "MACS",
                    "TRAIN", "LATENCY"},
                   {Align::kLeft, Align::kLeft, Align::kRight, Align::kRight, Align::kRight, Align::kRight,
                    Align::kRight, Align::kRight, Align::kRight, Align::kRight, Align::kRight, Align::kRight});
  bool any_latency = false;
  std::vector<std::string> clock_notes;
  for (const auto& variant : result.variants()) {
    const v1::Measurement* measurement = FindMeasurement(results, variant.name());
    any_latency = any_latency || measurement != nullptr;
    bool exported = IntegerAccuracyCell(variant) != "-";
    AddErrorNote(variant, "", &clock_notes);
    table.AddRow({variant.name(), VariantBits(variant), AccuracyCell(variant), IntegerAccuracyCell(variant),
                  exported ? FormatPercent(variant.agreement()) : "-", DeltaCell(variant, baseline),
                  FormatKilobytes(variant.flash_bytes()), FormatKilobytes(variant.ram_bytes()),
                  FormatCount(variant.parameters()), FormatCount(variant.macs()),
                  variant.train_seconds() > 0 ? FormatDuration(variant.train_seconds()) : "-",
                  LatencyCell(measurement, &clock_notes)});
  }
  if (!any_latency) table.RemoveColumn(11);
  return table.Render() + ClockNotes(clock_notes);
}

std::string RenderComparisonTable(const std::vector<v1::GetResultsResponse>& jobs) {
  TextTable table;
  table.SetColumns({"JOB", "VARIANT", "BITS", "ACCURACY", "INT ACC", "Δ FLOAT", "FLASH", "RAM", "MACS", "LATENCY"},
                   {Align::kLeft, Align::kLeft, Align::kLeft, Align::kRight, Align::kRight, Align::kRight,
                    Align::kRight, Align::kRight, Align::kRight, Align::kRight});
  bool any_latency = false;
  std::vector<std::string> clock_notes;
  for (const auto& results : jobs) {
    const v1::VariantResult* baseline = FindFloatVariant(results.result());
    if (results.result().variants_size() == 0) {
      table.AddRow({results.job().id(), fmt::format("({})", JobStateName(results.job().state())), "", "", "", "", "",
                    "", "", ""});
      continue;
    }
    for (const auto& variant : results.result().variants()) {
      const v1::Measurement* measurement = FindMeasurement(results, variant.name());
      any_latency = any_latency || measurement != nullptr;
      AddErrorNote(variant, results.job().id(), &clock_notes);
      table.AddRow({results.job().id(), variant.name(), VariantBits(variant), AccuracyCell(variant),
                    IntegerAccuracyCell(variant), DeltaCell(variant, baseline), FormatKilobytes(variant.flash_bytes()),
                    FormatKilobytes(variant.ram_bytes()), FormatCount(variant.macs()),
                    LatencyCell(measurement, &clock_notes)});
    }
  }
  if (!any_latency) table.RemoveColumn(9);
  return table.Render() + ClockNotes(clock_notes);
}

}  // namespace qatlab
