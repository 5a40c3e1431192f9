#include "tests/device/seeded_models.h"

#include "engine/shape.h"

#include <cmath>
#include <random>
#include <string>

namespace qatlab {
namespace {

// Standard deviations that keep int8 activations spread over their range
// instead of saturating or collapsing to zero: uniform int8 values have a
// standard deviation of about 74; the requantization aims at about 40.
constexpr double kValueStd = 74.0;
constexpr double kTargetOutputStd = 40.0;

class ModelBuilder {
 public:
  ModelBuilder(std::string name, uint32_t seed) : random_(seed) { model_.name = std::move(name); }

  int AddTensor(int height, int width, int channels, int32_t zero_point = 0) {
    IntegerTensor tensor;
    tensor.height = height;
    tensor.width = width;
    tensor.channels = channels;
    tensor.scale = 1.0f / 64.0f;
    tensor.zero_point = zero_point;
    model_.tensors.push_back(tensor);
    return static_cast<int>(model_.tensors.size()) - 1;
  }

  const IntegerTensor& tensor(int index) const { return model_.tensors[static_cast<size_t>(index)]; }

  // A weighted op (dense, conv2d, depthwise) reading `input`, with random
  // int8 weights, a small random bias and per-channel multipliers that scale
  // the accumulator (of `fan_in` products) back to the int8 range.
  int AddWeighted(IntegerOpKind kind, int input, int out_h, int out_w, int out_c, int kernel, int stride, int padding,
                  int64_t weight_count, int fan_in, bool relu) {
    int output = AddTensor(out_h, out_w, out_c);
    IntegerOp op;
    op.kind = kind;
    op.input = input;
    op.output = output;
    op.kernel_h = kernel;
    op.kernel_w = kernel;
    op.stride = stride;
    op.padding = padding;
    op.weight_bits = 8;
    std::uniform_int_distribution<int> weight(-127, 127);
    op.weights.resize(static_cast<size_t>(weight_count));
    for (int8_t& w : op.weights) w = static_cast<int8_t>(weight(random_));
    std::uniform_int_distribution<int32_t> bias(-2000, 2000);
    std::uniform_real_distribution<double> jitter(0.8, 1.25);
    for (int c = 0; c < out_c; ++c) {
      op.bias.push_back(bias(random_));
      double m = kTargetOutputStd / (std::sqrt(static_cast<double>(fan_in)) * kValueStd * kValueStd) * jitter(random_);
      int exponent = 0;
      double fraction = std::frexp(m, &exponent);  // m = fraction · 2^exponent, fraction in [0.5, 1)
      int64_t m0 = std::llround(fraction * 2147483648.0);
      if (m0 == 2147483648LL) {
        m0 /= 2;
        ++exponent;
      }
      op.multiplier.push_back(static_cast<int32_t>(m0));
      op.shift.push_back(exponent);
    }
    op.act_min = relu ? tensor(output).zero_point : -128;
    op.act_max = 127;
    model_.ops.push_back(op);
    return output;
  }

  int AddDense(int input, int outputs, bool relu) {
    const IntegerTensor& in = tensor(input);
    int inputs = in.height * in.width * in.channels;
    return AddWeighted(IntegerOpKind::kDense, input, 1, 1, outputs, 1, 1, 0, static_cast<int64_t>(inputs) * outputs,
                       inputs, relu);
  }

  int AddConv(int input, int channels, int kernel, int stride, int padding, bool relu) {
    const IntegerTensor& in = tensor(input);
    int out_h = WindowOutputSize(in.height, kernel, stride, padding);
    int out_w = WindowOutputSize(in.width, kernel, stride, padding);
    int in_c = in.channels;
    return AddWeighted(IntegerOpKind::kConv2D, input, out_h, out_w, channels, kernel, stride, padding,
                       static_cast<int64_t>(channels) * kernel * kernel * in_c, kernel * kernel * in_c, relu);
  }

  int AddDepthwise(int input, int kernel, int stride, int padding, bool relu) {
    const IntegerTensor& in = tensor(input);
    int out_h = WindowOutputSize(in.height, kernel, stride, padding);
    int out_w = WindowOutputSize(in.width, kernel, stride, padding);
    return AddWeighted(IntegerOpKind::kDepthwiseConv2D, input, out_h, out_w, in.channels, kernel, stride, padding,
                       static_cast<int64_t>(kernel) * kernel * in.channels, kernel * kernel, relu);
  }

  // Pools keep the scale and zero point of their input.
  int AddPool(IntegerOpKind kind, int input, int kernel, int stride) {
    IntegerTensor in = tensor(input);
    int out_h = kind == IntegerOpKind::kGlobalAvgPool ? 1 : (in.height - kernel) / stride + 1;
    int out_w = kind == IntegerOpKind::kGlobalAvgPool ? 1 : (in.width - kernel) / stride + 1;
    int output = AddTensor(out_h, out_w, in.channels, in.zero_point);
    IntegerOp op;
    op.kind = kind;
    op.input = input;
    op.output = output;
    op.kernel_h = kind == IntegerOpKind::kGlobalAvgPool ? in.height : kernel;
    op.kernel_w = kind == IntegerOpKind::kGlobalAvgPool ? in.width : kernel;
    op.stride = stride;
    model_.ops.push_back(op);
    return output;
  }

  IntegerModel Finish(int output) {
    model_.input_tensor = 0;
    model_.output_tensor = output;
    model_.num_classes = tensor(output).channels;
    return std::move(model_);
  }

 private:
  IntegerModel model_;
  std::mt19937 random_;
};

}  // namespace

IntegerModel SeededDenseModel(const std::vector<int>& widths, uint32_t seed) {
  std::string name = "seeded mlp";
  for (int width : widths) name.append(" ").append(std::to_string(width));
  ModelBuilder builder(name, seed);
  int current = builder.AddTensor(1, 1, widths.at(0));
  for (size_t i = 1; i < widths.size(); ++i) {
    current = builder.AddDense(current, widths[i], /*relu=*/i + 1 < widths.size());
  }
  return builder.Finish(current);
}

IntegerModel SeededCnnModel(uint32_t seed) {
  ModelBuilder builder("seeded cnn c8-pool-c16-pool-fc10", seed);
  int current = builder.AddTensor(28, 28, 1);
  current = builder.AddConv(current, 8, 3, 1, 1, /*relu=*/true);
  current = builder.AddPool(IntegerOpKind::kMaxPool, current, 2, 2);
  current = builder.AddConv(current, 16, 3, 1, 1, /*relu=*/true);
  current = builder.AddPool(IntegerOpKind::kMaxPool, current, 2, 2);
  current = builder.AddDense(current, 10, /*relu=*/false);
  return builder.Finish(current);
}

IntegerModel SeededDsCnnModel(int channels, uint32_t seed) {
  std::string name = "seeded ds-cnn c";
  name.append(std::to_string(channels));
  ModelBuilder builder(name, seed);
  int current = builder.AddTensor(49, 10, 1);
  current = builder.AddConv(current, channels, 3, 2, 1, /*relu=*/true);
  for (int block = 0; block < 2; ++block) {
    current = builder.AddDepthwise(current, 3, 1, 1, /*relu=*/true);
    current = builder.AddConv(current, channels, 1, 1, 0, /*relu=*/true);
  }
  current = builder.AddPool(IntegerOpKind::kGlobalAvgPool, current, 1, 1);
  current = builder.AddDense(current, 10, /*relu=*/false);
  return builder.Finish(current);
}

std::vector<std::vector<int8_t>> SeededInputs(int count, int bytes, uint32_t seed) {
  std::mt19937 random(seed);
  std::uniform_int_distribution<int> value(-128, 127);
  std::vector<std::vector<int8_t>> inputs(static_cast<size_t>(count));
  for (auto& input : inputs) {
    input.resize(static_cast<size_t>(bytes));
    for (int8_t& v : input) v = static_cast<int8_t>(value(random));
  }
  return inputs;
}

}  // namespace qatlab
