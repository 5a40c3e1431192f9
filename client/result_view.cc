#include "client/result_view.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <google/protobuf/util/json_util.h>

#include <algorithm>
#include <map>
#include <nlohmann/json.hpp>
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

bool IsSuccessfulMeasurement(const v1::Measurement& measurement) {
  return measurement.state() == "SUCCEEDED" && measurement.has_result() && measurement.result().median_us() > 0;
}

// The board a latency was measured on: the result's, or the requested kind
// for results stored before results named it.
std::string MeasuredBoard(const v1::Measurement& measurement) {
  if (!measurement.result().board().empty()) return measurement.result().board();
  return measurement.board_kind().empty() ? "?" : measurement.board_kind();
}

// The successful measurements of a variant, one per board (the latest
// wins), in the order the boards first appear.
std::vector<const v1::Measurement*> FindMeasurements(const v1::GetResultsResponse& results,
                                                     const std::string& variant) {
  std::vector<const v1::Measurement*> found;
  for (const auto& measurement : results.measurements()) {
    if (measurement.variant() != variant || !IsSuccessfulMeasurement(measurement)) continue;
    auto same_board = std::find_if(found.begin(), found.end(), [&](const v1::Measurement* other) {
      return MeasuredBoard(*other) == MeasuredBoard(measurement);
    });
    if (same_board == found.end()) {
      found.push_back(&measurement);
    } else {
      *same_board = &measurement;
    }
  }
  return found;
}

// "1.50 ms* mps2-an386": every latency names its board; `clock_notes` gains
// one line per board saying how its clock was counted (emulated: '*').
std::string OneLatency(const v1::Measurement* measurement, std::vector<std::string>* clock_notes) {
  const v1::MeasurementResult& result = measurement->result();
  const std::string board = MeasuredBoard(*measurement);
  const std::string marker = result.emulated() ? "*" : "";
  std::string note = fmt::format("{}{} {}: {}{}", marker, board, FormatClock(result.clock_hz()),
                                 result.timing_model().empty() ? "clock model not recorded" : result.timing_model(),
                                 result.emulated() ? "; emulated, not real cycles" : "");
  if (std::find(clock_notes->begin(), clock_notes->end(), note) == clock_notes->end()) clock_notes->push_back(note);
  return FormatMicroseconds(result.median_us()) + marker + " " + board;
}

// Every board's latency of a variant, "-" when none.
std::string LatencyCell(const std::vector<const v1::Measurement*>& measurements,
                        std::vector<std::string>* clock_notes) {
  if (measurements.empty()) return "-";
  std::string cell;
  for (const v1::Measurement* measurement : measurements) {
    if (!cell.empty()) cell += ", ";
    cell += OneLatency(measurement, clock_notes);
  }
  return cell;
}

std::string ClockNotes(const std::vector<std::string>& clock_notes, size_t max_width) {
  std::string text;
  for (const std::string& note : clock_notes) text += (max_width > 0 ? FitToWidth(note, max_width) : note) + "\n";
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

std::string RenderResultTable(const v1::GetResultsResponse& results, size_t max_width) {
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
    const std::vector<const v1::Measurement*> measurements = FindMeasurements(results, variant.name());
    any_latency = any_latency || !measurements.empty();
    bool exported = IntegerAccuracyCell(variant) != "-";
    AddErrorNote(variant, "", &clock_notes);
    table.AddRow({variant.name(), VariantBits(variant), AccuracyCell(variant), IntegerAccuracyCell(variant),
                  exported ? FormatPercent(variant.agreement()) : "-", DeltaCell(variant, baseline),
                  FormatKilobytes(variant.flash_bytes()), FormatKilobytes(variant.ram_bytes()),
                  FormatCount(variant.parameters()), FormatCount(variant.macs()),
                  variant.train_seconds() > 0 ? FormatDuration(variant.train_seconds()) : "-",
                  LatencyCell(measurements, &clock_notes)});
  }
  if (!any_latency) table.RemoveColumn(11);
  if (max_width == 0) return table.Render() + ClockNotes(clock_notes, 0);
  return table.RenderWithin(max_width, {"PARAMS", "MACS", "TRAIN", "AGREE", "RAM", "Δ FLOAT", "BITS", "INT ACC"}) +
         ClockNotes(clock_notes, max_width);
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
      const std::vector<const v1::Measurement*> measurements = FindMeasurements(results, variant.name());
      any_latency = any_latency || !measurements.empty();
      AddErrorNote(variant, results.job().id(), &clock_notes);
      table.AddRow({results.job().id(), variant.name(), VariantBits(variant), AccuracyCell(variant),
                    IntegerAccuracyCell(variant), DeltaCell(variant, baseline), FormatKilobytes(variant.flash_bytes()),
                    FormatKilobytes(variant.ram_bytes()), FormatCount(variant.macs()),
                    LatencyCell(measurements, &clock_notes)});
    }
  }
  if (!any_latency) table.RemoveColumn(9);
  return table.Render() + ClockNotes(clock_notes, 0);
}

namespace {

// The spec as flat "path: value" pairs ("training.seed" -> "1",
// "configs[0].weightBits" -> "4"), from its JSON form: fields left at their
// default are absent.
std::map<std::string, std::string> FlatSettings(const v1::JobSpec& spec) {
  std::string text;
  google::protobuf::util::JsonPrintOptions options;
  if (!google::protobuf::util::MessageToJsonString(spec, &text, options).ok()) return {};
  nlohmann::json flat = nlohmann::json::parse(text, nullptr, false).flatten();
  std::map<std::string, std::string> settings;
  for (const auto& [pointer, value] : flat.items()) {
    // "/configs/0/weightBits" -> "configs[0].weightBits"
    std::string path;
    size_t start = 1;
    while (start <= pointer.size()) {
      size_t end = pointer.find('/', start);
      if (end == std::string::npos) end = pointer.size();
      std::string part = pointer.substr(start, end - start);
      bool index = !part.empty() && std::all_of(part.begin(), part.end(), [](char c) { return c >= '0' && c <= '9'; });
      path += index ? "[" + part + "]" : (path.empty() ? "" : ".") + part;
      start = end + 1;
    }
    settings[path] = value.is_string() ? value.get<std::string>() : value.dump();
  }
  return settings;
}

std::string MeasurementLatency(const v1::Measurement& measurement) {
  if (!IsSuccessfulMeasurement(measurement)) return "-";
  return FormatMicroseconds(measurement.result().median_us()) + (measurement.result().emulated() ? "*" : "");
}

}  // namespace

std::string RenderMeasurementTable(const v1::GetResultsResponse& results) {
  if (results.measurements_size() == 0) return "";
  TextTable table;
  table.SetColumns(
      {"MEASUREMENT", "VARIANT", "BOARD", "STATE", "LATENCY", "DEVICE ACC", "BIT-EXACT", "DEVICE", "ERROR"},
      {Align::kLeft, Align::kLeft, Align::kLeft, Align::kLeft, Align::kRight, Align::kRight, Align::kRight,
       Align::kLeft, Align::kLeft});
  bool any_error = false;
  for (const auto& measurement : results.measurements()) {
    const v1::MeasurementResult& result = measurement.result();
    const bool succeeded = IsSuccessfulMeasurement(measurement);
    any_error = any_error || !measurement.error().empty();
    table.AddRow({measurement.id(), measurement.variant(), MeasuredBoard(measurement), measurement.state(),
                  MeasurementLatency(measurement),
                  succeeded && result.accuracy_samples() > 0
                      ? fmt::format("{} of {}", FormatPercent(result.device_accuracy()), result.accuracy_samples())
                      : "-",
                  succeeded && result.checked_inputs() > 0
                      ? fmt::format("{}/{}", result.bit_exact_inputs(), result.checked_inputs())
                      : "-",
                  measurement.device_id().empty() ? "-" : measurement.device_id(),
                  measurement.error().empty() ? "" : measurement.error()});
  }
  if (!any_error) table.RemoveColumn(8);
  return table.Render();
}

std::string RenderLayerCycles(const v1::GetResultsResponse& results) {
  std::string text;
  for (const auto& measurement : results.measurements()) {
    const v1::MeasurementResult& result = measurement.result();
    if (!IsSuccessfulMeasurement(measurement) || result.layers_size() == 0) continue;
    uint64_t total = 0;
    for (const auto& layer : result.layers()) total += layer.cycles();
    if (!text.empty()) text += "\n";
    text += fmt::format("{} on {} ({}{}, {} cycles in layers{})\n", measurement.variant(), MeasuredBoard(measurement),
                        measurement.device_id().empty() ? "" : measurement.device_id() + ", ",
                        FormatClock(result.clock_hz()), total, result.emulated() ? ", emulated" : "");
    TextTable table;
    table.SetColumns({"LAYER", "OP", "CYCLES", "SHARE"}, {Align::kRight, Align::kLeft, Align::kRight, Align::kRight});
    for (const auto& layer : result.layers()) {
      double share = total > 0 ? 100.0 * static_cast<double>(layer.cycles()) / static_cast<double>(total) : 0;
      table.AddRow({fmt::format("{}", layer.index()), layer.op(), fmt::format("{}", layer.cycles()),
                    fmt::format("{:.1f}%", share)});
    }
    text += table.Render();
  }
  return text;
}

std::string RenderSettingsThatDiffer(const std::vector<v1::GetResultsResponse>& jobs) {
  if (jobs.size() < 2) return "";
  std::vector<std::map<std::string, std::string>> settings;
  std::map<std::string, bool> paths;
  for (const auto& results : jobs) {
    settings.push_back(FlatSettings(results.job().spec()));
    for (const auto& entry : settings.back()) paths[entry.first] = true;
  }
  std::vector<std::string> headers = {"SETTING"};
  for (const auto& results : jobs) headers.push_back(results.job().id());
  TextTable table;
  table.SetColumns(headers, std::vector<Align>(headers.size(), Align::kLeft));
  constexpr size_t kMaxValueColumns = 24;
  for (const auto& entry : paths) {
    const std::string& path = entry.first;
    std::vector<std::string> row = {path};
    bool differs = false;
    const auto value_in = [&path](const std::map<std::string, std::string>& job_settings) -> std::string {
      auto found = job_settings.find(path);
      return found == job_settings.end() ? "-" : found->second;
    };
    for (const auto& job_settings : settings) {
      differs = differs || value_in(job_settings) != value_in(settings.front());
      row.push_back(FitToWidth(value_in(job_settings), kMaxValueColumns));
    }
    if (differs) table.AddRow(std::move(row));
  }
  if (table.empty()) return "";
  return "settings that differ:\n" + table.Render();
}

}  // namespace qatlab
