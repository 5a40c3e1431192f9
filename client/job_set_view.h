// The display of `qatctl watch JOB JOB...` (and of a sweep, which is its
// jobs): a line of counts (finished, failed, running, queued), the best
// quantized result so far, and one line per job (its state, the variant and
// epoch it is on, or its best variant once it succeeded, or its error).
//
// Like ProgressView: redrawn in place within the terminal's width on a
// terminal, plain lines (each printed again only when it changed) otherwise.
#pragma once

#include <cstdio>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "qatlab/v1/experiment.pb.h"

namespace qatlab {

class JobSetView {
 public:
  // `job_ids` in display order. `out` is not owned; null: print nothing.
  // `columns` gives the width when redrawing in place; null: 80.
  JobSetView(std::vector<std::string> job_ids, std::FILE* out, bool redraw_in_place,
             std::function<size_t()> columns = nullptr);

  // A job's latest state (GetJob).
  void OnJob(const v1::Job& job);
  // A finished job's results (GetResults): its best variant.
  void OnResults(const v1::GetResultsResponse& results);

  // Redraws (terminal) or prints the lines that changed (plain).
  void Show();
  // The lines of the display, each at most `width` columns (0: no limit).
  std::vector<std::string> Lines(size_t width) const;

  const std::vector<std::string>& job_ids() const { return job_ids_; }
  // True once every job has reached SUCCEEDED, FAILED or CANCELLED.
  bool AllFinal() const;
  int CountIn(v1::JobState state) const;
  // True once `job_id` has reached SUCCEEDED, FAILED or CANCELLED.
  bool IsFinal(const std::string& job_id) const;
  // A succeeded job whose results have not been taken in yet.
  bool NeedsResults(const std::string& job_id) const;

 private:
  struct Entry {
    v1::Job job;
    bool has_job = false;
    bool has_results = false;
    v1::VariantResult best;  // the best quantized variant; name empty: none
  };

  std::vector<std::pair<std::string, std::string>> KeyedLines(size_t width) const;

  std::vector<std::string> job_ids_;
  std::FILE* out_;
  const bool redraw_in_place_;
  std::function<size_t()> columns_;
  std::map<std::string, Entry> entries_;
  int lines_drawn_ = 0;
  std::map<std::string, std::string> printed_;  // plain display: key -> text
};

// The variant a comparison would pick: the quantized variant (PTQ or QAT)
// with the highest accuracy, preferring its integer accuracy when it was
// exported. Null when the result has none.
const v1::VariantResult* BestQuantizedVariant(const v1::JobResult& result);

}  // namespace qatlab
