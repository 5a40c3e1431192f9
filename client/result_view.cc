#include "client/result_view.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

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

std::string LatencyCell(const v1::Measurement* measurement, bool* any_emulated) {
  if (measurement == nullptr) return "-";
  std::string cell = FormatMicroseconds(measurement->result().median_us());
  if (measurement->result().emulated()) {
    cell += "*";
    *any_emulated = true;
  }
  return cell;
}

// A variant has an integer accuracy only when it was exported to the integer
// kernels; unexported variants carry zeros in both integer fields.
std::string IntegerAccuracyCell(const v1::VariantResult& variant) {
  if (variant.kind() == "float") return "-";
  if (variant.integer_accuracy() == 0 && variant.agreement() == 0) return "-";
  return FormatPercent(variant.integer_accuracy());
}

std::string DeltaCell(const v1::VariantResult& variant, const v1::VariantResult* baseline) {
  if (baseline == nullptr || &variant == baseline) return "-";
  return FormatPointsDelta(variant.accuracy() - baseline->accuracy());
}

const char* kEmulatedFootnote = "* emulated board: latency from an instruction-count model, not real cycles\n";

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
  bool any_emulated = false;
  for (const auto& variant : result.variants()) {
    const v1::Measurement* measurement = FindMeasurement(results, variant.name());
    any_latency = any_latency || measurement != nullptr;
    bool exported = IntegerAccuracyCell(variant) != "-";
    table.AddRow({variant.name(), VariantBits(variant), FormatPercent(variant.accuracy()), IntegerAccuracyCell(variant),
                  exported ? FormatPercent(variant.agreement()) : "-", DeltaCell(variant, baseline),
                  FormatKilobytes(variant.flash_bytes()), FormatKilobytes(variant.ram_bytes()),
                  FormatCount(variant.parameters()), FormatCount(variant.macs()),
                  variant.train_seconds() > 0 ? FormatDuration(variant.train_seconds()) : "-",
                  LatencyCell(measurement, &any_emulated)});
  }
  if (!any_latency) table.RemoveColumn(11);
  std::string text = table.Render();
  if (any_emulated) text += kEmulatedFootnote;
  return text;
}

std::string RenderComparisonTable(const std::vector<v1::GetResultsResponse>& jobs) {
  TextTable table;
  table.SetColumns({"JOB", "VARIANT", "BITS", "ACCURACY", "INT ACC", "Δ FLOAT", "FLASH", "RAM", "MACS", "LATENCY"},
                   {Align::kLeft, Align::kLeft, Align::kLeft, Align::kRight, Align::kRight, Align::kRight,
                    Align::kRight, Align::kRight, Align::kRight, Align::kRight});
  bool any_latency = false;
  bool any_emulated = false;
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
      table.AddRow({results.job().id(), variant.name(), VariantBits(variant), FormatPercent(variant.accuracy()),
                    IntegerAccuracyCell(variant), DeltaCell(variant, baseline), FormatKilobytes(variant.flash_bytes()),
                    FormatKilobytes(variant.ram_bytes()), FormatCount(variant.macs()),
                    LatencyCell(measurement, &any_emulated)});
    }
  }
  if (!any_latency) table.RemoveColumn(9);
  std::string text = table.Render();
  if (any_emulated) text += kEmulatedFootnote;
  return text;
}

}  // namespace qatlab
