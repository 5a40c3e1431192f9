// The HAWQ-style sensitivity (engine/hessian_trace.h): Hutchinson's trace
// estimate against the Hessian computed exactly, one coordinate at a time,
// by central differences of the backward pass' gradients on networks small
// enough for that; the probes' distribution; the batch-norm baking; Omega.
#include "engine/hessian_trace.h"

#include <gtest/gtest.h>

#include <cmath>
#include <memory>
#include <random>
#include <vector>

#include "engine/layers.h"
#include "engine/network.h"

namespace qatlab {
namespace {

LayerConfig Dense(int units) {
  LayerConfig layer;
  layer.kind = LayerKind::kDense;
  layer.dense.units = units;
  return layer;
}

LayerConfig Conv(int filters, int kernel) {
  LayerConfig layer;
  layer.kind = LayerKind::kConv2D;
  layer.convolution.filters = filters;
  layer.convolution.kernel = kernel;
  return layer;
}

LayerConfig Plain(LayerKind kind) {
  LayerConfig layer;
  layer.kind = kind;
  return layer;
}

std::unique_ptr<Network> Build(const std::vector<LayerConfig>& layers, const ImageShape& input, uint64_t seed) {
  auto net = Network::Create(layers, input, seed);
  EXPECT_TRUE(net.ok()) << net.status().ToString();
  return net.ok() ? std::move(*net) : nullptr;
}

// A batch of random images and labels.
struct Batch {
  std::vector<float> images;
  std::vector<int32_t> labels;
  int n = 0;
};

Batch RandomBatch(const ImageShape& shape, int n, int classes, uint32_t seed) {
  std::mt19937 random(seed);
  std::uniform_real_distribution<float> pixel(0.0f, 1.0f);
  Batch batch;
  batch.n = n;
  batch.images.resize(static_cast<size_t>(n) * shape.size());
  for (float& x : batch.images) x = pixel(random);
  for (int i = 0; i < n; ++i) batch.labels.push_back(static_cast<int32_t>(random() % classes));
  return batch;
}

// The weights of every weighted layer, concatenated, and where each layer's start.
struct Coordinates {
  std::vector<ParameterRef> blocks;  // weights and gradient per weighted layer
  std::vector<size_t> offset;        // of each block in the concatenation
  size_t size = 0;
};

Coordinates WeightCoordinates(Network* net) {
  Coordinates c;
  for (int i = 0; i < net->layer_count(); ++i) {
    auto* weighted = dynamic_cast<WeightedLayer*>(net->layer(i));
    if (weighted == nullptr) continue;
    std::vector<ParameterRef> params;
    weighted->Parameters(&params);
    c.offset.push_back(c.size);
    c.blocks.push_back(params.front());
    c.size += params.front().size;
  }
  return c;
}

// The gradient of the batch's mean cross-entropy, concatenated, in one
// forward and backward of the whole batch (independent of the code under
// test, which splits batches).
std::vector<double> FullGradient(Network* net, const Coordinates& c, const Batch& batch) {
  const Tensor& logits = net->Forward(batch.images.data(), batch.n, true);
  Tensor grad;
  SoftmaxCrossEntropy(logits, batch.labels.data(), &grad);
  net->Backward(grad);
  std::vector<double> g;
  for (const ParameterRef& block : c.blocks) g.insert(g.end(), block.grad, block.grad + block.size);
  return g;
}

float* Coordinate(const Coordinates& c, size_t k) {
  size_t b = c.blocks.size() - 1;
  while (c.offset[b] > k) --b;
  return c.blocks[b].value + (k - c.offset[b]);
}

// The Hessian, column by column: H e_k = (g(w + h e_k) - g(w - h e_k)) / 2h.
std::vector<std::vector<double>> ExactHessian(Network* net, const Batch& batch) {
  const Coordinates c = WeightCoordinates(net);
  std::vector<std::vector<double>> hessian(c.size);
  for (size_t k = 0; k < c.size; ++k) {
    float* w = Coordinate(c, k);
    const float saved = *w;
    const float h = 1e-3f * std::max(1.0f, std::fabs(saved));
    *w = saved + h;
    const std::vector<double> up = FullGradient(net, c, batch);
    *w = saved - h;
    const std::vector<double> down = FullGradient(net, c, batch);
    *w = saved;
    const double step = (static_cast<double>(saved + h) - static_cast<double>(saved - h));
    hessian[k].resize(c.size);
    for (size_t j = 0; j < c.size; ++j) hessian[k][j] = (up[j] - down[j]) / step;
  }
  return hessian;
}

double BlockTrace(const std::vector<std::vector<double>>& hessian, size_t begin, size_t end) {
  double trace = 0;
  for (size_t k = begin; k < end; ++k) trace += hessian[k][k];
  return trace;
}

// A network without ReLUs (a smooth loss, so the coordinate-wise differences
// are exact up to rounding): conv 3x3 -> 2x2x2, flatten, dense(3).
std::vector<LayerConfig> SmoothTwoLayerNet() { return {Conv(2, 3), Plain(LayerKind::kFlatten), Dense(3)}; }

TEST(HessianTraceTest, ManyProbesMatchTheExactTraceOfEachLayer) {
  const ImageShape input{4, 4, 1};
  std::unique_ptr<Network> net = Build(SmoothTwoLayerNet(), input, 3);
  ASSERT_NE(net, nullptr);
  const Batch batch = RandomBatch(input, 24, 3, 5);
  const std::vector<std::vector<double>> hessian = ExactHessian(net.get(), batch);
  const Coordinates c = WeightCoordinates(net.get());
  ASSERT_EQ(c.blocks.size(), 2u);
  const double conv_trace = BlockTrace(hessian, 0, c.offset[1]);
  const double dense_trace = BlockTrace(hessian, c.offset[1], c.size);
  // The layers' traces differ by far more than the tolerance, so estimates
  // sliced at the wrong place, or swapped, would fail.
  ASSERT_GT(std::max(conv_trace, dense_trace), 2 * std::min(conv_trace, dense_trace))
      << "conv " << conv_trace << ", dense " << dense_trace;

  const std::vector<LayerTrace> traces =
      EstimateWeightHessianTraces(net.get(), batch.images.data(), batch.labels.data(), batch.n, 4000, 7, 1e-3);
  ASSERT_EQ(traces.size(), 2u);
  EXPECT_EQ(traces[0].layer, 0);
  EXPECT_EQ(traces[1].layer, 2);
  EXPECT_EQ(traces[0].parameters, 18);
  EXPECT_EQ(traces[1].parameters, 24);
  EXPECT_NEAR(traces[0].trace, conv_trace, 0.03 * std::fabs(conv_trace));
  EXPECT_NEAR(traces[1].trace, dense_trace, 0.03 * std::fabs(dense_trace));
}

TEST(HessianTraceTest, WeightsAreRestoredBitForBit) {
  const ImageShape input{4, 4, 1};
  std::unique_ptr<Network> net = Build(SmoothTwoLayerNet(), input, 3);
  ASSERT_NE(net, nullptr);
  const Batch batch = RandomBatch(input, 8, 3, 5);
  const Coordinates c = WeightCoordinates(net.get());
  std::vector<float> before;
  for (size_t k = 0; k < c.size; ++k) before.push_back(*Coordinate(c, k));
  EstimateWeightHessianTraces(net.get(), batch.images.data(), batch.labels.data(), batch.n, 3, 1, 1e-3);
  for (size_t k = 0; k < c.size; ++k) EXPECT_EQ(*Coordinate(c, k), before[k]) << k;
}

// Hutchinson's estimate v^T H v has variance 2 * sum over i != j of H_ij^2
// with Rademacher v (v_i^2 = 1, so the diagonal contributes no noise), and
// 2 * ||H||_F^2 with Gaussian v. The spread of many probes tells them apart.
TEST(HessianTraceTest, ProbesAreRademacher) {
  const ImageShape input{2, 2, 1};
  std::unique_ptr<Network> net = Build({Plain(LayerKind::kFlatten), Dense(3)}, input, 11);
  ASSERT_NE(net, nullptr);
  const Batch batch = RandomBatch(input, 16, 3, 13);
  const std::vector<std::vector<double>> hessian = ExactHessian(net.get(), batch);
  double diagonal = 0, off_diagonal = 0;
  for (size_t i = 0; i < hessian.size(); ++i) {
    for (size_t j = 0; j < hessian.size(); ++j) {
      const double h = 0.5 * (hessian[i][j] + hessian[j][i]);
      (i == j ? diagonal : off_diagonal) += h * h;
    }
  }
  const double rademacher = 2 * off_diagonal;
  const double gaussian = 2 * (off_diagonal + diagonal);
  ASSERT_GT(gaussian, 1.3 * rademacher) << "the test network cannot tell the distributions apart";

  constexpr int kProbes = 8000;
  const std::vector<LayerTrace> traces =
      EstimateWeightHessianTraces(net.get(), batch.images.data(), batch.labels.data(), batch.n, kProbes, 17, 1e-3);
  ASSERT_EQ(traces.size(), 1u);
  const double variance = traces[0].standard_error * traces[0].standard_error * kProbes;
  EXPECT_NEAR(variance, rademacher, 0.1 * rademacher) << "Gaussian probes would give " << gaussian;
}

// conv -> batch norm (trained statistics) -> relu -> flatten -> dense.
std::unique_ptr<Network> NetWithBatchNorm(const ImageShape& input) {
  std::unique_ptr<Network> net =
      Build({Conv(3, 3), Plain(LayerKind::kBatchNorm), Plain(LayerKind::kRelu), Plain(LayerKind::kFlatten), Dense(4)},
            input, 21);
  if (net == nullptr) return nullptr;
  auto* bn = dynamic_cast<BatchNormLayer*>(net->layer(1));
  for (int c = 0; c < 3; ++c) {
    bn->gamma[c] = 0.5f + 0.4f * static_cast<float>(c);
    bn->beta[c] = 0.1f * static_cast<float>(c) - 0.05f;
    bn->running_mean[c] = 0.2f - 0.1f * static_cast<float>(c);
    bn->running_var[c] = 0.3f + 0.5f * static_cast<float>(c);
  }
  return net;
}

TEST(HessianTraceTest, BakedBatchNormsComputeTheEvaluationForwardInTraining) {
  const ImageShape input{5, 5, 1};
  std::unique_ptr<Network> net = NetWithBatchNorm(input);
  ASSERT_NE(net, nullptr);
  auto baked = Network::Create(
      {Conv(3, 3), Plain(LayerKind::kBatchNorm), Plain(LayerKind::kRelu), Plain(LayerKind::kFlatten), Dense(4)}, input,
      0);
  ASSERT_TRUE(baked.ok());
  (*baked)->CopyStateFrom(*net);
  BakeBatchNorms(baked->get());
  const Batch batch = RandomBatch(input, 6, 4, 23);
  const Tensor evaluation = net->Forward(batch.images.data(), batch.n, false);
  // Twice: a training forward must not move the statistics either.
  for (int pass = 0; pass < 2; ++pass) {
    const Tensor& training = (*baked)->Forward(batch.images.data(), batch.n, true);
    ASSERT_EQ(training.data.size(), evaluation.data.size());
    for (size_t i = 0; i < training.data.size(); ++i) {
      EXPECT_NEAR(training.data[i], evaluation.data[i], 1e-5f * (1 + std::fabs(evaluation.data[i]))) << i;
    }
  }
}

Dataset RandomDataset(const ImageShape& shape, int n, int classes, uint32_t seed) {
  std::mt19937 random(seed);
  Dataset data;
  data.height = shape.height;
  data.width = shape.width;
  data.channels = shape.channels;
  data.num_classes = classes;
  data.pixels.resize(static_cast<size_t>(n) * shape.size());
  for (uint8_t& p : data.pixels) p = static_cast<uint8_t>(random() % 256);
  for (int i = 0; i < n; ++i) data.labels.push_back(static_cast<int32_t>(random() % classes));
  return data;
}

TEST(HessianTraceTest, OmegaGrowsAsBitsFall) {
  const ImageShape input{5, 5, 1};
  std::unique_ptr<Network> net = NetWithBatchNorm(input);
  ASSERT_NE(net, nullptr);
  const Dataset train = RandomDataset(input, 300, 4, 29);
  HessianSettings settings;
  settings.probes = 16;
  settings.samples = 200;
  auto result = MeasureLayerHessians(*net, train, settings);
  ASSERT_TRUE(result.ok()) << result.status().ToString();
  ASSERT_EQ(result->size(), 2u);
  for (size_t l = 0; l < result->size(); ++l) {
    const v1::LayerHessian& layer = (*result)[l];
    EXPECT_EQ(layer.weighted_layer(), static_cast<int>(l));
    EXPECT_GT(layer.trace(), 0) << l;
    EXPECT_GT(layer.omega_w2(), layer.omega_w4()) << l;
    EXPECT_GT(layer.omega_w4(), layer.omega_w8()) << l;
    EXPECT_GT(layer.omega_w8(), 0) << l;
  }
  EXPECT_EQ((*result)[0].layer(), 0);
  EXPECT_EQ((*result)[0].parameters(), 27);
  EXPECT_EQ((*result)[1].layer(), 4);
  EXPECT_EQ((*result)[1].parameters(), 27 * 4);
}

TEST(HessianTraceTest, DeterministicForASeedAndLeavesTheModelAlone) {
  const ImageShape input{5, 5, 1};
  std::unique_ptr<Network> net = NetWithBatchNorm(input);
  ASSERT_NE(net, nullptr);
  const Dataset train = RandomDataset(input, 300, 4, 31);
  HessianSettings settings;
  settings.probes = 4;
  settings.samples = 100;
  const Batch batch = RandomBatch(input, 4, 4, 37);
  const Tensor before = net->Forward(batch.images.data(), batch.n, false);
  auto first = MeasureLayerHessians(*net, train, settings);
  auto second = MeasureLayerHessians(*net, train, settings);
  settings.seed = 2;
  auto other_seed = MeasureLayerHessians(*net, train, settings);
  ASSERT_TRUE(first.ok() && second.ok() && other_seed.ok());
  for (size_t l = 0; l < first->size(); ++l) {
    EXPECT_EQ((*first)[l].SerializeAsString(), (*second)[l].SerializeAsString()) << l;
    EXPECT_NE((*first)[l].trace(), (*other_seed)[l].trace()) << l;
  }
  const Tensor& after = net->Forward(batch.images.data(), batch.n, false);
  for (size_t i = 0; i < before.data.size(); ++i) EXPECT_EQ(after.data[i], before.data[i]) << i;
  EXPECT_FALSE(dynamic_cast<BatchNormLayer*>(net->layer(1))->folded());
}

TEST(HessianTraceTest, RefusesWhatItCannotMeasure) {
  const ImageShape input{5, 5, 1};
  std::unique_ptr<Network> net = NetWithBatchNorm(input);
  ASSERT_NE(net, nullptr);
  HessianSettings settings;
  EXPECT_EQ(MeasureLayerHessians(*net, Dataset{}, settings).status().code(), StatusCode::kInvalidArgument);
  settings.probes = 0;
  EXPECT_EQ(MeasureLayerHessians(*net, RandomDataset(input, 10, 4, 1), settings).status().code(),
            StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace qatlab
