#include "engine/integer_export.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "qatlab_kernels/input_conversion.h"

namespace qatlab {
namespace {

IntegerTensor MakeTensor(const ImageShape& shape, const QuantParams& p) {
  IntegerTensor t;
  t.height = shape.height;
  t.width = shape.width;
  t.channels = shape.channels;
  t.scale = p.scale;
  t.zero_point = p.zero_point;
  return t;
}

// The activation clamp of a fused group ending at layer `end`.
void FusedClamp(const Network& net, int end, const QuantParams& out, IntegerOp* op) {
  op->act_min = -128;
  op->act_max = 127;
  const LayerKind kind = net.layer_config(end).kind;
  if (kind == LayerKind::kRelu || kind == LayerKind::kRelu6) op->act_min = std::max(-128, out.zero_point);
  if (kind == LayerKind::kRelu6) {
    const long cap = out.zero_point + std::lround(6.0 / out.scale);
    op->act_max = static_cast<int32_t>(std::min<long>(127, cap));
  }
}

}  // namespace

void QuantizeMultiplier(double real_multiplier, int32_t* multiplier, int32_t* shift) {
  if (real_multiplier <= 0.0) {
    *multiplier = 0;
    *shift = 0;
    return;
  }
  int exponent = 0;
  const double fraction = std::frexp(real_multiplier, &exponent);  // [0.5, 1)
  int64_t q = std::llround(fraction * (1LL << 31));
  if (q == (1LL << 31)) {
    q /= 2;
    ++exponent;
  }
  *multiplier = static_cast<int32_t>(q);
  *shift = exponent;
}

void QuantizeFloatImage(const float* image, size_t count, float scale, int32_t zero_point, int8_t* out) {
  // The kernels' conversion, the one a firmware calls (input_conversion.h).
  constexpr size_t kChunk = std::numeric_limits<uint32_t>::max();
  for (size_t done = 0; done < count; done += kChunk) {
    qk_input_from_f32(image + done, static_cast<uint32_t>(std::min(kChunk, count - done)), scale, zero_point,
                      out + done);
  }
}

StatusOr<IntegerModel> ExportIntegerModel(const Network& net, const std::string& name) {
  if (!net.quantized()) return Status::FailedPrecondition("export: the network is not quantized");
  IntegerModel model;
  model.name = name;
  const int count = net.layer_count();
  // tensor_of[a]: the integer tensor holding act a (-1: none, a fused
  // intermediate); params_of[a]: its quantization.
  std::vector<int> tensor_of(count + 1, -1);
  std::vector<QuantParams> params_of(count + 1);
  params_of[0] = net.quantizer(0)->params();
  model.tensors.push_back(MakeTensor(net.activation_shape(0), params_of[0]));
  tensor_of[0] = 0;

  auto new_output = [&](int act, const QuantParams& p) {
    model.tensors.push_back(MakeTensor(net.activation_shape(act), p));
    tensor_of[act] = static_cast<int>(model.tensors.size()) - 1;
    params_of[act] = p;
    return tensor_of[act];
  };
  auto group_end = [&](int i) {
    int end = i;
    while (end + 1 < count && ContinuesFusedGroup(net.layer_config(end + 1).kind)) ++end;
    return end;
  };

  for (int i = 0; i < count; ++i) {
    const LayerConfig& config = net.layer_config(i);
    const LayerKind kind = config.kind;
    const std::string label = LayerLabel(config, i);
    if (ContinuesFusedGroup(kind)) continue;  // folded into the group's op
    if (tensor_of[i] < 0) return Status::Internal(label + ": input is not an integer tensor");
    const QuantParams& in = params_of[i];
    if (kind == LayerKind::kFlatten) {
      tensor_of[i + 1] = tensor_of[i];
      params_of[i + 1] = in;
      continue;
    }
    IntegerOp op;
    op.input = tensor_of[i];
    if (kind == LayerKind::kMaxPool || kind == LayerKind::kAvgPool || kind == LayerKind::kGlobalAvgPool) {
      op.kind = kind == LayerKind::kMaxPool   ? IntegerOpKind::kMaxPool
                : kind == LayerKind::kAvgPool ? IntegerOpKind::kAvgPool
                                              : IntegerOpKind::kGlobalAvgPool;
      const ImageShape& shape = net.activation_shape(i);
      if (kind == LayerKind::kGlobalAvgPool) {
        op.kernel_h = shape.height;
        op.kernel_w = shape.width;
        op.stride = 1;
      } else {
        op.kernel_h = op.kernel_w = op.stride = config.pool.pool;
      }
      op.output = new_output(i + 1, in);
      model.ops.push_back(std::move(op));
      continue;
    }
    const int end = group_end(i);
    ActivationQuantizer* out_quantizer = net.quantizer(end + 1);
    if (out_quantizer == nullptr) return Status::Internal(label + ": group output has no quantizer");
    const QuantParams out = out_quantizer->params();
    if (out.qmin != -128 || out.qmax != 127) {
      return Status::FailedPrecondition(label + ": integer export needs 8-bit activations");
    }
    FusedClamp(net, end, out, &op);

    if (kind == LayerKind::kAdd) {
      const int source = net.residual_source(i);
      if (tensor_of[source] < 0) return Status::Internal(label + ": residual input is not an integer tensor");
      const QuantParams& b = params_of[source];
      op.kind = IntegerOpKind::kAdd;
      op.input2 = tensor_of[source];
      const double twice_max = 2.0 * std::max(in.scale, b.scale);
      op.multiplier.resize(3);
      op.shift.resize(3);
      QuantizeMultiplier(in.scale / twice_max, &op.multiplier[0], &op.shift[0]);
      QuantizeMultiplier(b.scale / twice_max, &op.multiplier[1], &op.shift[1]);
      QuantizeMultiplier(twice_max / (static_cast<double>(1 << 20) * out.scale), &op.multiplier[2], &op.shift[2]);
      op.output = new_output(end + 1, out);
      model.ops.push_back(std::move(op));
      continue;
    }

    auto* weighted = dynamic_cast<WeightedLayer*>(net.layer(i));
    if (weighted == nullptr) return Status::Internal(label + ": unexpected layer in export");
    if (!weighted->weights_quantized()) return Status::FailedPrecondition(label + ": weights are not quantized");
    // The weights of the last forward: exactly what the fake-quantized
    // evaluation used.
    const auto& w = weighted->effective_weights();
    const auto& bias = weighted->effective_bias();
    const auto& scales = weighted->weight_scales();
    const int channels = weighted->out_channels();
    op.weight_bits = weighted->weight_quantization().bits;
    const int qmax = WeightQmax(op.weight_bits);
    if (kind == LayerKind::kDense) {
      op.kind = IntegerOpKind::kDense;
    } else {
      const ConvolutionSettings& conv = config.convolution;
      op.kind = kind == LayerKind::kConv2D ? IntegerOpKind::kConv2D : IntegerOpKind::kDepthwiseConv2D;
      op.kernel_h = op.kernel_w = conv.kernel;
      op.stride = conv.stride;
      op.padding = conv.padding;
    }
    op.weights.resize(w.size());
    const bool depthwise = op.kind == IntegerOpKind::kDepthwiseConv2D;
    const size_t per_channel = w.size() / channels;
    for (size_t k = 0; k < w.size(); ++k) {
      const int c = depthwise ? static_cast<int>(k % channels) : static_cast<int>(k / per_channel);
      const float q = RoundHalfAway(w[k] / scales[c]);
      op.weights[k] = static_cast<int8_t>(std::clamp(static_cast<int>(q), -qmax, qmax));
    }
    op.bias.resize(channels);
    op.multiplier.resize(channels);
    op.shift.resize(channels);
    for (int c = 0; c < channels; ++c) {
      const double bias_scale = static_cast<double>(in.scale) * scales[c];
      const double q = std::round(bias[c] / bias_scale);
      op.bias[c] = static_cast<int32_t>(std::clamp(q, -2147483647.0, 2147483647.0));
      const double m = bias_scale / out.scale;
      if (!(m < 2147483648.0)) return Status::InvalidArgument(label + ": requantization multiplier out of range");
      QuantizeMultiplier(m, &op.multiplier[c], &op.shift[c]);
    }
    op.output = new_output(end + 1, out);
    model.ops.push_back(std::move(op));
  }
  model.input_tensor = 0;
  model.output_tensor = tensor_of[count];
  model.num_classes = net.num_classes();
  if (model.output_tensor < 0) return Status::Internal("export: the model output is not an integer tensor");
  return model;
}

}  // namespace qatlab
