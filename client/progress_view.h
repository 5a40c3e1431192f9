// The live display of `qatctl watch JOB`: a job header, one line per variant
// in the order the engine makes them (float training; then, per
// configuration, PTQ calibration and export, QAT calibration, training and
// export), then one line per measurement of the job's models (queued,
// running, done or failed, per board).
//
// The worker reports finished epochs only, so the phases between them are
// read from that order: after the float's last epoch the next variant is
// calibrating; after a QAT variant's last epoch it is exporting; a variant is
// done once a later one has started or the result has come. A watch that
// attaches late marks every variant before the current one done, and a
// finished job's result fills in every variant.
//
// On a terminal the block is redrawn in place with ANSI cursor movement and
// every line fits the terminal's width (asked before each redraw, so a
// resize is followed); otherwise each change becomes one plain line, so logs
// and pipes stay readable.
#pragma once

#include <cstdio>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "qatlab/v1/experiment.pb.h"

namespace qatlab {

class ProgressView {
 public:
  // `out` is not owned and must outlive the view; null: track state only,
  // print nothing (for --json, where the events themselves are the output).
  // `columns` gives the width to fit when redrawing in place; null: 80.
  ProgressView(std::FILE* out, bool redraw_in_place, std::function<size_t()> columns = nullptr);

  // Takes in one WatchJob event and updates the display.
  void OnEvent(const v1::JobEvent& event);
  // Takes in the job's measurements (GetResults) and updates the display.
  void OnMeasurements(const v1::GetResultsResponse& results);

  // The lines of the display, each at most `width` columns (0: no limit).
  std::vector<std::string> Lines(size_t width) const;

  // The last job state seen (UNSPECIFIED before the first event).
  v1::JobState state() const { return job_.state(); }
  const v1::Job& job() const { return job_; }
  bool has_result() const { return has_result_; }
  const v1::JobResult& result() const { return result_; }

 private:
  struct VariantProgress {
    std::string name;
    std::string kind;  // "float" | "ptq" | "qat"
    int epochs = 0;    // expected, from the spec or the events
    bool seen = false;
    v1::EpochStats last;
    double seconds_total = 0;  // sum of per-epoch seconds seen
    int epochs_seen = 0;
    bool done = false;  // a later variant started, or the result came
    bool has_final = false;
    v1::VariantResult final_result;
  };
  // One line of the display; `key` names what it shows, so the plain display
  // prints a line again only when its text changed.
  struct Line {
    std::string key;
    std::string text;
    bool waiting = false;  // nothing to say yet (not printed off a terminal)
  };

  void ExpectVariantsFromSpec(const v1::JobSpec& spec);
  VariantProgress& Variant(const std::string& name);
  void TakeProgress(const v1::EpochStats& progress);
  bool Finished(const VariantProgress& variant) const;
  double SecondsPerEpochEstimate() const;
  std::vector<Line> Frame(size_t width) const;
  Line VariantLine(size_t index, size_t width) const;
  std::string HeaderLine(bool with_eta) const;
  void Show();

  std::FILE* out_;
  const bool redraw_in_place_;
  std::function<size_t()> columns_;
  v1::Job job_;
  bool has_job_ = false;
  bool has_result_ = false;
  v1::JobResult result_;
  std::vector<VariantProgress> variants_;  // display order: the engine's
  std::vector<v1::Measurement> measurements_;
  std::string last_message_;
  int lines_drawn_ = 0;
  std::map<std::string, std::string> printed_;  // plain display: key -> text
};

}  // namespace qatlab
