#include "client/job_set_view.h"

#include <algorithm>

#include <fmt/format.h>

#include "client/result_view.h"
#include "client/terminal.h"
#include "client/text_table.h"

namespace qatlab {
namespace {

constexpr size_t kDefaultColumns = 80;

bool IsFinalState(v1::JobState state) {
  return state == v1::SUCCEEDED || state == v1::FAILED || state == v1::CANCELLED;
}

// What a variant is judged by: the integer model's accuracy when it was
// exported (what runs on the board), else the fake-quantized one.
double Score(const v1::VariantResult& variant) {
  return variant.integer_accuracy() > 0 ? variant.integer_accuracy() : variant.accuracy();
}

std::string VariantSummary(const v1::VariantResult& variant) {
  std::string text = fmt::format("{} {}", variant.name(), FormatPercent(variant.accuracy()));
  if (variant.integer_accuracy() > 0) text += fmt::format(" (int {})", FormatPercent(variant.integer_accuracy()));
  if (variant.flash_bytes() > 0) text += "  " + FormatKilobytes(variant.flash_bytes());
  return text;
}

std::string Fit(const std::string& line, size_t width) { return width > 0 ? FitToWidth(line, width) : line; }

}  // namespace

const v1::VariantResult* BestQuantizedVariant(const v1::JobResult& result) {
  const v1::VariantResult* best = nullptr;
  for (const auto& variant : result.variants()) {
    if (variant.kind() == "float") continue;
    if (best == nullptr || Score(variant) > Score(*best)) best = &variant;
  }
  return best;
}

JobSetView::JobSetView(std::vector<std::string> job_ids, std::FILE* out, bool redraw_in_place,
                       std::function<size_t()> columns)
    : job_ids_(std::move(job_ids)), out_(out), redraw_in_place_(redraw_in_place), columns_(std::move(columns)) {}

void JobSetView::OnJob(const v1::Job& job) {
  Entry& entry = entries_[job.id()];
  entry.job = job;
  entry.has_job = true;
}

void JobSetView::OnResults(const v1::GetResultsResponse& results) {
  Entry& entry = entries_[results.job().id()];
  entry.job = results.job();
  entry.has_job = true;
  entry.has_results = true;
  if (const v1::VariantResult* best = BestQuantizedVariant(results.result()); best != nullptr) entry.best = *best;
}

bool JobSetView::IsFinal(const std::string& job_id) const {
  auto found = entries_.find(job_id);
  return found != entries_.end() && found->second.has_job && IsFinalState(found->second.job.state());
}

bool JobSetView::AllFinal() const {
  return std::all_of(job_ids_.begin(), job_ids_.end(), [this](const std::string& id) { return IsFinal(id); });
}

int JobSetView::CountIn(v1::JobState state) const {
  int count = 0;
  for (const auto& id : job_ids_) {
    auto found = entries_.find(id);
    if (found != entries_.end() && found->second.has_job && found->second.job.state() == state) ++count;
  }
  return count;
}

bool JobSetView::NeedsResults(const std::string& job_id) const {
  auto found = entries_.find(job_id);
  return found != entries_.end() && found->second.job.state() == v1::SUCCEEDED && !found->second.has_results;
}

std::vector<std::pair<std::string, std::string>> JobSetView::KeyedLines(size_t width) const {
  std::vector<std::pair<std::string, std::string>> lines;
  const int succeeded = CountIn(v1::SUCCEEDED);
  const int failed = CountIn(v1::FAILED);
  const int cancelled = CountIn(v1::CANCELLED);
  lines.emplace_back("counts", Fit(fmt::format("{} jobs: {} finished ({} succeeded, {} failed, {} cancelled), {} "
                                               "running, {} queued",
                                               job_ids_.size(), succeeded + failed + cancelled, succeeded, failed,
                                               cancelled, CountIn(v1::RUNNING), CountIn(v1::QUEUED)),
                                   width));
  const Entry* best_entry = nullptr;
  for (const auto& id : job_ids_) {
    auto found = entries_.find(id);
    if (found == entries_.end() || found->second.best.name().empty()) continue;
    if (best_entry == nullptr || Score(found->second.best) > Score(best_entry->best)) best_entry = &found->second;
  }
  lines.emplace_back(
      "best", Fit(best_entry == nullptr
                      ? "best so far: -"
                      : fmt::format("best so far: {}  job {}", VariantSummary(best_entry->best), best_entry->job.id()),
                  width));
  size_t id_width = 2;
  for (const auto& id : job_ids_) id_width = std::max(id_width, DisplayWidth(id));
  for (const auto& id : job_ids_) {
    auto found = entries_.find(id);
    std::string state = "?";
    std::string detail;
    if (found != entries_.end() && found->second.has_job) {
      const Entry& entry = found->second;
      state = JobStateName(entry.job.state());
      if (entry.job.state() == v1::RUNNING && entry.job.has_last_progress() &&
          !entry.job.last_progress().variant().empty()) {
        const v1::EpochStats& last = entry.job.last_progress();
        detail = fmt::format("{} epoch {}/{}  test {}", last.variant(), last.epoch(), last.epochs(),
                             FormatPercent(last.test_accuracy()));
      } else if (entry.job.state() == v1::RUNNING) {
        detail = "starting";
      } else if (entry.job.state() == v1::SUCCEEDED) {
        detail = entry.best.name().empty() ? (entry.has_results ? "no quantized variant" : "")
                                           : "best " + VariantSummary(entry.best);
      } else if (!entry.job.error().empty()) {
        detail = entry.job.error();
      }
    }
    lines.emplace_back("job " + id, Fit(fmt::format("  {:<{}}  {:<9}  {}", id, id_width, state, detail), width));
  }
  for (auto& line : lines) {
    while (!line.second.empty() && line.second.back() == ' ') line.second.pop_back();
  }
  return lines;
}

std::vector<std::string> JobSetView::Lines(size_t width) const {
  std::vector<std::string> texts;
  for (auto& line : KeyedLines(width)) texts.push_back(std::move(line.second));
  return texts;
}

void JobSetView::Show() {
  if (out_ == nullptr) return;
  if (!redraw_in_place_) {
    for (const auto& [key, text] : KeyedLines(0)) {
      auto printed = printed_.find(key);
      if (printed != printed_.end() && printed->second == text) continue;
      printed_[key] = text;
      fmt::print(out_, "{}\n", text);
    }
    std::fflush(out_);
    return;
  }
  const size_t width = columns_ ? columns_() : kDefaultColumns;
  RedrawFrame(out_, Lines(width), &lines_drawn_);
}

}  // namespace qatlab
