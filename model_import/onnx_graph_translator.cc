#include "model_import/onnx_graph_translator.h"

#include <onnx/defs/tensor_proto_util.h>

#include <algorithm>
#include <cmath>
#include <deque>
#include <exception>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace qatlab {
namespace {

// How an ONNX tensor's dims (batch left out) map onto an engine activation,
// which is always HWC.
enum class Layout {
  kNCHW,  // [C, H, W]: the engine's (H, W, C)
  kNHWC,  // [H, W, C]: a tf2onnx input before its Transpose, or before a flatten
  kFlat,  // [F]: the engine's (1, 1, F), features possibly in another order
};

// A tensor the engine computes.
struct Activation {
  int act = 0;  // the engine's activation: 0 the input, i + 1 layer i's output
  Layout layout = Layout::kNCHW;
  std::vector<int64_t> dims;  // ONNX dims without the batch
  // kFlat: the engine position of each ONNX feature; empty when they agree.
  std::vector<int> flat_order;
};

std::string DimsText(const std::vector<int64_t>& dims) {
  std::string text = "[";
  for (size_t i = 0; i < dims.size(); ++i) text += (i ? ", " : "") + std::to_string(dims[i]);
  return text + "]";
}

std::string NumberText(double value) {
  std::string text = std::to_string(value);
  while (text.size() > 1 && text.back() == '0') text.pop_back();
  if (!text.empty() && text.back() == '.') text.pop_back();
  return text;
}

int64_t Product(const std::vector<int64_t>& dims) {
  int64_t product = 1;
  for (int64_t d : dims) product *= d;
  return product;
}

// A node's attributes by name, with ONNX's defaults.
class Attributes {
 public:
  explicit Attributes(const onnx::NodeProto& node) {
    for (const auto& attribute : node.attribute()) by_name_[attribute.name()] = &attribute;
  }
  bool Has(const std::string& name) const { return by_name_.count(name) > 0; }
  int64_t Int(const std::string& name, int64_t fallback) const {
    const auto* a = Find(name);
    return a ? a->i() : fallback;
  }
  float Float(const std::string& name, float fallback) const {
    const auto* a = Find(name);
    return a ? a->f() : fallback;
  }
  std::string String(const std::string& name, const std::string& fallback) const {
    const auto* a = Find(name);
    return a ? a->s() : fallback;
  }
  std::vector<int64_t> Ints(const std::string& name, std::vector<int64_t> fallback) const {
    const auto* a = Find(name);
    return a ? std::vector<int64_t>(a->ints().begin(), a->ints().end()) : std::move(fallback);
  }
  const onnx::AttributeProto* Find(const std::string& name) const {
    const auto it = by_name_.find(name);
    return it == by_name_.end() ? nullptr : it->second;
  }
  std::vector<std::string> Names() const {
    std::vector<std::string> names;
    for (const auto& [name, attribute] : by_name_) names.push_back(name);
    return names;
  }

 private:
  std::map<std::string, const onnx::AttributeProto*> by_name_;
};

class GraphTranslator {
 public:
  explicit GraphTranslator(const CheckedOnnxModel& checked) : graph_(checked.model.graph()), opset_(checked.opset) {}

  StatusOr<ImportedModel> Translate();

 private:
  Status ReadInput();
  Status TranslateNode(const onnx::NodeProto& node);
  Status ReadOutput();

  // Operators and patterns.
  Status Conv(const onnx::NodeProto& node);
  Status Dense(const onnx::NodeProto& node, bool gemm);
  Status Add(const onnx::NodeProto& node);
  Status BatchNormalization(const onnx::NodeProto& node);
  Status Clip(const onnx::NodeProto& node);
  Status MinOrMax(const onnx::NodeProto& node, bool min);
  Status Pool(const onnx::NodeProto& node, bool max);
  Status GlobalAveragePool(const onnx::NodeProto& node);
  Status Flatten(const onnx::NodeProto& node, const Activation& in);
  Status Reshape(const onnx::NodeProto& node);
  Status Transpose(const onnx::NodeProto& node);
  Status Softmax(const onnx::NodeProto& node);
  Status PassThrough(const onnx::NodeProto& node);
  Status Constant(const onnx::NodeProto& node);
  // Relu and Relu6 as layers fused into the layer before them.
  Status AppendActivationFunction(const onnx::NodeProto& node, const std::string& input, LayerKind kind);
  // A Relu6 made of a Relu and a clip at 6 (Clip(max 6), Min(6)).
  Status CapRelu(const onnx::NodeProto& node, const std::string& input);

  // One error about the node being translated.
  Status Unsupported(const std::string& what) const { return Status::InvalidArgument(label_ + ": " + what); }

  // The activation `name` holds, or an error naming the input.
  StatusOr<Activation> ActivationInput(const onnx::NodeProto& node, int input) const;
  // The constant `name` holds (an initializer or a Constant node's output),
  // or nullptr.
  const onnx::TensorProto* ConstantNamed(const std::string& name) const;
  // The values of constant input `input` of the node: floats (`count` of
  // them unless count < 0), or an error naming it.
  StatusOr<std::vector<float>> FloatConstant(const onnx::NodeProto& node, int input, int64_t count,
                                             std::vector<int64_t>* dims = nullptr) const;
  StatusOr<std::vector<int64_t>> Int64Constant(const onnx::NodeProto& node, int input) const;
  // An optional scalar input (Clip's min and max): absent, or its value.
  Status OptionalScalar(const onnx::NodeProto& node, int input, bool* present, float* value) const;

  // The chain: a layer reads the output of the layer just before it.
  Status RequireChainHead(const Activation& in, const std::string& name) const;
  // A layer fused into the one before it needs that layer's output to exist
  // only for it.
  Status RequireOnlyConsumer(const Activation& in, const std::string& name, const std::string& why) const;
  // Appends a layer whose per-sample output is `shape`; returns its act.
  int AppendLayer(LayerConfig config, LayerWeights weights, const ImageShape& shape);
  // Names `name` as `value` and checks its dims against shape inference's.
  Status Define(const std::string& name, const Activation& value);
  LayerConfig NewLayer(LayerKind kind) const;
  int chain_head() const { return static_cast<int>(out_.layers.size()); }
  LayerKind last_kind() const { return out_.layers.back().kind; }

  const onnx::GraphProto& graph_;
  const int64_t opset_;
  ImportedModel out_;
  std::vector<ImageShape> shapes_;  // per act
  std::map<std::string, Activation> activations_;
  std::map<std::string, const onnx::TensorProto*> constants_;
  std::deque<onnx::TensorProto> constant_storage_;  // Constant nodes' values
  // Consumers of each tensor name: node inputs and graph outputs.
  std::map<std::string, int> uses_;
  // Per act: consumers not translated yet, over all names it goes by.
  std::vector<int> remaining_uses_;
  // What shape inference knows of each tensor.
  std::map<std::string, const onnx::TypeProto*> inferred_;
  int64_t batch_ = 0;  // the input's batch dim when fixed, else 0
  std::string label_;  // "node 3 'conv1' (Conv)" while translating it
};

StatusOr<ImportedModel> GraphTranslator::Translate() {
  for (const auto& initializer : graph_.initializer()) constants_[initializer.name()] = &initializer;
  for (const auto& node : graph_.node()) {
    for (const auto& input : node.input()) {
      if (!input.empty()) ++uses_[input];
    }
  }
  for (const auto& output : graph_.output()) ++uses_[output.name()];
  for (const auto& value : graph_.value_info()) inferred_[value.name()] = &value.type();
  for (const auto& value : graph_.output()) inferred_[value.name()] = &value.type();
  QATLAB_RETURN_IF_ERROR(ReadInput());
  for (int i = 0; i < graph_.node_size(); ++i) {
    const onnx::NodeProto& node = graph_.node(i);
    label_ = "node " + std::to_string(i);
    if (!node.name().empty()) label_ += " '" + node.name() + "'";
    label_ += " (" + node.op_type() + ")";
    QATLAB_RETURN_IF_ERROR(TranslateNode(node));
  }
  label_.clear();
  QATLAB_RETURN_IF_ERROR(ReadOutput());
  std::vector<ImageShape> shapes;
  QATLAB_RETURN_IF_ERROR(InferLayerShapes(out_.layers, out_.input, &shapes));
  return std::move(out_);
}

Status GraphTranslator::ReadInput() {
  std::vector<const onnx::ValueInfoProto*> inputs;
  for (const auto& input : graph_.input()) {
    if (!constants_.count(input.name())) inputs.push_back(&input);
  }
  if (inputs.size() != 1) {
    return Status::InvalidArgument("ONNX model: it has " + std::to_string(inputs.size()) +
                                   " inputs (besides initializers); the engine's models take one image");
  }
  const onnx::ValueInfoProto& input = *inputs[0];
  const std::string label = "input '" + input.name() + "'";
  if (!input.type().has_tensor_type() || input.type().tensor_type().elem_type() != onnx::TensorProto::FLOAT) {
    return Status::InvalidArgument(label + ": not a float32 tensor");
  }
  if (!input.type().tensor_type().has_shape()) {
    return Status::InvalidArgument("dynamic input shape: " + label + " has no shape; the engine needs fixed dims");
  }
  const auto& shape = input.type().tensor_type().shape();
  if (shape.dim_size() != 4 && shape.dim_size() != 2) {
    return Status::InvalidArgument(label + ": " + std::to_string(shape.dim_size()) +
                                   "-D; the engine takes [batch, C, H, W], [batch, H, W, C] or [batch, features]");
  }
  std::vector<int64_t> dims;
  for (int d = 1; d < shape.dim_size(); ++d) {
    const auto& dim = shape.dim(d);
    if (!dim.has_dim_value() || dim.dim_value() <= 0) {
      const std::string what = dim.has_dim_param() ? "'" + dim.dim_param() + "'" : "unknown";
      return Status::InvalidArgument("dynamic input shape: " + label + " dimension " + std::to_string(d) + " is " +
                                     what + "; the engine needs fixed dims (only the batch, dimension 0, may vary)");
    }
    dims.push_back(dim.dim_value());
  }
  if (shape.dim(0).has_dim_value()) batch_ = shape.dim(0).dim_value();
  Activation value;
  value.act = 0;
  value.dims = dims;
  if (dims.size() == 1) {
    value.layout = Layout::kFlat;
    out_.input = {1, 1, static_cast<int>(dims[0])};
  } else {
    // tf2onnx keeps a Keras model's NHWC input and transposes it to NCHW
    // before the first convolution.
    bool nhwc = false;
    for (const auto& node : graph_.node()) {
      if (node.op_type() == "Transpose" && node.input_size() > 0 && node.input(0) == input.name()) {
        nhwc = nhwc || Attributes(node).Ints("perm", {}) == std::vector<int64_t>{0, 3, 1, 2};
      }
    }
    value.layout = nhwc ? Layout::kNHWC : Layout::kNCHW;
    out_.input = nhwc ? ImageShape{static_cast<int>(dims[0]), static_cast<int>(dims[1]), static_cast<int>(dims[2])}
                      : ImageShape{static_cast<int>(dims[1]), static_cast<int>(dims[2]), static_cast<int>(dims[0])};
  }
  shapes_.push_back(out_.input);
  remaining_uses_.push_back(0);
  return Define(input.name(), value);
}

Status GraphTranslator::ReadOutput() {
  if (graph_.output_size() != 1) {
    return Status::InvalidArgument("ONNX model: it has " + std::to_string(graph_.output_size()) +
                                   " outputs; the engine's models have one (the class scores)");
  }
  const std::string& name = graph_.output(0).name();
  const std::string label = "output '" + name + "'";
  const auto it = activations_.find(name);
  if (it == activations_.end()) return Status::InvalidArgument(label + ": a constant, not computed from the input");
  const Activation& out = it->second;
  if (out_.layers.empty()) return Status::InvalidArgument(label + ": the model has no layer the engine runs");
  if (out.act != chain_head()) {
    return Status::InvalidArgument(label + ": not the output of the last layer (the engine's model ends there)");
  }
  const ImageShape& shape = shapes_[out.act];
  if (shape.height != 1 || shape.width != 1) {
    return Status::InvalidArgument(label + ": shape " + DimsText(out.dims) + " is not class scores [batch, classes]");
  }
  if (!out.flat_order.empty()) {
    return Status::InvalidArgument(label + ": its features are a flattened NCHW tensor, not class scores");
  }
  out_.num_classes = shape.channels;
  out_.opset = opset_;
  return Status::Ok();
}

Status GraphTranslator::TranslateNode(const onnx::NodeProto& node) {
  if (!node.domain().empty() && node.domain() != "ai.onnx") {
    return Unsupported("operator domain '" + node.domain() + "' (only the default ONNX domain)");
  }
  // Every activation this node reads is consumed now.
  for (const auto& input : node.input()) {
    const auto it = activations_.find(input);
    if (it != activations_.end()) --remaining_uses_[it->second.act];
  }
  const std::string& op = node.op_type();
  if (op == "Conv") return Conv(node);
  if (op == "Gemm") return Dense(node, true);
  if (op == "MatMul") return Dense(node, false);
  if (op == "Add") return Add(node);
  if (op == "BatchNormalization") return BatchNormalization(node);
  if (op == "Relu") return AppendActivationFunction(node, node.input(0), LayerKind::kRelu);
  if (op == "Clip") return Clip(node);
  if (op == "Min") return MinOrMax(node, true);
  if (op == "Max") return MinOrMax(node, false);
  if (op == "MaxPool") return Pool(node, true);
  if (op == "AveragePool") return Pool(node, false);
  if (op == "GlobalAveragePool") return GlobalAveragePool(node);
  if (op == "Flatten") {
    QATLAB_ASSIGN_OR_RETURN(const Activation in, ActivationInput(node, 0));
    const int64_t axis = Attributes(node).Int("axis", 1);
    const int64_t rank = static_cast<int64_t>(in.dims.size()) + 1;
    if ((axis < 0 ? axis + rank : axis) != 1) {
      return Unsupported("axis " + std::to_string(axis) + " (only 1: [batch, features])");
    }
    return Flatten(node, in);
  }
  if (op == "Reshape") return Reshape(node);
  if (op == "Transpose") return Transpose(node);
  if (op == "Softmax" || op == "LogSoftmax") return Softmax(node);
  if (op == "Identity" || op == "Dropout") return PassThrough(node);
  if (op == "Constant") return Constant(node);
  return Unsupported(
      "unsupported operator (supported: Conv, Gemm, MatMul, Add, BatchNormalization, Relu, Clip, Min, Max, "
      "MaxPool, AveragePool, GlobalAveragePool, Flatten, Reshape, Transpose at the input, Identity, Dropout, "
      "a trailing Softmax or LogSoftmax, Constant)");
}

StatusOr<Activation> GraphTranslator::ActivationInput(const onnx::NodeProto& node, int input) const {
  if (input >= node.input_size() || node.input(input).empty()) {
    return Unsupported("input " + std::to_string(input) + " is missing");
  }
  const auto it = activations_.find(node.input(input));
  if (it == activations_.end()) {
    return Unsupported("input '" + node.input(input) +
                       "' is a constant where the engine needs a tensor computed from the model input");
  }
  return it->second;
}

const onnx::TensorProto* GraphTranslator::ConstantNamed(const std::string& name) const {
  const auto it = constants_.find(name);
  return it == constants_.end() ? nullptr : it->second;
}

StatusOr<std::vector<float>> GraphTranslator::FloatConstant(const onnx::NodeProto& node, int input, int64_t count,
                                                            std::vector<int64_t>* dims) const {
  const std::string& name = input < node.input_size() ? node.input(input) : std::string();
  const onnx::TensorProto* tensor = name.empty() ? nullptr : ConstantNamed(name);
  if (tensor == nullptr) {
    return Unsupported("input " + std::to_string(input) + (name.empty() ? "" : " '" + name + "'") +
                       " is not a constant (an initializer or Constant node)");
  }
  if (tensor->data_location() == onnx::TensorProto::EXTERNAL) {
    return Unsupported("initializer '" + name + "' keeps its data in an external file");
  }
  if (tensor->data_type() != onnx::TensorProto::FLOAT) {
    return Unsupported("initializer '" + name + "' is not float32");
  }
  std::vector<float> values;
  try {
    values = onnx::ParseData<float>(tensor);
  } catch (const std::exception& e) {
    return Unsupported("initializer '" + name + "': " + e.what());
  }
  const std::vector<int64_t> shape(tensor->dims().begin(), tensor->dims().end());
  if (static_cast<int64_t>(values.size()) != Product(shape)) {
    return Unsupported("initializer '" + name + "' holds " + std::to_string(values.size()) + " values for shape " +
                       DimsText(shape));
  }
  if (count >= 0 && static_cast<int64_t>(values.size()) != count) {
    return Unsupported("initializer '" + name + "' has " + std::to_string(values.size()) + " values, expected " +
                       std::to_string(count));
  }
  if (dims != nullptr) *dims = shape;
  return values;
}

StatusOr<std::vector<int64_t>> GraphTranslator::Int64Constant(const onnx::NodeProto& node, int input) const {
  const std::string& name = input < node.input_size() ? node.input(input) : std::string();
  const onnx::TensorProto* tensor = name.empty() ? nullptr : ConstantNamed(name);
  if (tensor == nullptr) {
    return Unsupported("input " + std::to_string(input) + (name.empty() ? "" : " '" + name + "'") +
                       " is not a constant (an initializer or Constant node)");
  }
  if (tensor->data_type() != onnx::TensorProto::INT64 || tensor->data_location() == onnx::TensorProto::EXTERNAL) {
    return Unsupported("constant '" + name + "' is not an int64 tensor");
  }
  try {
    const std::vector<long> values = onnx::ParseData<long>(tensor);  // NOLINT(google-runtime-int): ONNX's type
    return std::vector<int64_t>(values.begin(), values.end());
  } catch (const std::exception& e) {
    return Unsupported("constant '" + name + "': " + e.what());
  }
}

Status GraphTranslator::OptionalScalar(const onnx::NodeProto& node, int input, bool* present, float* value) const {
  *present = input < node.input_size() && !node.input(input).empty();
  if (!*present) return Status::Ok();
  QATLAB_ASSIGN_OR_RETURN(const std::vector<float> values, FloatConstant(node, input, 1));
  *value = values[0];
  return Status::Ok();
}

Status GraphTranslator::RequireChainHead(const Activation& in, const std::string& name) const {
  if (in.act == chain_head()) return Status::Ok();
  return Unsupported("input '" + name +
                     "' is not the output of the layer just before; the engine runs its layers in one chain, "
                     "where only an Add may read an earlier tensor");
}

Status GraphTranslator::RequireOnlyConsumer(const Activation& in, const std::string& name,
                                            const std::string& why) const {
  if (remaining_uses_[in.act] == 0) return Status::Ok();
  return Unsupported("input '" + name + "' is also used elsewhere, but " + why +
                     ", so that tensor does not exist on its own in the engine");
}

LayerConfig GraphTranslator::NewLayer(LayerKind kind) const {
  LayerConfig config;
  config.kind = kind;
  return config;
}

int GraphTranslator::AppendLayer(LayerConfig config, LayerWeights weights, const ImageShape& shape) {
  out_.layers.push_back(std::move(config));
  out_.weights.push_back(std::move(weights));
  shapes_.push_back(shape);
  remaining_uses_.push_back(0);
  return chain_head();
}

Status GraphTranslator::Define(const std::string& name, const Activation& value) {
  activations_[name] = value;
  const auto uses = uses_.find(name);
  if (uses != uses_.end()) remaining_uses_[value.act] += uses->second;
  // Shape inference's view, when it has a static one, must agree with ours.
  const auto it = inferred_.find(name);
  if (it == inferred_.end() || !it->second->has_tensor_type() || !it->second->tensor_type().has_shape()) {
    return Status::Ok();
  }
  const auto& shape = it->second->tensor_type().shape();
  std::vector<int64_t> inferred;
  for (int d = 1; d < shape.dim_size(); ++d) {
    if (!shape.dim(d).has_dim_value()) return Status::Ok();
    inferred.push_back(shape.dim(d).dim_value());
  }
  if (inferred != value.dims) {
    return Unsupported("output '" + name + "': shape inference gives " + DimsText(inferred) +
                       " per sample, the import " + DimsText(value.dims));
  }
  return Status::Ok();
}

Status GraphTranslator::Conv(const onnx::NodeProto& node) {
  QATLAB_ASSIGN_OR_RETURN(const Activation in, ActivationInput(node, 0));
  if (in.layout != Layout::kNCHW) return Unsupported("input '" + node.input(0) + "' is not an NCHW image tensor");
  QATLAB_RETURN_IF_ERROR(RequireChainHead(in, node.input(0)));
  std::vector<int64_t> wdims;
  QATLAB_ASSIGN_OR_RETURN(const std::vector<float> w, FloatConstant(node, 1, -1, &wdims));
  if (wdims.size() != 4) return Unsupported("weights of shape " + DimsText(wdims) + " (only 2-D convolutions)");
  const Attributes attributes(node);
  const int64_t out_channels = wdims[0], group_channels = wdims[1], kernel = wdims[2];
  const int64_t channels = in.dims[0], height = in.dims[1], width = in.dims[2];
  if (wdims[2] != wdims[3]) {
    return Unsupported("kernel " + std::to_string(wdims[2]) + "x" + std::to_string(wdims[3]) +
                       " is not square (the engine's kernels are)");
  }
  for (int64_t d : attributes.Ints("dilations", {1, 1})) {
    if (d != 1) return Unsupported("dilations " + DimsText(attributes.Ints("dilations", {})) + " (only 1)");
  }
  const std::vector<int64_t> strides = attributes.Ints("strides", {1, 1});
  if (strides.size() != 2 || strides[0] != strides[1]) {
    return Unsupported("strides " + DimsText(strides) + " differ along height and width");
  }
  const int64_t stride = strides[0];
  if (stride < 1 || kernel < 1) return Unsupported("strides " + DimsText(strides) + " with kernel " + DimsText(wdims));
  int64_t padding = 0;
  const std::string auto_pad = attributes.String("auto_pad", "NOTSET");
  if (auto_pad == "NOTSET") {
    const std::vector<int64_t> pads = attributes.Ints("pads", {0, 0, 0, 0});
    if (pads.size() != 4 || pads[0] != pads[1] || pads[0] != pads[2] || pads[0] != pads[3]) {
      return Unsupported("pads " + DimsText(pads) + " are not the same on every side");
    }
    padding = pads[0];
  } else if (auto_pad == "SAME_UPPER" || auto_pad == "SAME_LOWER") {
    int64_t totals[2];
    const int64_t sizes[2] = {height, width};
    for (int axis = 0; axis < 2; ++axis) {
      const int64_t out = (sizes[axis] + stride - 1) / stride;
      totals[axis] = std::max<int64_t>((out - 1) * stride + kernel - sizes[axis], 0);
    }
    if (totals[0] != totals[1] || totals[0] % 2 != 0) {
      return Unsupported("auto_pad " + auto_pad + " pads unevenly here (the engine pads every side alike)");
    }
    padding = totals[0] / 2;
  } else if (auto_pad != "VALID") {
    return Unsupported("auto_pad '" + auto_pad + "'");
  }
  if (padding >= kernel) {
    return Unsupported("padding " + std::to_string(padding) + " is not smaller than kernel " + std::to_string(kernel));
  }
  const int64_t group = attributes.Int("group", 1);
  const bool depthwise = group != 1 && group == channels;
  if (group != 1 && !depthwise) {
    return Unsupported("group " + std::to_string(group) + " (only 1, or the " + std::to_string(channels) +
                       " input channels for a depthwise convolution)");
  }
  if (depthwise && out_channels != channels) {
    return Unsupported("a depthwise convolution with channel multiplier " + std::to_string(out_channels / channels) +
                       " (only 1)");
  }
  std::vector<float> bias(out_channels, 0.0f);
  if (node.input_size() > 2 && !node.input(2).empty()) {
    QATLAB_ASSIGN_OR_RETURN(bias, FloatConstant(node, 2, out_channels));
  }
  LayerConfig config = NewLayer(depthwise ? LayerKind::kDepthwiseConv2D : LayerKind::kConv2D);
  config.name = node.name();
  config.convolution.filters = depthwise ? 0 : static_cast<int>(out_channels);
  config.convolution.kernel = static_cast<int>(kernel);
  config.convolution.stride = static_cast<int>(stride);
  config.convolution.padding = static_cast<int>(padding);
  LayerWeights weights;
  weights.bias = bias;
  weights.weights.resize(w.size());
  const int64_t taps = kernel * kernel;
  for (int64_t o = 0; o < out_channels; ++o) {
    for (int64_t i = 0; i < group_channels; ++i) {
      for (int64_t t = 0; t < taps; ++t) {
        const float value = w[(o * group_channels + i) * taps + t];
        // conv2d [filters][kh][kw][Cin]; depthwise [kh][kw][C] (i is 0).
        const int64_t at = depthwise ? t * channels + o : (o * taps + t) * group_channels + i;
        weights.weights[at] = value;
      }
    }
  }
  const int out_h = WindowOutputSize(static_cast<int>(height), config.convolution.kernel, config.convolution.stride,
                                     config.convolution.padding);
  const int out_w = WindowOutputSize(static_cast<int>(width), config.convolution.kernel, config.convolution.stride,
                                     config.convolution.padding);
  Activation out;
  out.act = AppendLayer(std::move(config), std::move(weights), {out_h, out_w, static_cast<int>(out_channels)});
  out.dims = {out_channels, out_h, out_w};
  return Define(node.output(0), out);
}

Status GraphTranslator::Dense(const onnx::NodeProto& node, bool gemm) {
  QATLAB_ASSIGN_OR_RETURN(const Activation in, ActivationInput(node, 0));
  if (in.layout != Layout::kFlat) {
    return Unsupported("input '" + node.input(0) + "' is not 2-D [batch, features] (flatten it first)");
  }
  QATLAB_RETURN_IF_ERROR(RequireChainHead(in, node.input(0)));
  const Attributes attributes(node);
  bool transposed = false;
  if (gemm) {
    if (attributes.Int("transA", 0) != 0) return Unsupported("transA 1 (only 0)");
    if (attributes.Float("alpha", 1.0f) != 1.0f || attributes.Float("beta", 1.0f) != 1.0f) {
      return Unsupported("alpha " + NumberText(attributes.Float("alpha", 1.0f)) + ", beta " +
                         NumberText(attributes.Float("beta", 1.0f)) + " (only 1 and 1)");
    }
    transposed = attributes.Int("transB", 0) != 0;
  }
  std::vector<int64_t> bdims;
  QATLAB_ASSIGN_OR_RETURN(const std::vector<float> b, FloatConstant(node, 1, -1, &bdims));
  if (bdims.size() != 2) return Unsupported("weights of shape " + DimsText(bdims) + " (only 2-D)");
  const int64_t inputs = transposed ? bdims[1] : bdims[0];
  const int64_t units = transposed ? bdims[0] : bdims[1];
  if (inputs != in.dims[0]) {
    return Unsupported("weights of shape " + DimsText(bdims) + " do not take " + std::to_string(in.dims[0]) +
                       " features");
  }
  LayerWeights weights;
  weights.bias.assign(units, 0.0f);
  if (gemm && node.input_size() > 2 && !node.input(2).empty()) {
    std::vector<int64_t> cdims;
    QATLAB_ASSIGN_OR_RETURN(const std::vector<float> c, FloatConstant(node, 2, -1, &cdims));
    if (c.size() == 1) {
      weights.bias.assign(units, c[0]);
    } else if (static_cast<int64_t>(c.size()) == units && cdims.back() == units) {
      weights.bias = c;
    } else {
      return Unsupported("bias of shape " + DimsText(cdims) + " is not one value per unit (" + std::to_string(units) +
                         ")");
    }
  }
  // [units][inputs], inputs in the engine's order.
  weights.weights.resize(units * inputs);
  for (int64_t k = 0; k < inputs; ++k) {
    const int64_t column = in.flat_order.empty() ? k : in.flat_order[k];
    for (int64_t u = 0; u < units; ++u) {
      weights.weights[u * inputs + column] = transposed ? b[u * inputs + k] : b[k * units + u];
    }
  }
  LayerConfig config = NewLayer(LayerKind::kDense);
  config.name = node.name();
  config.dense.units = static_cast<int>(units);
  Activation out;
  out.act = AppendLayer(std::move(config), std::move(weights), {1, 1, static_cast<int>(units)});
  out.layout = Layout::kFlat;
  out.dims = {units};
  return Define(node.output(0), out);
}

Status GraphTranslator::Add(const onnx::NodeProto& node) {
  const bool first = activations_.count(node.input(0)) > 0;
  const bool second = activations_.count(node.input(1)) > 0;
  if (first && second) {
    // A residual connection: one side is the chain, the other an earlier
    // tensor of the engine's model.
    const Activation a = activations_.at(node.input(0));
    const Activation b = activations_.at(node.input(1));
    const bool a_is_head = a.act == chain_head();
    const Activation& head = a_is_head ? a : b;
    const Activation& earlier = a_is_head ? b : a;
    const std::string& earlier_name = a_is_head ? node.input(1) : node.input(0);
    QATLAB_RETURN_IF_ERROR(RequireChainHead(head, a_is_head ? node.input(0) : node.input(1)));
    if (head.layout != earlier.layout || head.dims != earlier.dims || head.flat_order != earlier.flat_order) {
      return Unsupported("adds tensors of different shapes or layouts (" + DimsText(head.dims) + " and " +
                         DimsText(earlier.dims) + "); the engine adds equal shapes only");
    }
    if (earlier.act == 0) return Unsupported("adds the model input '" + earlier_name + "' (the engine cannot)");
    const int from_layer = earlier.act - 1;
    if (from_layer + 1 < chain_head() && ContinuesFusedGroup(out_.layers[from_layer + 1].kind)) {
      return Unsupported("adds '" + earlier_name + "', which the engine fuses into the " +
                         LayerKindName(out_.layers[from_layer + 1].kind) + " after it");
    }
    LayerConfig config = NewLayer(LayerKind::kAdd);
    config.name = node.name();
    config.add.from = earlier_name;
    config.add.from_layer = from_layer;
    Activation out = head;
    out.act = AppendLayer(std::move(config), LayerWeights(), shapes_[head.act]);
    return Define(node.output(0), out);
  }
  if (!first && !second) return Unsupported("adds two constants");
  // A constant added to a Conv/Gemm/MatMul output is its bias (MatMul + Add
  // is how many exporters write a dense layer).
  const int variable = first ? 0 : 1;
  QATLAB_ASSIGN_OR_RETURN(const Activation in, ActivationInput(node, variable));
  QATLAB_RETURN_IF_ERROR(RequireChainHead(in, node.input(variable)));
  if (out_.layers.empty() || !IsWeighted(last_kind())) {
    return Unsupported(
        "adds a constant to a tensor that is not a Conv, Gemm or MatMul output (only a bias can be "
        "added)");
  }
  QATLAB_RETURN_IF_ERROR(RequireOnlyConsumer(in, node.input(variable), "the constant becomes the layer's bias"));
  std::vector<int64_t> cdims;
  QATLAB_ASSIGN_OR_RETURN(const std::vector<float> c, FloatConstant(node, 1 - variable, -1, &cdims));
  // Right-aligned against [batch, dims...], only the channel axis (1) may
  // hold more than one value.
  const int64_t rank = static_cast<int64_t>(in.dims.size()) + 1;
  const int64_t channels = in.dims[0];
  bool per_channel = static_cast<int64_t>(cdims.size()) <= rank;
  for (size_t j = 0; per_channel && j < cdims.size(); ++j) {
    const int64_t axis = rank - static_cast<int64_t>(cdims.size()) + static_cast<int64_t>(j);
    if (cdims[j] != 1 && !(axis == 1 && cdims[j] == channels)) per_channel = false;
  }
  if (!per_channel) {
    return Unsupported("adds a constant of shape " + DimsText(cdims) + " to " + DimsText(in.dims) +
                       ": only one value per channel can become a bias");
  }
  std::vector<float>& bias = out_.weights.back().bias;
  for (int64_t k = 0; k < channels; ++k) bias[k] += c.size() == 1 ? c[0] : c[k];
  return Define(node.output(0), in);
}

Status GraphTranslator::BatchNormalization(const onnx::NodeProto& node) {
  QATLAB_ASSIGN_OR_RETURN(const Activation in, ActivationInput(node, 0));
  QATLAB_RETURN_IF_ERROR(RequireChainHead(in, node.input(0)));
  if (out_.layers.empty() || !IsWeighted(last_kind())) {
    return Unsupported("does not directly follow a Conv, Gemm or MatMul (the engine folds batchnorm into it)");
  }
  QATLAB_RETURN_IF_ERROR(RequireOnlyConsumer(in, node.input(0), "the engine folds batchnorm into that layer"));
  if (in.layout == Layout::kNHWC) return Unsupported("input '" + node.input(0) + "' is NHWC, not NCHW");
  const Attributes attributes(node);
  if (attributes.Int("training_mode", 0) != 0) return Unsupported("training_mode 1 (only inference)");
  for (int o = 1; o < node.output_size(); ++o) {
    if (!node.output(o).empty() && uses_.count(node.output(o))) {
      return Unsupported("output '" + node.output(o) + "' (running statistics) is used; only the normalized output is");
    }
  }
  const int64_t channels = in.dims[0];
  LayerWeights weights;
  QATLAB_ASSIGN_OR_RETURN(weights.gamma, FloatConstant(node, 1, channels));
  QATLAB_ASSIGN_OR_RETURN(weights.beta, FloatConstant(node, 2, channels));
  QATLAB_ASSIGN_OR_RETURN(weights.running_mean, FloatConstant(node, 3, channels));
  QATLAB_ASSIGN_OR_RETURN(weights.running_var, FloatConstant(node, 4, channels));
  LayerConfig config = NewLayer(LayerKind::kBatchNorm);
  config.name = node.name();
  config.batch_norm.epsilon = attributes.Float("epsilon", 1e-5f);
  if (!(config.batch_norm.epsilon >= 0)) return Unsupported("epsilon " + NumberText(config.batch_norm.epsilon));
  Activation out = in;
  out.act = AppendLayer(std::move(config), std::move(weights), shapes_[in.act]);
  return Define(node.output(0), out);
}

Status GraphTranslator::AppendActivationFunction(const onnx::NodeProto& node, const std::string& input,
                                                 LayerKind kind) {
  const auto it = activations_.find(input);
  if (it == activations_.end()) return Unsupported("input '" + input + "' is a constant");
  const Activation in = it->second;
  QATLAB_RETURN_IF_ERROR(RequireChainHead(in, input));
  const bool fusable = !out_.layers.empty() && (IsWeighted(last_kind()) || last_kind() == LayerKind::kBatchNorm ||
                                                last_kind() == LayerKind::kAdd);
  if (!fusable) {
    return Unsupported(std::string("does not directly follow a Conv, Gemm, MatMul, BatchNormalization or Add (the "
                                   "engine fuses ") +
                       LayerKindName(kind) + " into that layer)");
  }
  QATLAB_RETURN_IF_ERROR(
      RequireOnlyConsumer(in, input, std::string("the engine fuses ") + LayerKindName(kind) + " into that layer"));
  LayerConfig config = NewLayer(kind);
  config.name = node.name();
  Activation out = in;
  out.act = AppendLayer(std::move(config), LayerWeights(), shapes_[in.act]);
  return Define(node.output(0), out);
}

Status GraphTranslator::CapRelu(const onnx::NodeProto& node, const std::string& input) {
  const auto it = activations_.find(input);
  if (it == activations_.end()) return Unsupported("input '" + input + "' is a constant");
  const Activation in = it->second;
  if (in.act != chain_head() || out_.layers.empty() || last_kind() != LayerKind::kRelu) {
    return Unsupported("clips at 6 a tensor that is not a Relu's output (the engine has Relu and Relu6 only)");
  }
  QATLAB_RETURN_IF_ERROR(RequireOnlyConsumer(in, input, "Relu followed by a cap at 6 is one Relu6 in the engine"));
  out_.layers.back().kind = LayerKind::kRelu6;
  return Define(node.output(0), in);
}

Status GraphTranslator::Clip(const onnx::NodeProto& node) {
  bool has_min = false, has_max = false;
  float min = 0, max = 0;
  QATLAB_RETURN_IF_ERROR(OptionalScalar(node, 1, &has_min, &min));
  QATLAB_RETURN_IF_ERROR(OptionalScalar(node, 2, &has_max, &max));
  if (has_min && min == 0.0f && has_max && max == 6.0f) {
    return AppendActivationFunction(node, node.input(0), LayerKind::kRelu6);
  }
  if (has_min && min == 0.0f && (!has_max || std::isinf(max))) {
    return AppendActivationFunction(node, node.input(0), LayerKind::kRelu);
  }
  if (has_max && max == 6.0f && (!has_min || min <= 0.0f)) return CapRelu(node, node.input(0));
  return Unsupported("Clip(min " + (has_min ? NumberText(min) : std::string("none")) + ", max " +
                     (has_max ? NumberText(max) : std::string("none")) +
                     "): the engine has Relu (0, +inf) and Relu6 (0, 6) only");
}

Status GraphTranslator::MinOrMax(const onnx::NodeProto& node, bool min) {
  if (node.input_size() != 2) return Unsupported(std::to_string(node.input_size()) + " inputs (only 2)");
  const int variable = activations_.count(node.input(0)) ? 0 : 1;
  const onnx::TensorProto* constant = ConstantNamed(node.input(1 - variable));
  std::vector<float> values;
  if (constant != nullptr) {
    QATLAB_ASSIGN_OR_RETURN(values, FloatConstant(node, 1 - variable, 1));
  }
  if (min && values.size() == 1 && values[0] == 6.0f) return CapRelu(node, node.input(variable));
  if (!min && values.size() == 1 && values[0] == 0.0f) {
    return AppendActivationFunction(node, node.input(variable), LayerKind::kRelu);
  }
  return Unsupported(std::string("only ") + (min ? "Min(Relu output, 6) (a Relu6)" : "Max(x, 0) (a Relu)"));
}

Status GraphTranslator::Pool(const onnx::NodeProto& node, bool max) {
  QATLAB_ASSIGN_OR_RETURN(const Activation in, ActivationInput(node, 0));
  if (in.layout != Layout::kNCHW) return Unsupported("input '" + node.input(0) + "' is not an NCHW image tensor");
  QATLAB_RETURN_IF_ERROR(RequireChainHead(in, node.input(0)));
  const Attributes attributes(node);
  const std::vector<int64_t> kernel = attributes.Ints("kernel_shape", {});
  if (kernel.size() != 2 || kernel[0] != kernel[1]) {
    return Unsupported("kernel_shape " + DimsText(kernel) + " (only square 2-D windows)");
  }
  const int64_t pool = kernel[0];
  if (pool < 1) return Unsupported("kernel_shape " + DimsText(kernel));
  const std::vector<int64_t> strides = attributes.Ints("strides", {1, 1});
  if (strides != kernel) {
    return Unsupported("strides " + DimsText(strides) + " differ from kernel_shape " + DimsText(kernel) +
                       " (the engine's pools have window = stride)");
  }
  for (int64_t p : attributes.Ints("pads", {0, 0, 0, 0})) {
    if (p != 0)
      return Unsupported("pads " + DimsText(attributes.Ints("pads", {})) + " (the engine's pools do not pad)");
  }
  for (int64_t d : attributes.Ints("dilations", {1, 1})) {
    if (d != 1) return Unsupported("dilations " + DimsText(attributes.Ints("dilations", {})) + " (only 1)");
  }
  const bool divisible = in.dims[1] % pool == 0 && in.dims[2] % pool == 0;
  const std::string auto_pad = attributes.String("auto_pad", "NOTSET");
  if (auto_pad != "NOTSET" && auto_pad != "VALID" && !divisible) {
    return Unsupported("auto_pad " + auto_pad + " pads here (the engine's pools do not pad)");
  }
  if (attributes.Int("ceil_mode", 0) != 0 && !divisible) {
    return Unsupported("ceil_mode 1 on " + DimsText(in.dims) + " (the engine's pools round down)");
  }
  if (attributes.Int("storage_order", 0) != 0) return Unsupported("storage_order 1");
  if (node.output_size() > 1 && !node.output(1).empty() && uses_.count(node.output(1))) {
    return Unsupported("output '" + node.output(1) + "' (indices) is used");
  }
  if (pool > in.dims[1] || pool > in.dims[2]) {
    return Unsupported("window " + std::to_string(pool) + " does not fit " + DimsText(in.dims));
  }
  LayerConfig config = NewLayer(max ? LayerKind::kMaxPool : LayerKind::kAvgPool);
  config.name = node.name();
  config.pool.pool = static_cast<int>(pool);
  const ImageShape& s = shapes_[in.act];
  Activation out = in;
  out.act = AppendLayer(std::move(config), LayerWeights(),
                        {s.height / static_cast<int>(pool), s.width / static_cast<int>(pool), s.channels});
  out.dims = {in.dims[0], in.dims[1] / pool, in.dims[2] / pool};
  return Define(node.output(0), out);
}

Status GraphTranslator::GlobalAveragePool(const onnx::NodeProto& node) {
  QATLAB_ASSIGN_OR_RETURN(const Activation in, ActivationInput(node, 0));
  if (in.layout != Layout::kNCHW) return Unsupported("input '" + node.input(0) + "' is not an NCHW image tensor");
  QATLAB_RETURN_IF_ERROR(RequireChainHead(in, node.input(0)));
  LayerConfig config = NewLayer(LayerKind::kGlobalAvgPool);
  config.name = node.name();
  Activation out = in;
  out.act = AppendLayer(std::move(config), LayerWeights(), {1, 1, static_cast<int>(in.dims[0])});
  out.dims = {in.dims[0], 1, 1};
  return Define(node.output(0), out);
}

Status GraphTranslator::Flatten(const onnx::NodeProto& node, const Activation& in) {
  if (in.layout == Layout::kFlat) return Define(node.output(0), in);  // already [batch, features]
  QATLAB_RETURN_IF_ERROR(RequireChainHead(in, node.input(0)));
  Activation out;
  out.layout = Layout::kFlat;
  out.dims = {Product(in.dims)};
  if (in.layout == Layout::kNCHW && in.dims[1] * in.dims[2] > 1) {
    // ONNX feature (c, y, x) is at (c * H + y) * W + x; the engine's at
    // (y * W + x) * C + c.
    const int64_t channels = in.dims[0], height = in.dims[1], width = in.dims[2];
    out.flat_order.resize(out.dims[0]);
    for (int64_t c = 0; c < channels; ++c) {
      for (int64_t y = 0; y < height; ++y) {
        for (int64_t x = 0; x < width; ++x) {
          out.flat_order[(c * height + y) * width + x] = static_cast<int>((y * width + x) * channels + c);
        }
      }
    }
  }
  LayerConfig config = NewLayer(LayerKind::kFlatten);
  config.name = node.name();
  out.act = AppendLayer(std::move(config), LayerWeights(), {1, 1, static_cast<int>(out.dims[0])});
  return Define(node.output(0), out);
}

Status GraphTranslator::Reshape(const onnx::NodeProto& node) {
  QATLAB_ASSIGN_OR_RETURN(const Activation in, ActivationInput(node, 0));
  QATLAB_ASSIGN_OR_RETURN(const std::vector<int64_t> shape, Int64Constant(node, 1));
  const int64_t features = Product(in.dims);
  const bool allow_zero = Attributes(node).Int("allowzero", 0) != 0;
  // Only a flatten: [batch, features], the batch copied (0), inferred (-1)
  // or given, the features given or inferred.
  bool flatten = shape.size() == 2;
  if (flatten) {
    const bool batch_ok = (shape[0] == 0 && !allow_zero) || (shape[0] == -1 && shape[1] == features) ||
                          (batch_ != 0 && shape[0] == batch_);
    flatten = batch_ok && (shape[1] == features || (shape[1] == -1 && shape[0] != -1));
  }
  if (!flatten) {
    return Unsupported("reshapes " + DimsText(in.dims) + " to " + DimsText(shape) +
                       " (only to [batch, features], a flatten)");
  }
  return Flatten(node, in);
}

Status GraphTranslator::Transpose(const onnx::NodeProto& node) {
  QATLAB_ASSIGN_OR_RETURN(const Activation in, ActivationInput(node, 0));
  const std::vector<int64_t> perm = Attributes(node).Ints("perm", {});
  Activation out = in;
  if (in.layout == Layout::kNHWC && perm == std::vector<int64_t>{0, 3, 1, 2}) {
    out.layout = Layout::kNCHW;
    out.dims = {in.dims[2], in.dims[0], in.dims[1]};
  } else if (in.layout == Layout::kNCHW && perm == std::vector<int64_t>{0, 2, 3, 1}) {
    out.layout = Layout::kNHWC;
    out.dims = {in.dims[1], in.dims[2], in.dims[0]};
  } else {
    return Unsupported("perm " + DimsText(perm) +
                       " (only NHWC to NCHW, [0, 3, 1, 2], and back, [0, 2, 3, 1], as tf2onnx writes them)");
  }
  return Define(node.output(0), out);
}

Status GraphTranslator::Softmax(const onnx::NodeProto& node) {
  QATLAB_ASSIGN_OR_RETURN(const Activation in, ActivationInput(node, 0));
  bool trailing = false;
  for (const auto& output : graph_.output()) trailing = trailing || output.name() == node.output(0);
  if (!trailing || uses_[node.output(0)] != 1) {
    return Unsupported("is not the model's last operation (only a trailing Softmax/LogSoftmax is dropped)");
  }
  const int64_t axis = Attributes(node).Int("axis", opset_ < 13 ? 1 : -1);
  if (in.layout != Layout::kFlat || (axis != 1 && axis != -1)) {
    return Unsupported("axis " + std::to_string(axis) + " of " + DimsText(in.dims) +
                       " (only over the classes of [batch, classes])");
  }
  // Dropped: the argmax, and so the accuracy, is the same without it.
  return Define(node.output(0), in);
}

Status GraphTranslator::PassThrough(const onnx::NodeProto& node) {
  if (node.op_type() == "Dropout") {
    bool training = false;
    if (node.input_size() > 2 && !node.input(2).empty()) {
      const onnx::TensorProto* mode = ConstantNamed(node.input(2));
      if (mode == nullptr) return Unsupported("training_mode is not a constant");
      if (mode->data_type() != onnx::TensorProto::BOOL) return Unsupported("training_mode is not a bool");
      training = mode->has_raw_data() ? !mode->raw_data().empty() && mode->raw_data()[0] != 0
                                      : mode->int32_data_size() > 0 && mode->int32_data(0) != 0;
    }
    if (training) return Unsupported("training_mode true (only inference, where Dropout passes its input)");
    if (node.output_size() > 1 && !node.output(1).empty() && uses_.count(node.output(1))) {
      return Unsupported("output '" + node.output(1) + "' (mask) is used");
    }
  }
  if (const onnx::TensorProto* constant = ConstantNamed(node.input(0))) {
    constants_[node.output(0)] = constant;
    return Status::Ok();
  }
  QATLAB_ASSIGN_OR_RETURN(const Activation in, ActivationInput(node, 0));
  return Define(node.output(0), in);
}

Status GraphTranslator::Constant(const onnx::NodeProto& node) {
  const Attributes attributes(node);
  onnx::TensorProto value;
  if (const auto* a = attributes.Find("value")) {
    value = a->t();
  } else if (const auto* f = attributes.Find("value_float")) {
    value.set_data_type(onnx::TensorProto::FLOAT);
    value.add_float_data(f->f());
  } else if (const auto* fs = attributes.Find("value_floats")) {
    value.set_data_type(onnx::TensorProto::FLOAT);
    value.add_dims(fs->floats_size());
    for (float v : fs->floats()) value.add_float_data(v);
  } else if (const auto* i = attributes.Find("value_int")) {
    value.set_data_type(onnx::TensorProto::INT64);
    value.add_int64_data(i->i());
  } else if (const auto* is = attributes.Find("value_ints")) {
    value.set_data_type(onnx::TensorProto::INT64);
    value.add_dims(is->ints_size());
    for (int64_t v : is->ints()) value.add_int64_data(v);
  } else {
    const std::vector<std::string> names = attributes.Names();
    return Unsupported("attribute '" + (names.empty() ? std::string("?") : names[0]) +
                       "' (only value, value_float(s), value_int(s))");
  }
  value.set_name(node.output(0));
  constant_storage_.push_back(std::move(value));
  constants_[node.output(0)] = &constant_storage_.back();
  return Status::Ok();
}

}  // namespace

StatusOr<ImportedModel> TranslateOnnxGraph(const CheckedOnnxModel& model) {
  GraphTranslator translator(model);
  return translator.Translate();
}

}  // namespace qatlab
