// The run record of a job (v1::RunRecord, docs/results-json.md "run"): what
// its outcome depends on besides the spec, so that `qatctl rerun` can check a
// re-run's inputs and compare its models byte for byte.
#pragma once

#include <string>
#include <vector>

#include "engine/experiment.h"
#include "qatlab/v1/job.pb.h"

namespace qatlab {

// How the worker ran the job.
struct RunConditions {
  int threads = 0;
  std::string worker_id;  // empty for `qatlab-worker run`
  int attempt = 0;        // 0 for `qatlab-worker run`
};

// The record's inputs, seed, engine version and conditions, before the engine
// runs. `submitted` is the spec as the job names its inputs ("dataset:<name>",
// "model:<name>", worker paths; empty source or "mnist" for MNIST-10k);
// `resolved` the same spec after the uploaded files were replaced by their
// cached copies, which are what is hashed. MNIST-10k's four files are
// recorded by their fixed sums (data/mnist.h: the loader refuses any other
// content). A file that cannot be read is left out: the engine then fails on
// it with its own, clearer error.
v1::RunRecord RecordRunInputs(const v1::JobSpec& submitted, const v1::JobSpec& resolved,
                              const RunConditions& conditions);

// Adds each artifact's name, sha256 and size to record->models.
void RecordRunOutputs(const std::vector<VariantArtifact>& artifacts, v1::RunRecord* record);

}  // namespace qatlab
