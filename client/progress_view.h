// The live display of `qatctl watch`: one line per variant (epoch, loss,
// accuracy, seconds per epoch, ETA) under a job header. On a terminal the
// block is redrawn in place with ANSI cursor movement; otherwise every event
// becomes one plain line, so logs and pipes stay readable.
#pragma once

#include <cstdio>
#include <map>
#include <string>
#include <vector>

#include "qatlab/v1/experiment.pb.h"

namespace qatlab {

class ProgressView {
 public:
  // `out` is not owned and must outlive the view; null: track state only,
  // print nothing (for --json, where the events themselves are the output).
  ProgressView(std::FILE* out, bool redraw_in_place);

  // Takes in one WatchJob event and updates the display.
  void OnEvent(const v1::JobEvent& event);

  // The last job state seen (UNSPECIFIED before the first event).
  v1::JobState state() const { return job_.state(); }
  const v1::Job& job() const { return job_; }
  bool has_result() const { return has_result_; }
  const v1::JobResult& result() const { return result_; }

 private:
  struct VariantProgress {
    std::string name;
    int epochs = 0;  // expected, from the spec or the events
    bool seen = false;
    v1::EpochStats last;
    double seconds_total = 0;  // sum of per-epoch seconds seen
    int epochs_seen = 0;
  };

  void ExpectVariantsFromSpec(const v1::JobSpec& spec);
  VariantProgress& Variant(const std::string& name);
  double SecondsPerEpochEstimate() const;
  std::string VariantLine(const VariantProgress& variant) const;
  std::string HeaderLine() const;
  void Redraw();

  std::FILE* out_;
  const bool redraw_in_place_;
  v1::Job job_;
  bool has_job_ = false;
  bool has_result_ = false;
  v1::JobResult result_;
  std::vector<VariantProgress> variants_;  // display order
  std::string last_message_;
  int lines_drawn_ = 0;
};

}  // namespace qatlab
