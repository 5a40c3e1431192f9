// How jobs and their results read on a terminal: the per-variant result
// table of `qatctl show`/`watch`, the cross-job table of `qatctl compare`,
// and one-line job summaries.
#pragma once

#include <string>
#include <vector>

#include "client/text_table.h"
#include "qatlab/v1/experiment.pb.h"

namespace qatlab {

// "QUEUED", "RUNNING", ... ; "UNSPECIFIED" for the zero value.
std::string JobStateName(v1::JobState state);

// The bit configuration of a variant: "fp32", "w8a8", "w[8,4,8]a8".
std::string VariantBits(const v1::VariantResult& variant);

// "job j-12 SUCCEEDED  experiment=mnist-cnn  model=cnn  attempt 1/3  worker w-1"
std::string JobSummaryLine(const v1::Job& job);

// One row per variant: variant, bits, accuracy, integer accuracy, agreement,
// delta vs float, flash, RAM, parameters, MACs, train time; plus a latency
// column when any variant has a successful measurement.
std::string RenderResultTable(const v1::GetResultsResponse& results);

// One table over several jobs: job, variant, bits, accuracy, integer
// accuracy, delta vs its own job's float variant, flash, RAM, MACs, and
// latency only when some job has a measurement. Footnotes follow the table
// when latencies are emulated.
std::string RenderComparisonTable(const std::vector<v1::GetResultsResponse>& jobs);

}  // namespace qatlab
