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

// The ONNX library's shape inference trusts window attributes (a stride of
// 0 is a SIGFPE inside libonnx, a short list a read out of bounds; both
// found by fuzz/onnx_fuzzer.cc), so they are checked before it runs.
Status CheckWindowAttributes(const onnx::GraphProto& graph) {
  for (int i = 0; i < graph.node_size(); ++i) {
    const onnx::NodeProto& node = graph.node(i);
    for (const onnx::AttributeProto& attribute : node.attribute()) {
      const std::string& name = attribute.name();
      const bool window = name == "strides" || name == "dilations" || name == "kernel_shape";
      if (!window && name != "pads") continue;
      // Only 2-D windows are representable, and libonnx indexes these
      // lists by the input's rank without checking their lengths.
      const int expected = name == "pads" ? 4 : 2;
      if (attribute.ints_size() != expected) {
        return Status::InvalidArgument("ONNX model: node " + std::to_string(i) + " ('" + node.name() + "', " +
                                       node.op_type() + "): attribute " + name + " has " +
                                       std::to_string(attribute.ints_size()) + " values; a 2-D window needs " +
                                       std::to_string(expected));
      }
      for (const int64_t value : attribute.ints()) {
        if (window ? value >= 1 : value >= 0) continue;
        return Status::InvalidArgument("ONNX model: node " + std::to_string(i) + " ('" + node.name() + "', " +
                                       node.op_type() + "): attribute " + name + " holds " + std::to_string(value) +
                                       (window ? "; it must be at least 1" : "; it must not be negative"));
      }
    }
  }
  return Status::Ok();
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
  QATLAB_RETURN_IF_ERROR(CheckWindowAttributes(model.graph()));
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
