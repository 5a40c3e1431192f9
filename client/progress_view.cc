#include "client/progress_view.h"

#include <algorithm>

#include <fmt/format.h>

#include "client/result_view.h"
#include "client/text_table.h"

namespace qatlab {
namespace {

// The name the server gives a configuration that has none: "w<bits>a<bits>".
std::string ConfigName(const v1::QuantConfig& config) {
  if (!config.name().empty()) return config.name();
  int weight_bits = config.weight_bits() > 0 ? config.weight_bits() : 8;
  int activation_bits = config.activation_bits() > 0 ? config.activation_bits() : 8;
  return fmt::format("w{}a{}", weight_bits, activation_bits);
}

}  // namespace

ProgressView::ProgressView(std::FILE* out, bool redraw_in_place) : out_(out), redraw_in_place_(redraw_in_place) {}

void ProgressView::ExpectVariantsFromSpec(const v1::JobSpec& spec) {
  Variant("float").epochs = spec.training().epochs() > 0 ? spec.training().epochs() : 10;
  if (spec.skip_qat()) return;
  int qat_epochs = spec.qat().epochs() > 0 ? spec.qat().epochs() : 3;
  if (spec.configs_size() == 0) {
    Variant("qat_w8a8").epochs = qat_epochs;
    return;
  }
  for (const auto& config : spec.configs()) Variant("qat_" + ConfigName(config)).epochs = qat_epochs;
}

ProgressView::VariantProgress& ProgressView::Variant(const std::string& name) {
  for (auto& variant : variants_) {
    if (variant.name == name) return variant;
  }
  variants_.push_back(VariantProgress{});
  variants_.back().name = name;
  return variants_.back();
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

std::string ProgressView::VariantLine(const VariantProgress& variant) const {
  std::string name = fmt::format("  {:<14}", variant.name);
  if (!variant.seen) {
    if (job_.state() == v1::QUEUED || job_.state() == v1::RUNNING) {
      double estimate = SecondsPerEpochEstimate();
      if (estimate > 0 && variant.epochs > 0) {
        return name +
               fmt::format("waiting ({} epochs, ~{})", variant.epochs, FormatDuration(estimate * variant.epochs));
      }
      return name + "waiting";
    }
    return name + "-";
  }
  const v1::EpochStats& last = variant.last;
  int epochs = std::max(variant.epochs, last.epochs());
  std::string line =
      name + fmt::format("epoch {}/{}  loss {:.4f}  train {}  test {}", last.epoch(), epochs, last.loss(),
                         FormatPercent(last.train_accuracy()), FormatPercent(last.test_accuracy()));
  double per_epoch = variant.epochs_seen > 0 ? variant.seconds_total / variant.epochs_seen : 0;
  if (per_epoch > 0) line += fmt::format("  {:.1f} s/epoch", per_epoch);
  if (last.epoch() >= epochs) {
    line += "  done";
  } else if (per_epoch > 0) {
    line += "  eta " + FormatDuration(per_epoch * (epochs - last.epoch()));
  }
  return line;
}

std::string ProgressView::HeaderLine() const {
  std::string line = JobSummaryLine(job_);
  if (job_.state() == v1::RUNNING) {
    // Remaining time of the whole job: what is left of started variants at
    // their own pace, and unstarted ones at the average pace so far.
    double estimate = SecondsPerEpochEstimate();
    double remaining = 0;
    for (const auto& variant : variants_) {
      double pace = variant.epochs_seen > 0 ? variant.seconds_total / variant.epochs_seen : estimate;
      int done = variant.seen ? variant.last.epoch() : 0;
      remaining += pace * std::max(0, std::max(variant.epochs, variant.last.epochs()) - done);
    }
    if (estimate > 0) line += "  eta " + FormatDuration(remaining);
  }
  return line;
}

void ProgressView::OnEvent(const v1::JobEvent& event) {
  bool state_changed = false;
  if (event.has_job()) {
    state_changed = !has_job_ || event.job().state() != job_.state() || event.job().attempt() != job_.attempt();
    if (!has_job_ && event.job().has_spec()) ExpectVariantsFromSpec(event.job().spec());
    job_ = event.job();
    has_job_ = true;
  }
  bool progressed = false;
  if (event.has_progress() && !event.progress().variant().empty()) {
    VariantProgress& variant = Variant(event.progress().variant());
    // A retried job starts its epochs again; count only what is new.
    if (variant.seen && event.progress().epoch() <= variant.last.epoch()) {
      variant.seconds_total = 0;
      variant.epochs_seen = 0;
    }
    variant.seen = true;
    variant.last = event.progress();
    variant.epochs = std::max(variant.epochs, event.progress().epochs());
    variant.seconds_total += event.progress().seconds();
    variant.epochs_seen += 1;
    progressed = true;
  }
  if (event.has_result()) {
    result_ = event.result();
    has_result_ = true;
  }
  if (!event.message().empty()) last_message_ = event.message();

  if (out_ == nullptr) return;
  if (redraw_in_place_) {
    Redraw();
    return;
  }
  if (state_changed) fmt::print(out_, "{}\n", JobSummaryLine(job_));
  if (progressed) {
    const VariantProgress& variant = Variant(event.progress().variant());
    fmt::print(out_, "{}\n", VariantLine(variant));
  }
  if (!event.message().empty()) fmt::print(out_, "  {}\n", event.message());
  std::fflush(out_);
}

void ProgressView::Redraw() {
  std::vector<std::string> lines;
  lines.push_back(HeaderLine());
  for (const auto& variant : variants_) lines.push_back(VariantLine(variant));
  if (!last_message_.empty()) lines.push_back("  " + last_message_);
  std::string frame;
  // Move to the start of the previous frame, overwrite it line by line, and
  // clear whatever a longer previous frame left below.
  if (lines_drawn_ > 0) frame += fmt::format("\x1b[{}F", lines_drawn_);
  for (const auto& line : lines) frame += "\x1b[2K" + line + "\n";
  frame += "\x1b[J";
  std::fputs(frame.c_str(), out_);
  std::fflush(out_);
  lines_drawn_ = static_cast<int>(lines.size());
}

}  // namespace qatlab
