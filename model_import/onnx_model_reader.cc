#include "model_import/onnx_model_reader.h"

#include <onnx/checker.h>
#include <onnx/shape_inference/implementation.h>

#include <algorithm>
#include <exception>
#include <limits>
#include <string>

namespace qatlab {
namespace {

// The ONNX library's messages may span lines; a Status is one line.
std::string OneLine(std::string message) {
  std::replace(message.begin(), message.end(), '\n', ' ');
  while (!message.empty() && message.back() == ' ') message.pop_back();
  return message;
}

}  // namespace

StatusOr<CheckedOnnxModel> ReadCheckedOnnxModel(std::string_view bytes) {
  CheckedOnnxModel checked;
  onnx::ModelProto& model = checked.model;
  if (bytes.size() > static_cast<size_t>(std::numeric_limits<int>::max()) ||
      !model.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
    return Status::InvalidArgument("not an ONNX model: the " + std::to_string(bytes.size()) +
                                   " bytes do not parse as an ONNX ModelProto (another format, or a truncated file)");
  }
  // Protobuf accepts many byte strings (an empty one among them) as a
  // message with unknown or missing fields.
  if (model.ir_version() <= 0 || !model.has_graph() || model.graph().node_size() == 0) {
    return Status::InvalidArgument("not an ONNX model: the " + std::to_string(bytes.size()) +
                                   " bytes hold no ir_version or no graph with nodes (another format, or a truncated "
                                   "file)");
  }
  bool found = false;
  for (const auto& opset : model.opset_import()) {
    if (opset.domain().empty() || opset.domain() == "ai.onnx") {
      checked.opset = opset.version();
      found = true;
    }
  }
  if (!found) return Status::InvalidArgument("ONNX model: no opset of the default domain (ai.onnx) is imported");
  if (checked.opset < kMinOnnxOpset || checked.opset > kMaxOnnxOpset) {
    return Status::InvalidArgument("ONNX model: opset " + std::to_string(checked.opset) + " is outside " +
                                   std::to_string(kMinOnnxOpset) + ".." + std::to_string(kMaxOnnxOpset));
  }
  try {
    onnx::checker::check_model(model);
  } catch (const std::exception& e) {
    return Status::InvalidArgument("ONNX checker: " + OneLine(e.what()));
  }
  try {
    // Strict: a node whose shapes do not add up is an error here rather than
    // a wrong layer later.
    const onnx::ShapeInferenceOptions options(/*check_type_val=*/true, /*strict_mode_val=*/1);
    onnx::shape_inference::InferShapes(model, onnx::OpSchemaRegistry::Instance(), options);
  } catch (const std::exception& e) {
    return Status::InvalidArgument("ONNX shape inference: " + OneLine(e.what()));
  }
  return checked;
}

}  // namespace qatlab
