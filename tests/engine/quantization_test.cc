// Fake quantization, observers, batch-norm folding and PTQ range choices.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "engine/layers.h"
#include "engine/network.h"
#include "engine/quantizers.h"
#include "tests/engine/preset_network.h"

namespace qatlab {
namespace {

TEST(ActivationParams, AsymmetricRangeIncludesZeroExactly) {
  const QuantParams p = ActivationParams(0.5f, 6.0f, 8, false);  // widened to [0, 6]
  EXPECT_FLOAT_EQ(p.scale, 6.0f / 255.0f);
  EXPECT_EQ(p.zero_point, -128);
  EXPECT_EQ(FakeQuantize(0.0f, p), 0.0f);
  const QuantParams q = ActivationParams(-1.0f, 3.0f, 8, false);
  EXPECT_EQ(FakeQuantize(0.0f, q), 0.0f);
  EXPECT_NEAR(q.zero_point, std::lround(-128 + 1.0 / (4.0 / 255.0)), 0);
}

TEST(ActivationParams, SymmetricHasZeroZeroPoint) {
  const QuantParams p = ActivationParams(-2.0f, 1.0f, 8, true);
  EXPECT_EQ(p.zero_point, 0);
  EXPECT_FLOAT_EQ(p.scale, 2.0f / 127.0f);
}

TEST(FakeQuantize, RoundsToGridAndClamps) {
  QuantParams p;
  p.scale = 0.5f;
  p.zero_point = 0;
  p.qmin = -4;
  p.qmax = 3;
  EXPECT_EQ(FakeQuantize(0.74f, p), 0.5f);
  EXPECT_EQ(FakeQuantize(0.75f, p), 1.0f);  // half away from zero
  EXPECT_EQ(FakeQuantize(-0.75f, p), -1.0f);
  EXPECT_EQ(FakeQuantize(10.0f, p), 1.5f);    // clamped at qmax
  EXPECT_EQ(FakeQuantize(-10.0f, p), -2.0f);  // clamped at qmin
}

TEST(ActivationQuantizer, StraightThroughInsideRangeZeroOutside) {
  ActivationQuantizer q(8, false);
  q.SetRange(-1.0f, 1.0f);
  q.set_frozen(true);
  Tensor x;
  x.Resize(1, {1, 1, 4});
  x.data = {-2.0f, -0.3f, 0.4f, 1.5f};
  q.Forward(&x, true);
  EXPECT_NEAR(x.data[1], -0.3f, 1.0f / 255.0f);
  EXPECT_NEAR(x.data[0], -1.0f, 1.0f / 255.0f);  // clamped
  Tensor g;
  g.Resize(1, {1, 1, 4});
  g.data = {1.0f, 2.0f, 3.0f, 4.0f};
  q.Backward(&g);
  EXPECT_EQ(g.data[0], 0.0f);
  EXPECT_EQ(g.data[1], 2.0f);
  EXPECT_EQ(g.data[2], 3.0f);
  EXPECT_EQ(g.data[3], 0.0f);
}

TEST(ActivationQuantizer, MovingAverageObserverTracksRange) {
  ActivationQuantizer q(8, false);
  Tensor x;
  x.Resize(1, {1, 1, 2});
  x.data = {0.0f, 1.0f};
  q.Forward(&x, true);  // first batch initializes the range
  EXPECT_FLOAT_EQ(q.range_max(), 1.0f);
  for (int i = 0; i < 100; ++i) {
    x.data = {0.0f, 3.0f};
    q.Forward(&x, true);
  }
  // EMA with constant 0.01 after 100 steps: 3 - 2 * 0.99^100.
  EXPECT_NEAR(q.range_max(), 3.0f - 2.0f * std::pow(0.99f, 100.0f), 1e-3);
  q.set_frozen(true);
  const float frozen = q.range_max();
  x.data = {0.0f, 10.0f};
  q.Forward(&x, true);
  EXPECT_EQ(q.range_max(), frozen);
  // Evaluation never moves the observer.
  q.set_frozen(false);
  q.Forward(&x, false);
  EXPECT_EQ(q.range_max(), frozen);
}

TEST(ActivationQuantizer, LearnedStepSizeGetsScaleGradient) {
  ActivationQuantizer q(8, false);
  q.SetRange(0.0f, 1.0f);
  q.EnableLearnedStepSize();
  Tensor x;
  x.Resize(1, {1, 1, 3});
  x.data = {0.3f, 2.0f, 0.9f};  // 2.0 is clipped: d/ds = qmax - z
  q.Forward(&x, true);
  Tensor g;
  g.Resize(1, {1, 1, 3});
  g.data = {0.0f, 1.0f, 0.0f};
  *q.learned_scale_grad() = 0.0f;
  q.Backward(&g);
  const QuantParams p = q.params();
  const double expected = (p.qmax - p.zero_point) / std::sqrt(3.0 * p.qmax);
  EXPECT_NEAR(*q.learned_scale_grad(), expected, 1e-4);
}

TEST(WeightScale, MinMaxUsesLargestMagnitude) {
  const float w[4] = {0.1f, -0.5f, 0.25f, 0.3f};
  EXPECT_FLOAT_EQ(ChooseWeightScale(w, 4, 1, 8, RangeMethod::kMinMax), 0.5f / 127.0f);
  EXPECT_FLOAT_EQ(ChooseWeightScale(w, 4, 1, 4, RangeMethod::kMinMax), 0.5f / 7.0f);
  // Strided: elements 0 and 2 only.
  EXPECT_FLOAT_EQ(ChooseWeightScale(w, 2, 2, 8, RangeMethod::kMinMax), 0.25f / 127.0f);
}

TEST(WeightScale, MseClipsAnOutlierAtLowBits) {
  std::mt19937 random(3);
  std::normal_distribution<float> normal(0.0f, 0.1f);
  std::vector<float> w(1000);
  for (float& v : w) v = normal(random);
  w[17] = 1.0f;  // one outlier
  const float minmax = ChooseWeightScale(w.data(), w.size(), 1, 2, RangeMethod::kMinMax);
  const float mse = ChooseWeightScale(w.data(), w.size(), 1, 2, RangeMethod::kMse);
  EXPECT_LT(mse, 0.5f * minmax);
  auto error = [&](float s) {
    QuantParams p;
    p.scale = s;
    p.qmin = -1;
    p.qmax = 1;
    double e = 0;
    for (float v : w) e += std::pow(FakeQuantize(v, p) - v, 2.0);
    return e;
  };
  EXPECT_LT(error(mse), error(minmax));
}

std::vector<float> Gaussian(size_t n, uint32_t seed) {
  std::mt19937 random(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> v(n);
  for (float& x : v) x = normal(random);
  return v;
}

TEST(ActivationRange, PercentileAndMseNarrowerThanMinMaxWithOutliers) {
  std::vector<float> values = Gaussian(100000, 1);
  values[5] = 40.0f;
  values[6] = -35.0f;
  float lo, hi;
  std::vector<float> copy = values;
  ChooseActivationRange(&copy, RangeMethod::kMinMax, 99.99, 8, false, &lo, &hi);
  EXPECT_FLOAT_EQ(hi, 40.0f);
  EXPECT_FLOAT_EQ(lo, -35.0f);
  copy = values;
  ChooseActivationRange(&copy, RangeMethod::kPercentile, 99.9, 8, false, &lo, &hi);
  EXPECT_GT(hi, 2.5f);  // the 99.9th percentile of N(0,1) is 3.09
  EXPECT_LT(hi, 3.7f);
  EXPECT_LT(lo, -2.5f);
  EXPECT_GT(lo, -3.7f);
  copy = values;
  ChooseActivationRange(&copy, RangeMethod::kMse, 99.99, 4, false, &lo, &hi);
  EXPECT_LT(hi, 40.0f);
  EXPECT_GT(hi, 1.0f);
}

TEST(ActivationQuantizer, CalibrationSetsRangeFromRecordedValues) {
  ActivationQuantizer q(8, false);
  q.BeginCalibration(2);
  Tensor x;
  x.Resize(2, {1, 1, 3});
  x.data = {0.0f, 0.5f, 2.0f, -1.0f, 0.25f, 1.0f};
  const FloatBuffer before = x.data;
  q.Forward(&x, false);
  EXPECT_EQ(x.data, before);  // calibration does not quantize
  q.EndCalibration(RangeMethod::kMinMax, 99.99);
  EXPECT_FLOAT_EQ(q.range_min(), -1.0f);
  EXPECT_FLOAT_EQ(q.range_max(), 2.0f);
}

// Folding batch norm into the convolution computes what conv then BN
// (evaluation mode) compute.
TEST(BatchNormFolding, FoldedConvolutionEqualsConvolutionThenBatchNorm) {
  Conv2DLayer conv(4, 3, 1, 1);
  BatchNormLayer bn;
  const ImageShape out_shape = conv.Setup({5, 5, 3});
  bn.Setup(out_shape);
  conv.Initialize(11);
  bn.gamma = {1.3f, 0.7f, -0.4f, 2.0f};
  bn.beta = {0.1f, -0.2f, 0.0f, 0.5f};
  bn.running_mean = {0.05f, -0.1f, 0.2f, 0.0f};
  bn.running_var = {0.4f, 1.2f, 0.8f, 2.5f};
  Tensor in;
  in.Resize(2, {5, 5, 3});
  std::mt19937 random(4);
  std::uniform_real_distribution<float> uniform(-1, 1);
  for (float& v : in.data) v = uniform(random);
  Tensor conv_out, reference;
  conv.Forward(in, &conv_out, false);
  bn.Forward(conv_out, &reference, false);
  conv.FoldBatchNorm(&bn);
  Tensor folded, passed;
  conv.Forward(in, &folded, false);
  bn.Forward(folded, &passed, false);
  ASSERT_EQ(passed.data.size(), reference.data.size());
  for (size_t i = 0; i < reference.data.size(); ++i) EXPECT_NEAR(passed.data[i], reference.data[i], 1e-5);
}

// Per-channel weight quantization: every effective weight lies on its
// channel's grid of 2^(b-1) - 1 levels per sign.
TEST(WeightQuantization, EffectiveWeightsLieOnPerChannelGrid) {
  DenseLayer dense(3);
  dense.Setup({1, 1, 8});
  dense.Initialize(2);
  dense.weights()[5] = 2.0f;  // channel 0 gets a large range
  WeightQuantization wq;
  wq.bits = 4;
  dense.QuantizeWeights(wq);
  const auto& scales = dense.weight_scales();
  EXPECT_FLOAT_EQ(scales[0], 2.0f / 7.0f);
  EXPECT_LT(scales[1], scales[0]);
  for (size_t i = 0; i < dense.effective_weights().size(); ++i) {
    const float s = scales[i / 8];
    const float q = dense.effective_weights()[i] / s;
    EXPECT_NEAR(q, std::round(q), 1e-4);
    EXPECT_LE(std::fabs(q), 7.0f + 1e-4);
  }
}

// MSE-chosen weight scales move only with training forwards, and freezing
// keeps the ones in use: evaluating (during or after QAT) and exporting see
// the scales the weights were trained against. A fresh search at the end of
// QAT once cost ds_cnn w4a8 five points.
TEST(WeightQuantization, MseScalesMoveOnlyInTrainingAndFreezeKeepsThem) {
  DenseLayer dense(4);
  dense.Setup({1, 1, 16});
  dense.Initialize(5);
  WeightQuantization wq;
  wq.bits = 4;
  wq.method = RangeMethod::kMse;
  dense.QuantizeWeights(wq);
  const FloatBuffer chosen = dense.weight_scales();
  for (float& w : dense.weights()) w *= 3.0f;  // as if training moved them
  Tensor in, out;
  in.Resize(2, {1, 1, 16});
  std::fill(in.data.begin(), in.data.end(), 0.5f);
  for (int i = 0; i < 40; ++i) dense.Forward(in, &out, false);
  EXPECT_EQ(dense.weight_scales(), chosen) << "evaluation moved the scales";
  dense.FreezeWeightScales();
  EXPECT_EQ(dense.weight_scales(), chosen) << "freezing searched again";
  dense.Forward(in, &out, true);
  EXPECT_EQ(dense.weight_scales(), chosen) << "frozen scales moved in training";

  DenseLayer trained(4);
  trained.Setup({1, 1, 16});
  trained.Initialize(5);
  trained.QuantizeWeights(wq);
  for (float& w : trained.weights()) w *= 3.0f;
  trained.Forward(in, &out, true);  // the first training forward searches
  for (size_t c = 0; c < chosen.size(); ++c)
    EXPECT_NEAR(trained.weight_scales()[c], 3.0f * chosen[c], 1e-5f * chosen[c] + 1e-7f);
}

TEST(NetworkQuantization, QuantizersSitAtFusedGroupBoundaries) {
  auto net = QuantizedPresetNetwork("cnn_bn", {8, 8, 8});
  ASSERT_NE(net, nullptr);
  // conv bn relu maxpool conv bn relu maxpool flatten dense:
  // acts 0 (input), 3 (after relu), 7 (after relu), 10 (logits).
  std::vector<int> quantized;
  for (int a = 0; a <= net->layer_count(); ++a) {
    if (net->quantizer(a) != nullptr) quantized.push_back(a);
  }
  EXPECT_EQ(quantized, (std::vector<int>{0, 3, 7, 10}));
  const QuantParams input = net->quantizer(0)->params();
  EXPECT_EQ(input.zero_point, -128);
  EXPECT_FLOAT_EQ(input.scale, 1.0f / 255.0f);
}

}  // namespace
}  // namespace qatlab
