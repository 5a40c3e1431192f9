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
// column when any variant has a successful measurement (each latency names
// its board; a variant measured on several boards lists each). With
// `max_width` > 0 no line is wider: the least telling columns are dropped
// first (PARAMS, MACS, TRAIN, AGREE, RAM, ...) and named in a last line.
std::string RenderResultTable(const v1::GetResultsResponse& results, size_t max_width = 0);

// Every measurement of a job, whatever its state: id, variant, board, state,
// latency, on-board accuracy, bit-exact inputs, device, error. Empty when the
// job has none.
std::string RenderMeasurementTable(const v1::GetResultsResponse& results);

// The per-layer cycles of each successful measurement that recorded them:
// a heading per measurement, then layer, op, cycles and share of the total.
std::string RenderLayerCycles(const v1::GetResultsResponse& results);

// "Settings that differ" between jobs: one row per spec field (as its JSON
// path, "training.seed") whose value is not the same in every job, with each
// job's value. Fields absent from a job read "-". Empty when all agree or
// there are fewer than two jobs.
std::string RenderSettingsThatDiffer(const std::vector<v1::GetResultsResponse>& jobs);

// One table over several jobs: job, variant, bits, accuracy, integer
// accuracy, delta vs its own job's float variant, flash, RAM, MACs, and
// latency only when some job has a measurement. Footnotes follow the table
// when latencies are emulated.
std::string RenderComparisonTable(const std::vector<v1::GetResultsResponse>& jobs);

}  // namespace qatlab
