// What the server checks before a job is accepted: the engine's cheap spec
// validation (no data needed), the size of the spec and of the model it
// describes, and the server's own rules (attempt limits, labels, references
// to uploaded data sets). Nothing is stored on failure.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "qatlab/v1/job.pb.h"
#include "status/status.h"

namespace qatlab::server {

// Data paths of the form "dataset:<name>" name a data set uploaded with
// UploadDataset; the worker fetches it with FetchDataset.
inline constexpr const char* kDatasetReferencePrefix = "dataset:";

// How large a job may be. The spec bounds protect the server (a spec is
// stored, listed and sent to a worker whole); the model bounds protect the
// workers (a model is allocated whole: weights, gradients, optimizer state,
// and a batch's activations for the backward pass).
struct SubmissionLimits {
  // --- the spec ---
  int64_t max_spec_bytes = 256 << 10;  // serialized JobSpec
  int max_layers = 512;                // model.layers
  int max_configs = 64;                // configs
  // --- the model (checked when the input shape is known at submission:
  // the built-in MNIST, or CSV with height and width; otherwise the worker
  // fails the job when it cannot allocate the model) ---
  int64_t max_parameters = 20'000'000;       // weights + biases
  int64_t max_macs = 2'000'000'000;          // multiply-accumulates of one inference
  int64_t max_activation_bytes = 2ll << 30;  // float32 activations of one training batch
};

// Applies the documented defaults to `spec` and validates it. On failure
// returns InvalidArgument naming the field (or the limit and the value);
// `spec` may be partly defaulted. `dataset_exists` answers whether an
// uploaded data set of that name exists.
Status PrepareSubmission(v1::JobSpec* spec, const std::function<bool(const std::string&)>& dataset_exists,
                         const SubmissionLimits& limits = {});

}  // namespace qatlab::server
