// The export round trip: a quantized network, exported, serialized by the
// .qmodel writer and run on the C kernels, produces the int8 logits the
// fake-quantized network predicts (up to requantization rounding).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <random>

#include "engine/integer_export.h"
#include "engine/integer_runner.h"
#include "engine/job_spec.h"
#include "engine/network.h"
#include "engine/qmodel_writer.h"
#include "tests/engine/preset_network.h"

namespace qatlab {
namespace {

// Images with the MNIST value grid (pixel / 255) so the input quantization
// is exact.
FloatBuffer RandomImages(int count, int size, uint32_t seed) {
  std::mt19937 random(seed);
  std::uniform_int_distribution<int> pixel(0, 255);
  FloatBuffer images(static_cast<size_t>(count) * size);
  for (float& v : images) v = static_cast<float>(pixel(random)) / 255.0f;
  return images;
}

struct RoundTrip {
  int logits = 0;
  int exact = 0;       // integer == fake-quant
  int within_one = 0;  // |integer - fake-quant| <= 1 LSB
  int same_class = 0;
  int images = 0;
};

v1::LayerSpec Layer(const std::string& type, int filters = 0, int pool = 0) {
  v1::LayerSpec layer;
  layer.set_type(type);
  layer.set_filters(filters);
  layer.set_kernel(filters > 0 ? 3 : 0);
  layer.set_padding(filters > 0 ? 1 : 0);
  layer.set_pool(pool);
  return layer;
}

// A preset, or "avg_cnn": the cnn preset with average instead of max
// pooling (2x2 windows: a quarter of their integer sums are exact ties).
std::vector<v1::LayerSpec> ModelLayers(const std::string& name) {
  if (name == "avg_cnn") {
    v1::LayerSpec dense;
    dense.set_type("dense");
    dense.set_units(10);
    return {Layer("conv2d", 8), Layer("relu"),          Layer("avgpool", 0, 2), Layer("conv2d", 16),
            Layer("relu"),      Layer("avgpool", 0, 2), Layer("flatten"),       dense};
  }
  return PresetLayerSpecs(name);
}

RoundTrip ExportAndCompare(const std::string& preset, const QuantizationSettings& settings, bool train_steps) {
  RoundTrip result;
  const std::vector<LayerConfig> layers = EngineLayers(ModelLayers(preset));
  const ImageShape shape{28, 28, 1};
  auto net_or = Network::Create(layers, shape, 3);
  EXPECT_TRUE(net_or.ok());
  Network& net = **net_or;
  const int n = 64;
  const FloatBuffer calibration = RandomImages(n, shape.size(), 1);
  if (train_steps) {
    // A few training forwards give batch norms non-trivial statistics.
    for (int i = 0; i < 3; ++i) net.Forward(calibration.data(), n, true);
  }
  net.EnableQuantization(settings);
  net.BeginCalibration(n);
  net.Forward(calibration.data(), n, false);
  net.EndCalibration(RangeMethod::kMinMax, 99.99);

  const FloatBuffer images = RandomImages(n, shape.size(), 2);
  const Tensor& logits = net.Forward(images.data(), n, false);
  const QuantParams out = net.quantizer(net.layer_count())->params();

  auto integer_model = ExportIntegerModel(net, preset);
  EXPECT_TRUE(integer_model.ok()) << integer_model.status().ToString();
  if (!integer_model.ok()) return result;
  auto bytes = WriteQModel(*integer_model);
  EXPECT_TRUE(bytes.ok()) << bytes.status().ToString();
  if (!bytes.ok()) return result;
  auto runner = IntegerRunner::Open(*bytes);
  EXPECT_TRUE(runner.ok()) << runner.status().ToString();
  if (!runner.ok()) return result;
  std::vector<int8_t> input(shape.size()), output(runner->output_bytes());
  const int classes = net.num_classes();
  for (int i = 0; i < n; ++i) {
    QuantizeFloatImage(images.data() + static_cast<size_t>(i) * shape.size(), shape.size(), runner->input_scale(),
                       runner->input_zero_point(), input.data());
    EXPECT_TRUE(runner->Run(input.data(), output.data()).ok());
    int fake_best = 0, int_best = 0;
    for (int c = 0; c < classes; ++c) {
      const float fake_q = std::round(logits.sample(i)[c] / out.scale) + out.zero_point;
      ++result.logits;
      if (fake_q == output[c]) ++result.exact;
      if (std::fabs(fake_q - output[c]) <= 1.0f) ++result.within_one;
      if (logits.sample(i)[c] > logits.sample(i)[fake_best]) fake_best = c;
      if (output[c] > output[int_best]) int_best = c;
    }
    ++result.images;
    if (fake_best == int_best) ++result.same_class;
  }
  return result;
}

class ExportRoundTrip : public testing::TestWithParam<std::tuple<std::string, int>> {};

TEST_P(ExportRoundTrip, IntegerLogitsMatchFakeQuantizedLogits) {
  const auto& [preset, bits] = GetParam();
  QuantizationSettings settings;
  int weighted = 0;
  for (const LayerConfig& l : EngineLayers(ModelLayers(preset))) weighted += IsWeighted(l.kind) ? 1 : 0;
  settings.weight_bits.assign(weighted, bits);
  const RoundTrip r = ExportAndCompare(preset, settings, true);
  ASSERT_GT(r.logits, 0);
  // The fake-quantized graph rounds where and as the integer model does, so
  // only float summation order can move a value across a rounding boundary:
  // nearly every logit is identical. (Two-step requantization rounding, or
  // float average pooling, each leave several percent of logits off by one.)
  std::printf("%s w%d: %d of %d logits identical, %d within one LSB, %d of %d classes agree\n", preset.c_str(), bits,
              r.exact, r.logits, r.within_one, r.same_class, r.images);
  EXPECT_GE(r.exact, r.logits * 99 / 100) << preset << " w" << bits;
  EXPECT_EQ(r.within_one, r.logits) << preset << " w" << bits;
  // Random weights make many near-ties between classes.
  EXPECT_GE(r.same_class, r.images * 98 / 100) << preset << " w" << bits;
}

INSTANTIATE_TEST_SUITE_P(Presets, ExportRoundTrip,
                         testing::Values(std::make_tuple("mlp", 8), std::make_tuple("cnn", 8),
                                         std::make_tuple("cnn_bn", 4), std::make_tuple("ds_cnn", 8),
                                         std::make_tuple("cnn", 2), std::make_tuple("ds_cnn", 4),
                                         std::make_tuple("avg_cnn", 8), std::make_tuple("avg_cnn", 4)));

TEST(QuantizeMultiplier, RepresentsTheRealMultiplier) {
  for (double m : {0.75, 0.5, 1e-3, 0.999999, 1.5, 3e-6}) {
    int32_t multiplier = 0, shift = 0;
    QuantizeMultiplier(m, &multiplier, &shift);
    EXPECT_GE(multiplier, 1 << 30);
    const double back = multiplier * std::ldexp(1.0, shift - 31);
    EXPECT_NEAR(back, m, m * 1e-9);
  }
}

TEST(Export, RequiresQuantizedNetwork) {
  auto net = PresetNetwork("mlp", {28, 28, 1}, 1);
  ASSERT_NE(net, nullptr);
  auto exported = ExportIntegerModel(*net, "mlp");
  ASSERT_FALSE(exported.ok());
  EXPECT_EQ(exported.status().code(), StatusCode::kFailedPrecondition);
}

// Folded batch norm and fused ReLU appear as one conv op with the clamp.
TEST(Export, FoldsBatchNormAndFusesRelu) {
  auto net = QuantizedPresetNetwork("cnn_bn", {8, 8, 8});
  ASSERT_NE(net, nullptr);
  const FloatBuffer images = RandomImages(8, 784, 4);
  net->BeginCalibration(8);
  net->Forward(images.data(), 8, false);
  net->EndCalibration(RangeMethod::kMinMax, 99.99);
  auto m = ExportIntegerModel(*net, "cnn_bn");
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  ASSERT_EQ(m->ops.size(), 5u);  // conv, maxpool, conv, maxpool, dense
  EXPECT_EQ(m->ops[0].kind, IntegerOpKind::kConv2D);
  EXPECT_EQ(m->ops[0].act_min, m->tensors[m->ops[0].output].zero_point);  // fused ReLU
  EXPECT_EQ(m->ops[1].kind, IntegerOpKind::kMaxPool);
  EXPECT_EQ(m->tensors[m->ops[1].output].zero_point, m->tensors[m->ops[1].input].zero_point);
  EXPECT_EQ(m->ops[4].kind, IntegerOpKind::kDense);
  EXPECT_EQ(m->ops[4].act_min, -128);
  EXPECT_EQ(m->tensors[0].zero_point, -128);
}

}  // namespace
}  // namespace qatlab
