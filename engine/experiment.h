// One job: the comparison of a float baseline, post-training quantization
// (PTQ) and quantization-aware training (QAT) at each requested QuantConfig,
// each quantized variant exported to an integer model, serialized to .qmodel
// bytes and evaluated on the integer kernels.
//
// This is the whole of what a worker does with a job; `qatlab-worker run`
// and the gRPC worker are thin shells around RunExperiment.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "qatlab/v1/job.pb.h"
#include "status/status.h"

namespace qatlab {

struct DatasetPair;

// What the engine reports while it trains. Called on the calling thread of
// RunExperiment.
struct ProgressEvent {
  // variant, epoch (1-based), epochs, loss and train_accuracy so far in this
  // epoch; test_accuracy and seconds are final only when end_of_epoch.
  v1::EpochStats stats;
  bool end_of_epoch = false;
  int batch = 0;           // batches done in this epoch
  int batches = 0;         // batches per epoch
  double eta_seconds = 0;  // estimate for the rest of this variant's training
};

// Returns false to cancel the job: RunExperiment then stops within one batch
// and returns Status::Cancelled. Called after every training batch
// (end_of_epoch false) and after every epoch (end_of_epoch true); keep it
// cheap.
using ProgressCallback = std::function<bool(const ProgressEvent&)>;

struct ExperimentOptions {
  // Where the built-in data set is cached; empty: DefaultDataCacheDir().
  std::string data_cache_dir;
  // Worker threads for training (the arithmetic is split into a fixed two
  // parts whatever this is, so results do not depend on it). 1 or 2.
  int threads = 2;
  // Start from this trained float model (engine/float_checkpoint.h) instead
  // of training one: what a job whose spec names a baseline_job runs with.
  // The float variant is then evaluated, not trained, and records
  // `baseline_job`. Null: train the float model (refused when the spec names
  // a baseline_job).
  const std::vector<uint8_t>* float_checkpoint = nullptr;
  std::string baseline_job;
};

// A variant's serialized integer model.
struct VariantArtifact {
  std::string variant;          // "ptq_w8a8", "qat_w4a8", ...
  std::string file_name;        // "<variant>.qmodel"
  std::vector<uint8_t> qmodel;  // the .qmodel bytes
};

struct ExperimentOutput {
  v1::JobResult result;  // variants carry artifact = file_name and its sha256
  std::vector<VariantArtifact> artifacts;
  // The float model this job trained (engine/float_checkpoint.h), for jobs
  // that start from it; empty when it started from a given checkpoint.
  std::vector<uint8_t> float_checkpoint;
};

// Runs the job. `spec` is defaulted and validated here (the caller need not).
// Deterministic: the same spec and data give identical results and bytes.
// Errors: InvalidArgument naming the field or layer for a bad spec, NotFound /
// IOError / Corruption from loading data, Cancelled when progress returned
// false, Internal when an exported model fails on the integer kernels.
StatusOr<ExperimentOutput> RunExperiment(const v1::JobSpec& spec, const ExperimentOptions& options,
                                         const ProgressCallback& progress);

// The same on data already loaded (tests, benchmarks); spec.data is ignored.
StatusOr<ExperimentOutput> RunExperimentOnData(const v1::JobSpec& spec, const DatasetPair& data,
                                               const ExperimentOptions& options, const ProgressCallback& progress);

}  // namespace qatlab
