// What `qatctl rerun ID` submits and what it must say first, decided without
// a network from what the server returned: the job, its run record, and the
// data sets and models stored now.
//
// A re-run submits the job's stored spec (defaults applied at submission)
// again, labels and experiment kept, with the label rerun_of=ID. Its inputs
// must be the ones the job read: an uploaded data set or model whose sha256
// is not the recorded one (or that is gone) makes the plan refuse, naming the
// file and both sums. Files on the worker's disk cannot be checked from here;
// the re-run's own record shows their sums and `rerun --wait` compares them.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "qatlab/v1/experiment.pb.h"

namespace qatlab {

// The label a re-run carries, naming the job it re-runs.
inline constexpr std::string_view kRerunOfLabel = "rerun_of";

struct RerunPlan {
  v1::JobSpec spec;                  // what to submit
  std::vector<std::string> changed;  // one line per input that differs: refuse unless allowed
  std::vector<std::string> notes;    // warnings and what was not checked
};

// `original` is GetResults of the job to re-run (its result may be absent:
// a failed job has no record, then nothing is checked and a note says so).
// `client_version` is this program's version (version/version.h): a record
// from another engine version gets a note.
RerunPlan PlanRerun(const v1::GetResultsResponse& original, const std::vector<v1::Dataset>& datasets,
                    const std::vector<v1::Model>& models, std::string_view client_version);

// How a finished re-run compares with the job it re-ran.
struct RunComparison {
  // One line each: an input whose sha256 differs (by role), the engine
  // version if it differs, each model that is missing or differs, and a
  // closing "models: N of M byte-identical".
  std::vector<std::string> lines;
  bool same_inputs = true;
  bool same_engine = true;
  // Every model of the original is in the re-run with the same sha256, and
  // the re-run produced no others.
  bool identical_models = false;
};
RunComparison CompareRunRecords(const v1::RunRecord& original, const v1::RunRecord& rerun);

}  // namespace qatlab
