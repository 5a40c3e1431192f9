// What the server checks before a job is accepted: the engine's cheap spec
// validation (no data needed), the size of the spec and of the model it
// describes, and the server's own rules (attempt limits, labels, references
// to uploaded data sets and models). Nothing is stored on failure.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "engine/shape.h"
#include "qatlab/v1/job.pb.h"
#include "qatlab/v1/resources.pb.h"
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

// ModelSpec.onnx of the form "model:<name>" names a model uploaded with
// UploadModel; the worker fetches it with FetchModel.
inline constexpr const char* kModelReferencePrefix = "model:";

// What a submission may refer to, as the catalogue knows it.
struct SubmissionLookups {
  // Whether an uploaded data set of that name exists.
  std::function<bool(const std::string&)> dataset_exists;
  // The uploaded model of that name (NotFound when there is none).
  std::function<StatusOr<v1::Model>(const std::string&)> find_model;
};

// Applies the documented defaults to `spec` and validates it. On failure
// returns InvalidArgument naming the field; `spec` may be partly defaulted.
//
// The model is exactly one of a preset, a layer list or an ONNX file. An
// uploaded ONNX model ("model:<name>") must exist, and its input and class
// count must match the built-in MNIST (28x28x1, 10 classes) when that is the
// data, or data.num_classes when the spec sets it. An ONNX path on the worker
// is checked only when the worker loads it.
// The spec and model must also stay within `limits` (InvalidArgument naming
// the limit and the value).
Status PrepareSubmission(v1::JobSpec* spec, const SubmissionLookups& lookups, const SubmissionLimits& limits = {});

// The per-sample input shape when the server knows it without reading data:
// the built-in sets (28x28x1), or CSV with height and width. nullopt for
// IDX and NPY files, whose shape is in the files (on the worker, or uploaded).
std::optional<ImageShape> KnownInputShape(const v1::DataSpec& data);

}  // namespace qatlab::server
