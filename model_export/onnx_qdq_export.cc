#include "model_export/onnx_qdq_export.h"

#include <onnx/checker.h>
#include <onnx/onnx_pb.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

#include "qatlab_kernels/kernels.h"
#include "qatlab_kernels/qmodel.h"
#include "qatlab_kernels/qmodel_format.h"

namespace qatlab {
namespace {

// Opset 13: the first with per-axis QuantizeLinear/DequantizeLinear and
// integer Clip; every onnxruntime QDQ fusion used here accepts it.
constexpr int64_t kOpset = 13;
constexpr int64_t kIrVersion = 7;  // the IR version of opset 13

// Activations are uint8 in the ONNX model: q_u8 = q_s8 + 128 with zero point
// z + 128 is the same real value, and onnxruntime fuses QDQ Conv and MatMul
// with int8 activations only on ARM (its QDQIsInt8Allowed), so int8 there
// would leave float convolutions on x86. Weights stay int8 (U8S8, the form
// its integer kernels are written for).
constexpr int32_t kActivationOffset = 128;

// A little-endian int32 of a data block (bias, multipliers, shifts).
int32_t ReadI32(const uint8_t* at) {
  int32_t value = 0;
  std::memcpy(&value, at, sizeof value);
  return value;
}

// One tensor record of the .qmodel (an NHWC activation, N = 1).
struct TensorRecord {
  int64_t height = 0, width = 0, channels = 0;
  int32_t zero_point = 0;
  float scale = 0;
  int64_t size() const { return height * width * channels; }
};

// One op record, with its data blocks as pointers into the file.
struct OpRecord {
  uint32_t kind = 0;
  uint32_t input = 0, input2 = 0, output = 0;
  int64_t kernel_h = 0, kernel_w = 0, stride = 0, padding = 0;
  int32_t weight_bits = 0;
  int32_t act_min = -128, act_max = 127;
  uint32_t channel_count = 0;
  const uint8_t* weights = nullptr;
  const uint8_t* bias = nullptr;
  const uint8_t* multiplier = nullptr;
  const uint8_t* shift = nullptr;
};

// The kernels' reader parses the records (qk_model_tensor_record,
// qk_model_op_record); these views add the types the graph wants. The index
// is in range: the caller walks the opened model's counts.
TensorRecord ReadTensor(const qk_model& model, uint32_t index) {
  qk_tensor_record record{};
  qk_model_tensor_record(&model, index, &record);
  TensorRecord t;
  t.height = record.height;
  t.width = record.width;
  t.channels = record.channels;
  t.zero_point = record.zero_point;
  t.scale = std::bit_cast<float>(record.scale_bits);
  return t;
}

OpRecord ReadOp(const qk_model& model, uint32_t index) {
  qk_op_record record{};
  qk_model_op_record(&model, index, &record);
  auto block = [&](uint32_t offset) { return offset == 0 ? nullptr : model.base + offset; };
  OpRecord op;
  op.kind = record.kind;
  op.input = record.input;
  op.input2 = record.input2;
  op.output = record.output;
  op.kernel_h = record.kernel_h;
  op.kernel_w = record.kernel_w;
  op.stride = record.stride;
  op.padding = record.padding;
  op.weight_bits = static_cast<int32_t>(record.weight_bits);
  op.act_min = record.act_min;
  op.act_max = record.act_max;
  op.channel_count = record.channel_count;
  op.weights = block(record.weights_offset);
  op.bias = block(record.bias_offset);
  op.multiplier = block(record.multiplier_offset);
  op.shift = block(record.shift_offset);
  return op;
}

template <typename T>
std::string RawBytes(const std::vector<T>& values) {
  std::string raw(values.size() * sizeof(T), '\0');
  if (!values.empty()) std::memcpy(raw.data(), values.data(), raw.size());
  return raw;
}

// Builds the QDQ graph of an opened .qmodel. Tensor t of the .qmodel is the
// uint8 value "t<t>" with initializers "t<t>.scale" and "t<t>.zero_point";
// each op reads it through its own DequantizeLinear (onnxruntime groups a DQ
// with the one node it feeds) and ends in a QuantizeLinear writing its
// output tensor.
class QdqGraphBuilder {
 public:
  QdqGraphBuilder(const qk_model& model, onnx::GraphProto* graph) : model_(model), graph_(graph) {
    for (uint32_t t = 0; t < model.tensor_count; ++t) tensors_.push_back(ReadTensor(model, t));
    spatial_.assign(tensors_.size(), false);
  }

  Status Build() {
    for (size_t t = 0; t < tensors_.size(); ++t) {
      AddInitializer(ScaleName(t), onnx::TensorProto::FLOAT, {}, RawBytes(std::vector<float>{tensors_[t].scale}));
      AddInitializer(ZeroPointName(t), onnx::TensorProto::UINT8, {},
                     RawBytes(std::vector<uint8_t>{static_cast<uint8_t>(tensors_[t].zero_point + kActivationOffset)}));
    }
    AddInput();
    for (uint32_t k = 0; k < model_.op_count; ++k) QATLAB_RETURN_IF_ERROR(AddOp(k, ReadOp(model_, k)));
    AddOutput();
    return Status::Ok();
  }

 private:
  static std::string QuantizedName(size_t t) { return "t" + std::to_string(t); }
  static std::string ScaleName(size_t t) { return QuantizedName(t) + ".scale"; }
  static std::string ZeroPointName(size_t t) { return QuantizedName(t) + ".zero_point"; }
  static std::string OpName(uint32_t k) { return "op" + std::to_string(k); }

  void AddInitializer(const std::string& name, onnx::TensorProto::DataType type, const std::vector<int64_t>& dims,
                      std::string raw) {
    onnx::TensorProto* tensor = graph_->add_initializer();
    tensor->set_name(name);
    tensor->set_data_type(type);
    for (int64_t d : dims) tensor->add_dims(d);
    tensor->set_raw_data(std::move(raw));
  }

  onnx::NodeProto* AddNode(const std::string& op_type, const std::string& name, const std::vector<std::string>& inputs,
                           const std::string& output) {
    onnx::NodeProto* node = graph_->add_node();
    node->set_op_type(op_type);
    node->set_name(name);
    for (const std::string& input : inputs) node->add_input(input);
    node->add_output(output);
    return node;
  }

  static void SetInt(onnx::NodeProto* node, const std::string& name, int64_t value) {
    onnx::AttributeProto* attribute = node->add_attribute();
    attribute->set_name(name);
    attribute->set_type(onnx::AttributeProto::INT);
    attribute->set_i(value);
  }
  static void SetInts(onnx::NodeProto* node, const std::string& name, const std::vector<int64_t>& values) {
    onnx::AttributeProto* attribute = node->add_attribute();
    attribute->set_name(name);
    attribute->set_type(onnx::AttributeProto::INTS);
    for (int64_t v : values) attribute->add_ints(v);
  }
  static void SetFloat(onnx::NodeProto* node, const std::string& name, float value) {
    onnx::AttributeProto* attribute = node->add_attribute();
    attribute->set_name(name);
    attribute->set_type(onnx::AttributeProto::FLOAT);
    attribute->set_f(value);
  }

  static void SetTensorType(onnx::ValueInfoProto* value, const std::string& name, const std::vector<int64_t>& dims) {
    value->set_name(name);
    auto* type = value->mutable_type()->mutable_tensor_type();
    type->set_elem_type(onnx::TensorProto::FLOAT);
    auto* shape = type->mutable_shape();
    shape->add_dim()->set_dim_param("N");
    for (int64_t d : dims) shape->add_dim()->set_dim_value(d);
  }

  // The float NCHW input (pixels / 255 for MNIST), quantized by the model's
  // first node.
  void AddInput() {
    const size_t t = model_.input_tensor;
    const TensorRecord& in = tensors_[t];
    SetTensorType(graph_->add_input(), "input", {in.channels, in.height, in.width});
    AddNode("QuantizeLinear", "input.quantize", {"input", ScaleName(t), ZeroPointName(t)}, QuantizedName(t));
    spatial_[t] = true;
  }

  // The dequantized logits [N, classes].
  void AddOutput() {
    const size_t t = model_.output_tensor;
    std::string quantized = QuantizedName(t);
    if (spatial_[t]) quantized = Flatten(t, "output");
    AddNode("DequantizeLinear", "output.dequantize", {quantized, ScaleName(t), ZeroPointName(t)}, "logits");
    SetTensorType(graph_->add_output(), "logits", {tensors_[t].size()});
  }

  // Tensor t as [N, C·H·W] in ONNX's (CHW) order: a Reshape of the uint8
  // values, which onnxruntime runs as a copy between integer operators.
  std::string Flatten(size_t t, const std::string& user) {
    const std::string shape = user + ".shape";
    AddInitializer(shape, onnx::TensorProto::INT64, {2}, RawBytes(std::vector<int64_t>{-1, tensors_[t].size()}));
    std::string flat = user + ".flat";
    AddNode("Reshape", user + ".reshape", {QuantizedName(t), shape}, flat);
    return flat;
  }

  std::string Dequantize(size_t t, const std::string& quantized, const std::string& name) {
    AddNode("DequantizeLinear", name + ".dequantize", {quantized, ScaleName(t), ZeroPointName(t)}, name);
    return name;
  }

  // Quantizes the float result of op k into its output tensor, then applies
  // the op's activation clamp (fused ReLU / ReLU6) on the uint8 values when
  // it is narrower than the quantization's own range.
  void QuantizeOutput(uint32_t k, const OpRecord& op, const std::string& result) {
    const std::string out = QuantizedName(op.output);
    if (op.act_min == -128 && op.act_max == 127) {
      AddNode("QuantizeLinear", OpName(k) + ".quantize", {result, ScaleName(op.output), ZeroPointName(op.output)}, out);
      return;
    }
    const std::string unclamped = OpName(k) + ".unclamped";
    AddNode("QuantizeLinear", OpName(k) + ".quantize", {result, ScaleName(op.output), ZeroPointName(op.output)},
            unclamped);
    const std::string low = OpName(k) + ".act_min", high = OpName(k) + ".act_max";
    AddInitializer(low, onnx::TensorProto::UINT8, {},
                   RawBytes(std::vector<uint8_t>{static_cast<uint8_t>(op.act_min + kActivationOffset)}));
    AddInitializer(high, onnx::TensorProto::UINT8, {},
                   RawBytes(std::vector<uint8_t>{static_cast<uint8_t>(op.act_max + kActivationOffset)}));
    AddNode("Clip", OpName(k) + ".clamp", {unclamped, low, high}, out);
  }

  Status AddOp(uint32_t k, const OpRecord& op) {
    const std::string name = OpName(k);
    const std::string result = name + ".result";
    switch (op.kind) {
      case QK_OP_DENSE:
      case QK_OP_CONV2D:
      case QK_OP_DEPTHWISE_CONV2D: QATLAB_RETURN_IF_ERROR(AddWeighted(k, op, result)); break;
      case QK_OP_MAXPOOL:
      case QK_OP_AVGPOOL: {
        QATLAB_RETURN_IF_ERROR(RequireSpatial(k, op, op.input));
        const std::string x = Dequantize(op.input, QuantizedName(op.input), name + ".x");
        onnx::NodeProto* node = AddNode(op.kind == QK_OP_MAXPOOL ? "MaxPool" : "AveragePool", name, {x}, result);
        SetInts(node, "kernel_shape", {op.kernel_h, op.kernel_w});
        SetInts(node, "strides", {op.stride, op.stride});
        SetInts(node, "pads", {op.padding, op.padding, op.padding, op.padding});
        // The kernels leave padded positions out of the average, as does
        // count_include_pad = 0.
        if (op.kind == QK_OP_AVGPOOL) SetInt(node, "count_include_pad", 0);
        break;
      }
      case QK_OP_GLOBAL_AVGPOOL: {
        QATLAB_RETURN_IF_ERROR(RequireSpatial(k, op, op.input));
        const std::string x = Dequantize(op.input, QuantizedName(op.input), name + ".x");
        AddNode("GlobalAveragePool", name, {x}, result);
        break;
      }
      case QK_OP_ADD: {
        if (spatial_[op.input] != spatial_[op.input2]) {
          return Status::InvalidArgument(name + " (add): inputs of different layouts cannot be exported to ONNX");
        }
        const std::string a = Dequantize(op.input, QuantizedName(op.input), name + ".a");
        const std::string b = Dequantize(op.input2, QuantizedName(op.input2), name + ".b");
        AddNode("Add", name, {a, b}, result);
        break;
      }
      default:
        return Status::InvalidArgument(name + ": op kind " + std::to_string(op.kind) +
                                       " has no ONNX form in this exporter");
    }
    spatial_[op.output] = op.kind == QK_OP_ADD ? spatial_[op.input] : op.kind != QK_OP_DENSE;
    QuantizeOutput(k, op, result);
    return Status::Ok();
  }

  Status RequireSpatial(uint32_t k, const OpRecord& op, size_t t) const {
    if (spatial_[t]) return Status::Ok();
    return Status::InvalidArgument(OpName(k) + " (" + qk_op_kind_name(op.kind) +
                                   "): its input is the flat output of a dense op, which ONNX holds as [N, features]");
  }

  // Conv, depthwise conv (Conv with group = channels) or dense (Gemm with
  // transB = 1): int8 weights [C_out, ...] dequantized with per-channel scales
  // on axis 0, an int32 bias dequantized with scale input·weight and zero
  // point 0.
  Status AddWeighted(uint32_t k, const OpRecord& op, const std::string& result) {
    const std::string name = OpName(k);
    const TensorRecord& in = tensors_[op.input];
    const TensorRecord& out = tensors_[op.output];
    const int64_t channels = op.channel_count;
    const int32_t container = qk_weight_container_bits(op.weight_bits);

    // The weight scale s_w is not stored; the multiplier is, and the engine
    // derives it as M0·2^(shift−31) = s_in·s_w / s_out (docs/quant-spec.md).
    // M0 carries 31 bits, so s_w comes back to well within float precision.
    std::vector<float> weight_scale(channels), bias_scale(channels);
    for (int64_t c = 0; c < channels; ++c) {
      const int32_t multiplier = ReadI32(op.multiplier + 4 * c);
      const int32_t shift = ReadI32(op.shift + 4 * c);
      double scale = std::ldexp(static_cast<double>(multiplier), shift - 31) * out.scale / in.scale;
      // A multiplier of 0 (a channel whose weights are all zero) outputs the
      // zero point whatever the scale; a tiny positive one keeps ONNX valid.
      if (!(scale > 0)) scale = 1e-12;
      weight_scale[c] = static_cast<float>(scale);
      bias_scale[c] = in.scale * weight_scale[c];
    }
    std::vector<int32_t> bias(channels);
    for (int64_t c = 0; c < channels; ++c) bias[c] = ReadI32(op.bias + 4 * c);

    std::vector<int64_t> weight_dims;
    std::vector<int8_t> weights;
    if (op.kind == QK_OP_DENSE) {
      // Rows are output neurons over the NHWC input; ONNX flattens the NCHW
      // tensor, so column c·H·W + y·W + x takes input (y, x, c).
      const int64_t inputs = in.size();
      weight_dims = {channels, inputs};
      weights.resize(channels * inputs);
      const uint32_t row_bytes = qk_packed_row_bytes(static_cast<uint32_t>(inputs), op.weight_bits);
      for (int64_t o = 0; o < channels; ++o) {
        const uint8_t* row = op.weights + o * row_bytes;
        for (int64_t y = 0; y < in.height; ++y) {
          for (int64_t x = 0; x < in.width; ++x) {
            for (int64_t c = 0; c < in.channels; ++c) {
              const int64_t hwc = (y * in.width + x) * in.channels + c;
              const int64_t chw = (c * in.height + y) * in.width + x;
              weights[o * inputs + chw] =
                  static_cast<int8_t>(qk_unpack_weight(row, static_cast<uint32_t>(hwc), container));
            }
          }
        }
      }
    } else {
      QATLAB_RETURN_IF_ERROR(RequireSpatial(k, op, op.input));
      const int64_t kh = op.kernel_h, kw = op.kernel_w;
      if (op.kind == QK_OP_CONV2D) {
        // [C_out][kh][kw][C_in] rows → [C_out][C_in][kh][kw].
        const int64_t cin = in.channels;
        weight_dims = {channels, cin, kh, kw};
        weights.resize(channels * cin * kh * kw);
        const uint32_t row_bytes = qk_packed_row_bytes(static_cast<uint32_t>(kh * kw * cin), op.weight_bits);
        for (int64_t o = 0; o < channels; ++o) {
          const uint8_t* row = op.weights + o * row_bytes;
          for (int64_t ky = 0; ky < kh; ++ky) {
            for (int64_t kx = 0; kx < kw; ++kx) {
              for (int64_t c = 0; c < cin; ++c) {
                const auto index = static_cast<uint32_t>((ky * kw + kx) * cin + c);
                weights[((o * cin + c) * kh + ky) * kw + kx] =
                    static_cast<int8_t>(qk_unpack_weight(row, index, container));
              }
            }
          }
        }
      } else {
        // Rows are kernel taps (ky, kx) over the channels → [C][1][kh][kw].
        weight_dims = {channels, 1, kh, kw};
        weights.resize(channels * kh * kw);
        const uint32_t row_bytes = qk_packed_row_bytes(static_cast<uint32_t>(channels), op.weight_bits);
        for (int64_t ky = 0; ky < kh; ++ky) {
          for (int64_t kx = 0; kx < kw; ++kx) {
            const uint8_t* row = op.weights + (ky * kw + kx) * row_bytes;
            for (int64_t c = 0; c < channels; ++c) {
              weights[(c * kh + ky) * kw + kx] =
                  static_cast<int8_t>(qk_unpack_weight(row, static_cast<uint32_t>(c), container));
            }
          }
        }
      }
    }

    AddInitializer(name + ".weight", onnx::TensorProto::INT8, weight_dims, RawBytes(weights));
    AddInitializer(name + ".weight.scale", onnx::TensorProto::FLOAT, {channels}, RawBytes(weight_scale));
    AddInitializer(name + ".weight.zero_point", onnx::TensorProto::INT8, {channels},
                   RawBytes(std::vector<int8_t>(channels, 0)));
    AddInitializer(name + ".bias", onnx::TensorProto::INT32, {channels}, RawBytes(bias));
    AddInitializer(name + ".bias.scale", onnx::TensorProto::FLOAT, {channels}, RawBytes(bias_scale));
    AddInitializer(name + ".bias.zero_point", onnx::TensorProto::INT32, {channels},
                   RawBytes(std::vector<int32_t>(channels, 0)));
    onnx::NodeProto* weight_dq =
        AddNode("DequantizeLinear", name + ".weight.dequantize",
                {name + ".weight", name + ".weight.scale", name + ".weight.zero_point"}, name + ".w");
    SetInt(weight_dq, "axis", 0);
    onnx::NodeProto* bias_dq = AddNode("DequantizeLinear", name + ".bias.dequantize",
                                       {name + ".bias", name + ".bias.scale", name + ".bias.zero_point"}, name + ".b");
    SetInt(bias_dq, "axis", 0);

    if (op.kind == QK_OP_DENSE) {
      const std::string flat = spatial_[op.input] ? Flatten(op.input, name) : QuantizedName(op.input);
      const std::string x = Dequantize(op.input, flat, name + ".x");
      onnx::NodeProto* gemm = AddNode("Gemm", name, {x, name + ".w", name + ".b"}, result);
      // onnxruntime's QDQ Gemm selector reads beta; give every attribute.
      SetFloat(gemm, "alpha", 1.0f);
      SetFloat(gemm, "beta", 1.0f);
      SetInt(gemm, "transA", 0);
      SetInt(gemm, "transB", 1);
      return Status::Ok();
    }
    const std::string x = Dequantize(op.input, QuantizedName(op.input), name + ".x");
    onnx::NodeProto* conv = AddNode("Conv", name, {x, name + ".w", name + ".b"}, result);
    SetInts(conv, "kernel_shape", {op.kernel_h, op.kernel_w});
    SetInts(conv, "strides", {op.stride, op.stride});
    SetInts(conv, "pads", {op.padding, op.padding, op.padding, op.padding});
    SetInt(conv, "group", op.kind == QK_OP_DEPTHWISE_CONV2D ? channels : 1);
    return Status::Ok();
  }

  const qk_model& model_;
  onnx::GraphProto* graph_;
  std::vector<TensorRecord> tensors_;
  // spatial_[t]: tensor t is [N, C, H, W] in ONNX (else [N, features], the
  // output of a dense op).
  std::vector<bool> spatial_;
};

}  // namespace

StatusOr<std::string> QmodelToQdqOnnx(std::string_view qmodel, std::string_view model_name) {
  if (qmodel.size() > UINT32_MAX) return Status::InvalidArgument("not a valid .qmodel: larger than 4 GiB");
  // qk_model_open reads int32 arrays in place: give it an aligned copy (never
  // a null pointer, so empty input is "truncated" like any short one).
  std::vector<uint32_t> aligned(std::max<size_t>(1, (qmodel.size() + 3) / 4));
  if (!qmodel.empty()) std::memcpy(aligned.data(), qmodel.data(), qmodel.size());
  qk_model model{};
  const qk_status opened =
      qk_model_open(&model, reinterpret_cast<const uint8_t*>(aligned.data()), static_cast<uint32_t>(qmodel.size()));
  if (opened != QK_OK) {
    return Status::InvalidArgument(std::string("not a valid .qmodel: ") + qk_status_name(opened));
  }

  onnx::ModelProto onnx_model;
  onnx_model.set_ir_version(kIrVersion);
  onnx_model.set_producer_name("qatlab");
  onnx_model.set_model_version(1);
  onnx_model.set_doc_string(
      "QDQ export of a qatlab .qmodel. Input: float NCHW, pixels / 255. Output: dequantized logits.");
  onnx::OperatorSetIdProto* opset = onnx_model.add_opset_import();
  opset->set_domain("");
  opset->set_version(kOpset);
  onnx::GraphProto* graph = onnx_model.mutable_graph();
  graph->set_name(model_name.empty() ? std::string("qmodel") : std::string(model_name));
  QATLAB_RETURN_IF_ERROR(QdqGraphBuilder(model, graph).Build());

  // Every model written here must pass; a failure is this exporter's bug.
  try {
    onnx::checker::check_model(onnx_model);
  } catch (const std::exception& error) {
    return Status::Internal(std::string("ONNX export: the checker refused the model: ") + error.what());
  }
  std::string bytes;
  if (!onnx_model.SerializeToString(&bytes)) return Status::Internal("ONNX export: serialization failed");
  return bytes;
}

}  // namespace qatlab
