// The first step of an import: bytes to a checked ONNX model. Parsing with
// the generated protobuf classes, the opset range qatlab accepts, then
// onnx::checker::check_model and onnx::shape_inference::InferShapes (which
// fills the graph's value_info with every shape it can infer).
#pragma once

#include <onnx/onnx_pb.h>

#include <cstdint>
#include <string_view>

#include "status/status.h"

namespace qatlab {

inline constexpr int64_t kMinOnnxOpset = 11;
inline constexpr int64_t kMaxOnnxOpset = 17;

struct CheckedOnnxModel {
  onnx::ModelProto model;  // with inferred shapes
  int64_t opset = 0;       // of the default ("ai.onnx") domain
};

// Errors (InvalidArgument, one line): bytes that do not parse as an ONNX
// model (another format, or truncated), a model without a graph, an opset
// outside kMinOnnxOpset..kMaxOnnxOpset, or the checker's or shape
// inference's complaint.
StatusOr<CheckedOnnxModel> ReadCheckedOnnxModel(std::string_view bytes);

}  // namespace qatlab
