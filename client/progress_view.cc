#include "client/progress_view.h"

#include <algorithm>

#include <fmt/format.h>

#include "client/result_view.h"
#include "client/terminal.h"
#include "client/text_table.h"

namespace qatlab {
namespace {

constexpr size_t kDefaultColumns = 80;

// The name the server gives a configuration that has none: "w<bits>a<bits>".
std::string ConfigName(const v1::QuantConfig& config) {
  if (!config.name().empty()) return config.name();
  int weight_bits = config.weight_bits() > 0 ? config.weight_bits() : 8;
  int activation_bits = config.activation_bits() > 0 ? config.activation_bits() : 8;
  return fmt::format("w{}a{}", weight_bits, activation_bits);
}

std::string KindOf(const std::string& variant) {
  if (variant.rfind("ptq_", 0) == 0) return "ptq";
  if (variant.rfind("qat_", 0) == 0) return "qat";
  return "float";
}

// A line made of parts, each with the rank at which it is dropped when the
// line is too wide (0: never; the highest rank goes first), joined by two
// spaces and cut to `width` (0: no limit) as a last resort.
struct Part {
  std::string text;
  int drop_rank = 0;
};
std::string JoinWithin(std::vector<Part> parts, size_t width) {
  auto join = [&parts] {
    std::string line;
    for (const Part& part : parts) {
      if (part.text.empty()) continue;
      if (!line.empty()) line += "  ";
      line += part.text;
    }
    return line;
  };
  std::string line = join();
  while (width > 0 && DisplayWidth(line) > width) {
    auto highest = std::max_element(parts.begin(), parts.end(),
                                    [](const Part& a, const Part& b) { return a.drop_rank < b.drop_rank; });
    if (highest == parts.end() || highest->drop_rank == 0) break;
    parts.erase(highest);
    line = join();
  }
  return width > 0 ? FitToWidth(line, width) : line;
}

bool IsFinalState(v1::JobState state) {
  return state == v1::SUCCEEDED || state == v1::FAILED || state == v1::CANCELLED;
}

}  // namespace

ProgressView::ProgressView(std::FILE* out, bool redraw_in_place, std::function<size_t()> columns)
    : out_(out), redraw_in_place_(redraw_in_place), columns_(std::move(columns)) {}

void ProgressView::ExpectVariantsFromSpec(const v1::JobSpec& spec) {
  Variant("float").epochs = spec.training().epochs() > 0 ? spec.training().epochs() : 10;
  int qat_epochs = spec.qat().epochs() > 0 ? spec.qat().epochs() : 3;
  std::vector<std::string> configs;
  for (const auto& config : spec.configs()) configs.push_back(ConfigName(config));
  if (configs.empty()) configs.push_back("w8a8");
  for (const auto& config : configs) {
    if (!spec.skip_ptq()) Variant("ptq_" + config);
    if (!spec.skip_qat()) Variant("qat_" + config).epochs = qat_epochs;
  }
}

ProgressView::VariantProgress& ProgressView::Variant(const std::string& name) {
  for (auto& variant : variants_) {
    if (variant.name == name) return variant;
  }
  variants_.push_back(VariantProgress{});
  variants_.back().name = name;
  variants_.back().kind = KindOf(name);
  return variants_.back();
}

void ProgressView::TakeProgress(const v1::EpochStats& progress) {
  VariantProgress& variant = Variant(progress.variant());
  // A retried job starts its epochs again; count only what is new.
  if (variant.seen && progress.epoch() <= variant.last.epoch()) {
    variant.seconds_total = 0;
    variant.epochs_seen = 0;
  }
  variant.seen = true;
  variant.last = progress;
  variant.epochs = std::max(variant.epochs, progress.epochs());
  variant.seconds_total += progress.seconds();
  variant.epochs_seen += 1;
  // The engine makes the variants in display order: all before this one are
  // finished (also what a late watch learns from the job's last progress).
  for (auto& earlier : variants_) {
    if (earlier.name == progress.variant()) break;
    earlier.done = true;
  }
}

bool ProgressView::Finished(const VariantProgress& variant) const {
  if (variant.done || variant.has_final) return true;
  // The float baseline is finished with its last epoch; a QAT variant still
  // exports after its own.
  return variant.kind == "float" && variant.seen && variant.last.epoch() >= std::max(1, variant.epochs);
}

double ProgressView::SecondsPerEpochEstimate() const {
  double seconds = 0;
  int epochs = 0;
  for (const auto& variant : variants_) {
    seconds += variant.seconds_total;
    epochs += variant.epochs_seen;
  }
  return epochs > 0 ? seconds / epochs : 0;
}

ProgressView::Line ProgressView::VariantLine(size_t index, size_t width) const {
  const VariantProgress& variant = variants_[index];
  size_t name_width = 8;
  for (const auto& other : variants_) name_width = std::max(name_width, DisplayWidth(other.name));
  name_width = std::min<size_t>(name_width, 16);
  const std::string name = fmt::format("  {:<{}}", FitToWidth(variant.name, name_width), name_width);
  Line line{"variant " + variant.name, "", false};
  const bool running = job_.state() == v1::RUNNING;
  // The variant the engine is on when no epoch says so: the first one not
  // finished, once the job runs.
  bool current = false;
  if (running) {
    for (size_t i = 0; i < variants_.size(); ++i) {
      if (!Finished(variants_[i])) {
        current = i == index;
        break;
      }
    }
  }

  if (variant.has_final) {
    const v1::VariantResult& result = variant.final_result;
    std::string integer = result.integer_accuracy() > 0 || result.agreement() > 0
                              ? "int " + FormatPercent(result.integer_accuracy())
                              : "";
    line.text = JoinWithin({{name, 0},
                            {"done", 0},
                            {"acc " + FormatPercent(result.accuracy()), 0},
                            {integer, 1},
                            {result.flash_bytes() > 0 ? FormatKilobytes(result.flash_bytes()) : "", 2},
                            {result.train_seconds() > 0 ? FormatDuration(result.train_seconds()) : "", 3}},
                           width);
    return line;
  }
  if (variant.seen) {
    const v1::EpochStats& last = variant.last;
    const int epochs = std::max(variant.epochs, last.epochs());
    const double per_epoch = variant.epochs_seen > 0 ? variant.seconds_total / variant.epochs_seen : 0;
    std::string phase;
    if (variant.done || Finished(variant)) {
      phase = "done";
    } else if (last.epoch() >= epochs) {
      phase = running ? "exporting" : "-";
    } else if (per_epoch > 0 && running) {
      phase = "eta " + FormatDuration(per_epoch * (epochs - last.epoch()));
    }
    line.text = JoinWithin({{name, 0},
                            {fmt::format("epoch {}/{}", last.epoch(), epochs), 0},
                            {fmt::format("loss {:.4f}", last.loss()), 2},
                            {"train " + FormatPercent(last.train_accuracy()), 3},
                            {"test " + FormatPercent(last.test_accuracy()), 0},
                            {per_epoch > 0 ? fmt::format("{:.1f} s/epoch", per_epoch) : "", 4},
                            {phase, 1}},
                           width);
    return line;
  }
  if (variant.done) {
    line.text = JoinWithin({{name, 0}, {"done", 0}}, width);
    return line;
  }
  if (current) {
    std::string phase = variant.kind == "ptq"   ? "calibrating, exporting"
                        : variant.kind == "qat" ? "calibrating"
                                                : "starting (loading data)";
    line.text = JoinWithin({{name, 0}, {phase, 0}}, width);
    return line;
  }
  line.waiting = true;
  if (!running && job_.state() != v1::QUEUED) {
    line.text = JoinWithin({{name, 0}, {"-", 0}}, width);
    return line;
  }
  double estimate = SecondsPerEpochEstimate();
  std::string detail;
  if (variant.kind == "ptq") {
    detail = "calibration + export";
  } else if (estimate > 0 && variant.epochs > 0) {
    detail = fmt::format("{} epochs, ~{}", variant.epochs, FormatDuration(estimate * variant.epochs));
  } else if (variant.epochs > 0) {
    detail = fmt::format("{} epochs", variant.epochs);
  }
  line.text = JoinWithin({{name, 0}, {"waiting", 0}, {detail.empty() ? "" : "(" + detail + ")", 1}}, width);
  return line;
}

std::string ProgressView::HeaderLine(bool with_eta) const {
  std::string line = JobSummaryLine(job_);
  if (with_eta && job_.state() == v1::RUNNING) {
    // Remaining time of the whole job: what is left of started variants at
    // their own pace, and unstarted ones at the average pace so far.
    double estimate = SecondsPerEpochEstimate();
    double remaining = 0;
    for (const auto& variant : variants_) {
      if (variant.done || variant.has_final) continue;
      double pace = variant.epochs_seen > 0 ? variant.seconds_total / variant.epochs_seen : estimate;
      int done = variant.seen ? variant.last.epoch() : 0;
      remaining += pace * std::max(0, std::max(variant.epochs, variant.last.epochs()) - done);
    }
    if (estimate > 0) line += "  eta " + FormatDuration(remaining);
  }
  return line;
}

std::vector<ProgressView::Line> ProgressView::Frame(size_t width) const {
  std::vector<Line> lines;
  // The plain display leaves the ever-changing eta out of the header, so the
  // header is printed again only when the job's state changes.
  const std::string header = HeaderLine(/*with_eta=*/redraw_in_place_);
  lines.push_back({"header", width > 0 ? FitToWidth(header, width) : header, false});
  for (size_t i = 0; i < variants_.size(); ++i) lines.push_back(VariantLine(i, width));
  for (const v1::Measurement& measurement : measurements_) {
    const std::string board =
        !measurement.result().board().empty() ? measurement.result().board() : measurement.board_kind();
    std::vector<Part> parts = {{"  measure " + measurement.variant() + " on " + board, 0}, {measurement.state(), 0}};
    if (measurement.state() == "SUCCEEDED" && measurement.result().median_us() > 0) {
      const v1::MeasurementResult& result = measurement.result();
      parts.push_back({FormatMicroseconds(result.median_us()) + (result.emulated() ? "*" : ""), 0});
      if (result.accuracy_samples() > 0) parts.push_back({"device acc " + FormatPercent(result.device_accuracy()), 1});
    } else if (measurement.state() == "QUEUED") {
      parts.push_back({"(waiting for an agent with this board)", 1});
    } else if (measurement.state() == "RUNNING" && !measurement.device_id().empty()) {
      parts.push_back({"on " + measurement.device_id(), 1});
    }
    if (!measurement.error().empty()) parts.push_back({measurement.error(), 0});
    lines.push_back({"measurement " + measurement.id(), JoinWithin(parts, width), false});
  }
  if (!last_message_.empty() && last_message_ != "current state") {
    const std::string message = "  " + last_message_;
    lines.push_back({"message", width > 0 ? FitToWidth(message, width) : message, false});
  }
  return lines;
}

std::vector<std::string> ProgressView::Lines(size_t width) const {
  std::vector<std::string> texts;
  for (const Line& line : Frame(width)) texts.push_back(line.text);
  return texts;
}

void ProgressView::OnEvent(const v1::JobEvent& event) {
  if (event.has_job()) {
    if (!has_job_ && event.job().has_spec()) ExpectVariantsFromSpec(event.job().spec());
    // Attaching to a job already under way: its last progress says which
    // variant it is on.
    if (!has_job_ && !event.has_progress() && event.job().has_last_progress() &&
        !event.job().last_progress().variant().empty() && !IsFinalState(event.job().state())) {
      TakeProgress(event.job().last_progress());
    }
    job_ = event.job();
    has_job_ = true;
  }
  if (event.has_progress() && !event.progress().variant().empty()) TakeProgress(event.progress());
  if (event.has_result()) {
    result_ = event.result();
    has_result_ = true;
    for (const auto& final_result : result_.variants()) {
      VariantProgress& variant = Variant(final_result.name());
      variant.has_final = true;
      variant.done = true;
      variant.final_result = final_result;
    }
  }
  if (!event.message().empty()) last_message_ = event.message();
  Show();
}

void ProgressView::OnMeasurements(const v1::GetResultsResponse& results) {
  measurements_.assign(results.measurements().begin(), results.measurements().end());
  Show();
}

void ProgressView::Show() {
  if (out_ == nullptr) return;
  if (!redraw_in_place_) {
    // Off a terminal: each line whose text changed, once, as it changes.
    for (const Line& line : Frame(0)) {
      if (line.waiting) continue;
      auto printed = printed_.find(line.key);
      if (printed != printed_.end() && printed->second == line.text) continue;
      printed_[line.key] = line.text;
      fmt::print(out_, "{}\n", line.text);
    }
    std::fflush(out_);
    return;
  }
  const size_t width = columns_ ? columns_() : kDefaultColumns;
  RedrawFrame(out_, Lines(width), &lines_drawn_);
}

}  // namespace qatlab
