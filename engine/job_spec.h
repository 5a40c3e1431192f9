// The job specification (qatlab.v1.JobSpec): parsing its JSON form, filling
// defaults, expanding model presets and validating it. Shared by the worker's
// CLI, the server (cheap checks at submission) and the engine itself.
//
// Every error names what is wrong: the field ("training.batch_size"), or the
// layer by index, name and type ("model.layers[3] (conv2d 'c2')").
#pragma once

#include <string>
#include <vector>

#include "status/status.h"
#include "qatlab/v1/job.pb.h"

namespace qatlab {

// Per-sample shape of an image or activation, HWC.
struct ImageShape {
  int height = 0;
  int width = 0;
  int channels = 0;
  int size() const { return height * width * channels; }
  bool operator==(const ImageShape&) const = default;
};

// Parses a job file's JSON (protobuf's canonical JSON mapping; snake_case
// names accepted too). Unknown fields are errors, naming the field.
// Does not apply defaults or validate.
StatusOr<v1::JobSpec> ParseJobSpecJson(const std::string& json);

// Fills every unset field with its documented default (job.proto): training
// (adam, 1e-3, batch 64, 10 epochs, constant schedule, momentum 0.9), PTQ
// (512 samples, minmax, 99.99), QAT (3 epochs, 1e-4, optimizer of the float
// training), configs (one w8a8), config names ("w<w>a<a>", "mixed" suffix
// when layer_weight_bits is set), seed 1, max_attempts 3, data source
// "mnist". The model preset is kept as is (see ResolveModelLayers).
// Idempotent.
void ApplyJobSpecDefaults(v1::JobSpec* spec);

// The names of the built-in model presets.
std::vector<std::string> ModelPresetNames();

// The layers of a model: `layers` when given, else the preset's. Layer
// strides of 0 become 1. Errors: neither given, unknown preset.
StatusOr<std::vector<v1::LayerSpec>> ResolveModelLayers(const v1::ModelSpec& model);

// Checks that need no data: known layer types and their fields, add targets,
// fused-group structure, optimizer and schedule names, bit widths 2..8,
// per-layer bit lists matching the number of weighted layers, config names
// unique, data source known and its paths present (not that the files exist).
// Call after ApplyJobSpecDefaults.
Status ValidateJobSpec(const v1::JobSpec& spec);

// All of the above plus shape inference: every layer's shape chains from
// `input` (kernels fit, pools divide sensibly, adds see equal shapes) and the
// model ends with num_classes outputs.
Status ValidateJobSpec(const v1::JobSpec& spec, const ImageShape& input, int num_classes);

// dense, conv2d, depthwise_conv2d: the layers with weights.
bool IsWeightedLayerType(const std::string& type);
// batchnorm, relu, relu6: layers fused into the layer before them (the
// integer model has no tensor between them).
bool ContinuesFusedGroup(const std::string& type);

// Output size along one axis of a convolution window: (in + 2 * padding -
// kernel) / stride + 1. REQUIRES: kernel <= in + 2 * padding, stride >= 1.
inline int WindowOutputSize(int in, int kernel, int stride, int padding) {
  return (in + 2 * padding - kernel) / stride + 1;
}

// The per-sample output shape of each layer of `layers` applied to `input`,
// or the first layer that does not chain. shapes->size() == layers.size().
Status InferLayerShapes(const std::vector<v1::LayerSpec>& layers, const ImageShape& input,
                        std::vector<ImageShape>* shapes);

}  // namespace qatlab
