// The job specification (qatlab.v1.JobSpec): parsing its JSON form, filling
// defaults, expanding model presets, validating it, and translating its
// layers into the engine's own types (engine/model_config.h). Shared by the
// worker's CLI, the server (cheap checks at submission) and the engine's
// entry point (engine/experiment.h). This is the edge of the engine: nothing
// below it sees the wire format.
//
// Every error names what is wrong: the field ("training.batch_size"), or the
// layer by index, name and type ("model.layers[3] (conv2d 'c2')").
#pragma once

#include <string>
#include <vector>

#include "engine/layer_weights.h"
#include "engine/model_config.h"
#include "engine/shape.h"
#include "qatlab/v1/job.pb.h"
#include "status/status.h"

namespace qatlab {

// Parses a job file's JSON (protobuf's canonical JSON mapping; snake_case
// names accepted too). Unknown fields are errors, naming the field, and so
// is an explicit "epochs": 0 in training (but for an ONNX model) or qat: it
// would read as the default.
// Does not apply defaults or validate.
StatusOr<v1::JobSpec> ParseJobSpecJson(const std::string& json);

// Fills every unset field with its documented default (job.proto): training
// (adam, 1e-3, batch 64, 10 epochs -- none for an ONNX model, whose
// weights are already trained: it is fine-tuned only when the spec sets
// training.epochs -- constant schedule, momentum 0.9), PTQ
// (512 samples, minmax, 99.99), QAT (3 epochs, 1e-4, optimizer of the float
// training), configs (one w8a8), config names ("w<w>a<a>", "mixed" suffix
// when layer_weight_bits is set), seed 1, max_attempts 3, data source
// "mnist" when no data file is named, else the format the training images'
// file name tells (.csv, .npy, idx) or none (ValidateJobSpec then refuses). The model preset is kept as is (see
// ResolveModelLayers). Idempotent.
void ApplyJobSpecDefaults(v1::JobSpec* spec);

// The names of the built-in model presets.
std::vector<std::string> ModelPresetNames();

// The layers of a model: `layers` when given, else the preset's, as written
// (TranslateModel reads a stride of 0 as 1). Errors: not exactly one of
// preset, layers and onnx given, unknown preset, an ONNX model (it has no
// layer list; TranslateModel imports it).
StatusOr<std::vector<v1::LayerSpec>> ResolveModelLayers(const v1::ModelSpec& model);

// The most Hutchinson probes a job may ask for (PtqSpec.hessian_probes):
// each costs two gradients over 512 training images, so 10,000 is already
// hours on a small model; beyond that a value is a typo.
inline constexpr int kMaxHessianProbes = 10000;

// Checks that need no data: exactly one of model preset, layers and onnx,
// known layer types and their fields, add targets, fused-group structure,
// optimizer and schedule names, bit widths 2..8, per-layer bit lists
// matching the number of weighted layers, config names unique, data source
// known and its paths present (not that the files exist). An ONNX model's
// file is not read here (it is a path on the worker, or an uploaded model
// the server checks itself); its per-layer bit lists are checked when the
// engine loads it. Call after ApplyJobSpecDefaults.
Status ValidateJobSpec(const v1::JobSpec& spec);

// All of the above plus shape inference: every layer's shape chains from
// `input` (kernels fit, pools divide sensibly, adds see equal shapes) and the
// model ends with num_classes outputs.
Status ValidateJobSpec(const v1::JobSpec& spec, const ImageShape& input, int num_classes);

// A job's model in the engine's terms.
struct JobModel {
  std::vector<LayerConfig> layers;
  // An imported model's trained values (Network::LoadWeights); empty for
  // presets and layer lists, which start from the seeded initialization.
  std::vector<LayerWeights> weights;
  // What the result calls it: the preset, "custom", or "onnx:<file name>".
  std::string name;
};

// The same checks, translating the model once (an ONNX model: reading and
// importing its file, then checking that its input shape is `input` and its
// output count num_classes, each message naming both).
StatusOr<JobModel> TranslateValidJobSpec(const v1::JobSpec& spec, const ImageShape& input, int num_classes);

// The engine's description of `layers`: each layer's kind and settings,
// strides of 0 read as 1, `add` sources resolved to layer indices. Checks
// what needs no shapes: known layer types and their fields, add targets
// (an earlier layer ending a fused group), fused-group structure, unique
// names. Errors name the first offending layer.
StatusOr<std::vector<LayerConfig>> TranslateLayers(const std::vector<v1::LayerSpec>& layers);

// ResolveModelLayers, then TranslateLayers; for an ONNX model, the layers of
// the imported file (model_import/onnx_import.h).
StatusOr<std::vector<LayerConfig>> TranslateModel(const v1::ModelSpec& model);

}  // namespace qatlab
