// Bringing a trained float model in: an ONNX file (opsets 11-17) read with
// Debian's ONNX library (the generated protobuf classes, onnx::checker and
// shape inference) and turned into the engine's layers and weights. The
// supported operators and patterns are listed in docs/onnx.md.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "engine/layer_weights.h"
#include "engine/model_config.h"
#include "engine/shape.h"
#include "status/status.h"

namespace qatlab {

// What the server and the CLI need to know of an ONNX model without
// building it: enough to check it against a job's data.
struct OnnxModelSummary {
  ImageShape input;     // per sample, HWC (the engine's layout)
  int num_classes = 0;  // the output's size
  int layer_count = 0;  // engine layers it becomes
  int64_t parameters = 0;
  int64_t opset = 0;
};

// Parses and checks `bytes` as a model qatlab can import, the same checks
// the import itself makes. Errors: InvalidArgument with one message naming
// what is wrong: not an ONNX model (or truncated), an opset outside 11-17,
// or the node, its op type and what is unsupported about it (an operator,
// attribute or shape the engine cannot represent, a dynamic input shape).
StatusOr<OnnxModelSummary> InspectOnnxModel(std::string_view bytes);

// An imported model: the engine's layers and their trained float values.
// The engine's input is HWC with values in [0, 1] (pixel / 255); the ONNX
// model's input is NCHW (or NHWC followed by a Transpose to NCHW, as tf2onnx
// writes it) and must expect the same values.
struct ImportedModel {
  std::vector<LayerConfig> layers;
  std::vector<LayerWeights> weights;  // one per layer (Network::LoadWeights)
  ImageShape input;                   // per sample, HWC
  int num_classes = 0;
  int64_t opset = 0;
};

// Imports `bytes`. Errors as InspectOnnxModel.
StatusOr<ImportedModel> ImportOnnxModel(std::string_view bytes);

// The bytes of the file at `path`. Errors: NotFound / IOError naming the path.
StatusOr<std::string> ReadOnnxModelFile(const std::string& path);

// Reads and imports the ONNX file at `path`. Errors: NotFound / IOError
// naming the path when it cannot be read, else ImportOnnxModel's, prefixed
// with the path.
StatusOr<ImportedModel> ImportOnnxModelFile(const std::string& path);

}  // namespace qatlab
