// Every layer's backward pass against central differences of its forward
// pass: loss = sum(out * R) for a fixed random R, so dL/dout = R.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <memory>
#include <random>

#include "engine/job_spec.h"
#include "engine/layers.h"
#include "engine/network.h"
#include "engine/quantizers.h"
#include "tests/engine/preset_network.h"

namespace qatlab {
namespace {

constexpr float kStep = 1e-2f;

// Values spaced at least `gap` apart and away from 0 (no ReLU kink, no
// max-pool tie within one finite-difference step).
FloatBuffer SpacedValues(size_t count, float gap, uint32_t seed) {
  FloatBuffer values(count);
  for (size_t i = 0; i < count; ++i) {
    const float magnitude = gap * static_cast<float>(i + 1);
    values[i] = (i % 2 == 0) ? magnitude : -magnitude;
  }
  std::mt19937 random(seed);
  std::shuffle(values.begin(), values.end(), random);
  return values;
}

FloatBuffer RandomValues(size_t count, uint32_t seed, float scale = 1.0f) {
  std::mt19937 random(seed);
  std::uniform_real_distribution<float> uniform(-scale, scale);
  FloatBuffer values(count);
  for (float& v : values) v = uniform(random);
  return values;
}

double Projected(const Tensor& out, const FloatBuffer& r) {
  double sum = 0;
  for (size_t i = 0; i < out.data.size(); ++i) sum += static_cast<double>(out.data[i]) * r[i];
  return sum;
}

void ExpectClose(double analytic, double numeric, const std::string& what) {
  const double tolerance = 2e-3 + 2e-2 * std::max(std::fabs(analytic), std::fabs(numeric));
  EXPECT_NEAR(analytic, numeric, tolerance) << what;
}

// Compares analytic[i] with the central difference of loss() in values[i],
// for i in [0, count) with the given stride; values are restored.
void CheckAgainstCentralDifferences(float* values, const float* analytic, size_t count,
                                    const std::function<double()>& loss, const std::string& what, size_t stride = 1) {
  for (size_t i = 0; i < count; i += stride) {
    const float saved = values[i];
    values[i] = saved + kStep;
    const double up = loss();
    values[i] = saved - kStep;
    const double down = loss();
    values[i] = saved;
    ExpectClose(analytic[i], (up - down) / (2 * kStep), what + "[" + std::to_string(i) + "]");
  }
}

// Checks d(sum(out * R))/d(input) and /d(parameters) of `layer`.
void CheckLayer(Layer* layer, const ImageShape& shape, int batch, bool check_input = true, float gap = 0.0f) {
  const ImageShape out_shape = layer->Setup(shape);
  Tensor in;
  in.Resize(batch, shape);
  in.data = gap > 0 ? SpacedValues(in.data.size(), gap, 7) : RandomValues(in.data.size(), 7);
  Tensor out, din;
  layer->Forward(in, &out, true);
  ASSERT_EQ(out.shape, out_shape);
  const FloatBuffer r = RandomValues(out.data.size(), 11);
  Tensor dout = out;
  dout.data = r;
  std::vector<ParameterRef> params;
  layer->Parameters(&params);
  for (auto& p : params) std::fill(p.grad, p.grad + p.size, 0.0f);
  layer->Backward(in, out, dout, &din);

  auto loss = [&]() {
    Tensor o;
    layer->Forward(in, &o, true);
    return Projected(o, r);
  };
  const std::string name = LayerKindName(layer->kind());
  if (check_input) {
    ASSERT_EQ(din.data.size(), in.data.size());
    CheckAgainstCentralDifferences(in.data.data(), din.data.data(), in.data.size(), loss, name + " input");
  }
  for (size_t k = 0; k < params.size(); ++k) {
    const std::vector<float> grad(params[k].grad, params[k].grad + params[k].size);
    CheckAgainstCentralDifferences(params[k].value, grad.data(), params[k].size, loss,
                                   name + " parameter " + std::to_string(k));
  }
}

TEST(GradientCheck, Dense) {
  DenseLayer layer(5);
  CheckLayer(&layer, {2, 2, 3}, 3);
}

TEST(GradientCheck, Conv2DPaddedStrided) {
  Conv2DLayer layer(4, 3, 2, 1);
  CheckLayer(&layer, {5, 5, 2}, 2);
}

// Single-channel inputs take the direct path (no im2col); ten filters cover
// a full block of eight and a partial one, eight exactly one block.
TEST(GradientCheck, Conv2DSingleChannelPadded) {
  Conv2DLayer layer(10, 3, 1, 1);
  CheckLayer(&layer, {5, 5, 1}, 2);
}

TEST(GradientCheck, Conv2DSingleChannelStridedUnpadded) {
  Conv2DLayer layer(8, 3, 2, 0);
  CheckLayer(&layer, {7, 6, 1}, 3);
}

// The direct path computes the same convolution as the definition, with
// the weight layout [filters][kh][kw][Cin] that export relies on; eight
// filters fill the vector block exactly, nine do not.
void ExpectSingleChannelConvolutionMatchesDefinition(int filters) {
  const int kernel = 3, stride = 2, padding = 1;
  Conv2DLayer layer(filters, kernel, stride, padding);
  const ImageShape shape{6, 5, 1};
  const ImageShape out_shape = layer.Setup(shape);
  layer.Initialize(3);
  Tensor in, out;
  in.Resize(2, shape);
  in.data = RandomValues(in.data.size(), 5);
  layer.Forward(in, &out, false);
  const FloatBuffer& w = layer.weights();
  const FloatBuffer& b = layer.bias();
  for (int n = 0; n < in.n; ++n) {
    for (int oy = 0; oy < out_shape.height; ++oy) {
      for (int ox = 0; ox < out_shape.width; ++ox) {
        for (int f = 0; f < filters; ++f) {
          double expected = b[f];
          for (int ky = 0; ky < kernel; ++ky) {
            for (int kx = 0; kx < kernel; ++kx) {
              const int iy = oy * stride - padding + ky, ix = ox * stride - padding + kx;
              if (iy < 0 || iy >= shape.height || ix < 0 || ix >= shape.width) continue;
              expected += static_cast<double>(w[(f * kernel + ky) * kernel + kx]) * in.sample(n)[iy * shape.width + ix];
            }
          }
          const float actual = out.sample(n)[(oy * out_shape.width + ox) * filters + f];
          EXPECT_NEAR(actual, expected, 1e-5) << n << " " << oy << " " << ox << " " << f;
        }
      }
    }
  }
}

TEST(GradientCheck, Conv2DSingleChannelMatchesDefinition) {
  ExpectSingleChannelConvolutionMatchesDefinition(8);
  ExpectSingleChannelConvolutionMatchesDefinition(9);
}

TEST(GradientCheck, Conv2DPointwise) {
  Conv2DLayer layer(3, 1, 1, 0);
  CheckLayer(&layer, {3, 3, 4}, 3);
}

TEST(GradientCheck, DepthwiseConv2D) {
  DepthwiseConv2DLayer layer(3, 1, 1);
  CheckLayer(&layer, {4, 4, 3}, 2);
}

TEST(GradientCheck, DepthwiseConv2DStrided) {
  DepthwiseConv2DLayer layer(3, 2, 0);
  CheckLayer(&layer, {5, 5, 2}, 3);
}

TEST(GradientCheck, BatchNormTraining) {
  BatchNormLayer layer;
  layer.Setup({2, 2, 3});
  layer.gamma = {1.5f, 0.5f, -0.7f};
  layer.beta = {0.1f, -0.2f, 0.3f};
  // Setup again would reset gamma; check without re-running it.
  Tensor in;
  in.Resize(3, {2, 2, 3});
  in.data = RandomValues(in.data.size(), 5);
  Tensor out, din;
  layer.Forward(in, &out, true);
  const FloatBuffer r = RandomValues(out.data.size(), 13);
  Tensor dout = out;
  dout.data = r;
  layer.Backward(in, out, dout, &din);
  auto loss = [&]() {
    Tensor o;
    layer.Forward(in, &o, true);
    return Projected(o, r);
  };
  CheckAgainstCentralDifferences(in.data.data(), din.data.data(), in.data.size(), loss, "batchnorm input");
  const FloatBuffer grad_gamma = layer.grad_gamma, grad_beta = layer.grad_beta;
  CheckAgainstCentralDifferences(layer.gamma.data(), grad_gamma.data(), 3, loss, "gamma");
  CheckAgainstCentralDifferences(layer.beta.data(), grad_beta.data(), 3, loss, "beta");
}

TEST(GradientCheck, Relu) {
  ReluLayer layer(0.0f);
  CheckLayer(&layer, {3, 3, 2}, 2, true, 0.05f);
}

TEST(GradientCheck, Relu6) {
  ReluLayer layer(6.0f);
  // Spaced values reach beyond 6 in magnitude, so the cap is exercised.
  CheckLayer(&layer, {3, 3, 3}, 2, true, 0.27f);
}

TEST(GradientCheck, MaxPool) {
  PoolLayer layer(true, 2);
  CheckLayer(&layer, {4, 5, 2}, 2, true, 0.05f);
}

// Ten channels: eight take the vector path, two the plain loop after it.
TEST(GradientCheck, MaxPoolVectorChannels) {
  PoolLayer layer(true, 2);
  CheckLayer(&layer, {4, 4, 10}, 2, true, 0.01f);
}

// Ties go to the first maximum in row order, in the vector path as in the
// plain one: all-equal windows send the whole gradient to their first
// element.
TEST(GradientCheck, MaxPoolTiesGoToTheFirstMaximum) {
  PoolLayer layer(true, 2);
  const ImageShape shape{2, 2, 9};
  layer.Setup(shape);
  Tensor in, out, din;
  in.Resize(1, shape);
  std::fill(in.data.begin(), in.data.end(), 1.5f);
  layer.Forward(in, &out, true);
  Tensor dout = out;
  for (size_t c = 0; c < dout.data.size(); ++c) dout.data[c] = static_cast<float>(c + 1);
  layer.Backward(in, out, dout, &din);
  for (size_t i = 0; i < din.data.size(); ++i) {
    const float expected = i < 9 ? static_cast<float>(i + 1) : 0.0f;
    EXPECT_EQ(din.data[i], expected) << i;
  }
}

TEST(GradientCheck, AvgPool) {
  PoolLayer layer(false, 2);
  CheckLayer(&layer, {4, 4, 3}, 2);
}

TEST(GradientCheck, GlobalAvgPool) {
  GlobalAvgPoolLayer layer;
  CheckLayer(&layer, {3, 3, 4}, 2);
}

TEST(GradientCheck, Flatten) {
  FlattenLayer layer;
  CheckLayer(&layer, {2, 3, 2}, 2);
}

TEST(GradientCheck, SoftmaxCrossEntropy) {
  Tensor logits;
  logits.Resize(3, {1, 1, 4});
  logits.data = RandomValues(logits.data.size(), 3, 2.0f);
  const int32_t labels[3] = {0, 3, 2};
  Tensor grad;
  SoftmaxCrossEntropy(logits, labels, &grad);
  CheckAgainstCentralDifferences(
      logits.data.data(), grad.data.data(), logits.data.size(),
      [&] { return SoftmaxCrossEntropy(logits, labels, nullptr); }, "logit");
}

// Conv followed by a folded batch norm (no quantization, frozen statistics):
// the fold w * gamma / sigma must pass gradients to w, b, gamma and beta.
TEST(GradientCheck, Conv2DWithFoldedBatchNorm) {
  Conv2DLayer conv(3, 3, 1, 1);
  BatchNormLayer bn;
  const ImageShape out = conv.Setup({4, 4, 2});
  bn.Setup(out);
  conv.Initialize(3);
  bn.gamma = {1.2f, 0.8f, -0.5f};
  bn.beta = {0.2f, -0.1f, 0.05f};
  bn.running_mean = {0.1f, -0.3f, 0.2f};
  bn.running_var = {0.5f, 1.5f, 0.9f};
  conv.FoldBatchNorm(&bn);
  bn.set_frozen(true);
  Tensor in;
  in.Resize(2, {4, 4, 2});
  in.data = RandomValues(in.data.size(), 9);
  Tensor y, din;
  conv.Forward(in, &y, true);
  const FloatBuffer r = RandomValues(y.data.size(), 17);
  Tensor dout = y;
  dout.data = r;
  conv.Backward(in, y, dout, &din);
  auto loss = [&]() {
    Tensor o;
    conv.Forward(in, &o, true);
    return Projected(o, r);
  };
  auto check = [&](FloatBuffer& values, const FloatBuffer& grads, const std::string& what) {
    CheckAgainstCentralDifferences(values.data(), grads.data(), values.size(), loss, what);
  };
  std::vector<ParameterRef> params;
  conv.Parameters(&params);
  const FloatBuffer grad_w(params[0].grad, params[0].grad + params[0].size);
  const FloatBuffer grad_b(params[1].grad, params[1].grad + params[1].size);
  const FloatBuffer grad_gamma = bn.grad_gamma, grad_beta = bn.grad_beta;
  check(conv.weights(), grad_w, "w");
  check(conv.bias(), grad_b, "b");
  check(bn.gamma, grad_gamma, "gamma");
  check(bn.beta, grad_beta, "beta");
}

// A residual network end to end: the add must route gradients to both its
// inputs. Checks parameter gradients of the whole network's loss.
TEST(GradientCheck, NetworkWithResidualAdd) {
  // Smaller head for a quick check: 8x8 input.
  auto net_or = PresetNetwork("ds_cnn", {8, 8, 1}, 5);
  ASSERT_NE(net_or, nullptr);
  Network& net = *net_or;
  // Evaluation-mode batch norm keeps the loss a smooth function of weights.
  const FloatBuffer images = RandomValues(3 * 64, 21, 1.0f);
  const int32_t labels[3] = {1, 7, 4};
  auto loss = [&]() {
    const Tensor& logits = net.Forward(images.data(), 3, false);
    return SoftmaxCrossEntropy(logits, labels, nullptr);
  };
  // Analytic gradients with frozen BN statistics in eval mode are not what
  // training computes, so compare in training mode with BN replaced by
  // folding (frozen) — which is exactly the QAT path without quantization.
  for (int i = 0; i < net.layer_count(); ++i) {
    auto* weighted = dynamic_cast<WeightedLayer*>(net.layer(i));
    auto* bn = i + 1 < net.layer_count() ? dynamic_cast<BatchNormLayer*>(net.layer(i + 1)) : nullptr;
    if (weighted && bn) {
      weighted->FoldBatchNorm(bn);
      bn->set_frozen(true);
    }
  }
  Tensor grad;
  const Tensor& logits = net.Forward(images.data(), 3, true);
  SoftmaxCrossEntropy(logits, labels, &grad);
  net.ZeroGradients();
  net.Backward(grad);
  std::vector<ParameterRef> params;
  net.Parameters(&params);
  int checked = 0;
  for (auto& p : params) {
    const std::vector<float> analytic(p.grad, p.grad + p.size);
    const size_t stride = std::max<size_t>(1, p.size / 6);
    CheckAgainstCentralDifferences(p.value, analytic.data(), p.size, loss, "parameter", stride);
    checked += static_cast<int>((p.size + stride - 1) / stride);
  }
  EXPECT_GT(checked, 50);
}

// LSQ differentiates the straight-through surrogate of the fake-quantized
// weight, w_hat(s) = s * (clamp(w / s) + c) with c = round(v0) - v0 held at
// its value at the current scale (v0 = clamp(w / s0)): equal to
// FakeQuantize(w) at s0, with derivative round(v) - v inside the range and
// +-qmax outside. This computes sum(w_hat * R) of that surrogate, with
// `scales` giving each channel's s.
double SurrogateLoss(const FloatBuffer& w, const FloatBuffer& offsets,
                     const std::vector<WeightQuantizer::ChannelSpan>& channels, const std::vector<double>& scales,
                     int bits, const FloatBuffer& r) {
  const double qmax = WeightQmax(bits);
  double loss = 0;
  for (size_t c = 0; c < channels.size(); ++c) {
    for (size_t j = 0; j < channels[c].count; ++j) {
      const size_t i = channels[c].first + j * channels[c].stride;
      const double v = std::clamp(w[i] / scales[c], -qmax, qmax);
      loss += r[i] * scales[c] * (v + offsets[i]);
    }
  }
  return loss;
}

// Learned weight scales (LSQ) of `settings`: the weight gradient passes
// straight through inside the range and stops outside; the scale gradient,
// undone of its 1 / sqrt(N * qmax) factor, matches central differences of
// SurrogateLoss in each channel's scale (in the one shared scale when
// per-tensor).
void CheckLearnedWeightScaleGradient(const WeightQuantization& settings) {
  // Three channels of eight weights, interleaved as a depthwise layer stores
  // them (channel c at c + 3j), so the spans' strides are exercised.
  constexpr int kChannels = 3;
  constexpr size_t kPerChannel = 8;
  std::vector<WeightQuantizer::ChannelSpan> channels;
  for (int c = 0; c < kChannels; ++c) channels.push_back({static_cast<size_t>(c), kPerChannel, kChannels});
  const size_t count = kChannels * kPerChannel;
  const FloatBuffer w = RandomValues(count, 31);
  const FloatBuffer r = RandomValues(count, 37);

  WeightQuantizer quantizer;
  quantizer.Configure(settings, channels, count);
  FloatBuffer w_hat(count);
  quantizer.Forward(w.data(), false, w_hat.data());  // min-max scales
  quantizer.set_learned(true);
  // Learned scales below min-max clip the largest weights: both branches of
  // the gradient are exercised.
  for (float& s : quantizer.mutable_scales()) s *= 0.85f;
  quantizer.Forward(w.data(), true, w_hat.data());
  FloatBuffer grad = r;
  quantizer.Backward(w.data(), grad.data());

  const int bits = settings.bits;
  const double qmax = WeightQmax(bits);
  const FloatBuffer& scales = quantizer.scales();
  FloatBuffer offsets(count);
  int clipped = 0;
  for (int c = 0; c < kChannels; ++c) {
    for (size_t j = 0; j < kPerChannel; ++j) {
      const size_t i = c + j * kChannels;
      const float v = w[i] / scales[c];
      const bool inside = v >= -qmax && v <= qmax;
      clipped += inside ? 0 : 1;
      const float v0 = std::clamp(v, static_cast<float>(-qmax), static_cast<float>(qmax));
      offsets[i] = RoundHalfAway(v0) - v0;
      EXPECT_FLOAT_EQ(w_hat[i], scales[c] * RoundHalfAway(v0)) << "w_hat[" << i << "]";
      EXPECT_EQ(grad[i], inside ? r[i] : 0.0f) << "straight-through gradient [" << i << "]";
    }
  }
  EXPECT_GT(clipped, 0);
  EXPECT_LT(clipped, static_cast<int>(count) / 2);

  // Steps well inside one rounding interval of every weight.
  const FloatBuffer& scale_grads = quantizer.scale_gradients();
  std::vector<double> base(scales.begin(), scales.end());
  auto numeric = [&](const std::vector<int>& moved) {
    const double step = 1e-4 * base[moved[0]];
    std::vector<double> up = base, down = base;
    for (int c : moved) {
      up[c] += step;
      down[c] -= step;
    }
    return (SurrogateLoss(w, offsets, channels, up, bits, r) - SurrogateLoss(w, offsets, channels, down, bits, r)) /
           (2 * step);
  };
  auto expect_match = [](double analytic, double numeric, const std::string& what) {
    EXPECT_NEAR(analytic, numeric, 1e-3 + 1e-3 * std::fabs(numeric)) << what;
  };
  if (settings.per_tensor) {
    // One scale: each channel reports the mean of the channels' sums.
    const double factor = kChannels * std::sqrt(count * qmax);
    for (int c = 0; c < kChannels; ++c) {
      expect_match(scale_grads[c] * factor, numeric({0, 1, 2}), "per-tensor scale, channel " + std::to_string(c));
    }
  } else {
    const double factor = std::sqrt(kPerChannel * qmax);
    for (int c = 0; c < kChannels; ++c) {
      expect_match(scale_grads[c] * factor, numeric({c}), "scale of channel " + std::to_string(c));
    }
  }
}

TEST(GradientCheck, LearnedWeightScalesPerChannel) {
  WeightQuantization settings;
  settings.bits = 4;
  CheckLearnedWeightScaleGradient(settings);
}

TEST(GradientCheck, LearnedWeightScalesPerTensor) {
  WeightQuantization settings;
  settings.bits = 3;
  settings.per_tensor = true;
  CheckLearnedWeightScaleGradient(settings);
}

}  // namespace
}  // namespace qatlab
