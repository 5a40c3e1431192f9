// Job specification parsing, defaults and validation: each bad specification
// yields InvalidArgument with a message naming the field or layer.
#include <gtest/gtest.h>

#include "engine/job_spec.h"

namespace qatlab {
namespace {

v1::JobSpec Parse(const std::string& json) {
  auto spec = ParseJobSpecJson(json);
  EXPECT_TRUE(spec.ok()) << spec.status().ToString();
  v1::JobSpec result = spec.ok() ? *spec : v1::JobSpec();
  ApplyJobSpecDefaults(&result);
  return result;
}

TEST(JobSpec, DefaultsFollowTheReferenceProtocol) {
  const v1::JobSpec spec = Parse(R"({"model": {"preset": "cnn"}})");
  EXPECT_EQ(spec.training().optimizer(), "adam");
  EXPECT_DOUBLE_EQ(spec.training().learning_rate(), 1e-3);
  EXPECT_EQ(spec.training().batch_size(), 64);
  EXPECT_EQ(spec.training().epochs(), 10);
  EXPECT_EQ(spec.qat().epochs(), 3);
  EXPECT_DOUBLE_EQ(spec.qat().learning_rate(), 1e-4);
  EXPECT_EQ(spec.ptq().calibration_samples(), 512);
  ASSERT_EQ(spec.configs_size(), 1);
  EXPECT_EQ(spec.configs(0).name(), "w8a8");
  EXPECT_EQ(spec.seed(), 1u);
  EXPECT_TRUE(ValidateJobSpec(spec, {28, 28, 1}, 10).ok());
}

TEST(JobSpec, EveryPresetValidatesOnMnistShape) {
  for (const std::string& preset : ModelPresetNames()) {
    v1::JobSpec spec;
    spec.mutable_model()->set_preset(preset);
    ApplyJobSpecDefaults(&spec);
    const Status status = ValidateJobSpec(spec, {28, 28, 1}, 10);
    EXPECT_TRUE(status.ok()) << preset << ": " << status.ToString();
  }
}

TEST(JobSpec, UnknownJsonFieldIsNamed) {
  auto spec = ParseJobSpecJson(R"({"model": {"preset": "cnn"}, "trainingg": {}})");
  ASSERT_FALSE(spec.ok());
  EXPECT_NE(spec.status().message().find("trainingg"), std::string::npos) << spec.status().message();
}

struct BadSpec {
  const char* what;
  const char* json;
  const char* expected;  // substring of the message
};

class BadSpecTest : public testing::TestWithParam<BadSpec> {};

TEST_P(BadSpecTest, FailsWithMessageNamingTheProblem) {
  const BadSpec& bad = GetParam();
  const v1::JobSpec spec = Parse(bad.json);
  const Status status = ValidateJobSpec(spec, {28, 28, 1}, 10);
  ASSERT_FALSE(status.ok()) << bad.what;
  EXPECT_EQ(status.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(status.message().find(bad.expected), std::string::npos)
      << bad.what << ": message was: " << status.message();
}

INSTANTIATE_TEST_SUITE_P(
    Table, BadSpecTest,
    testing::Values(
        BadSpec{"unknown layer", R"({"model": {"layers": [{"type": "flatten"}, {"type": "dense2", "units": 10}]}})",
                "model.layers[1] (dense2): unknown layer type 'dense2'"},
        BadSpec{"unknown preset", R"({"model": {"preset": "resnet"}})", "unknown preset 'resnet'"},
        BadSpec{"kernel too big",
                R"({"model": {"layers": [{"type": "conv2d", "filters": 4, "kernel": 40}, {"type": "flatten"},
                                         {"type": "dense", "units": 10}]}})",
                "model.layers[0] (conv2d): kernel 40 does not fit input 28x28x1"},
        BadSpec{"wrong class count", R"({"model": {"layers": [{"type": "flatten"}, {"type": "dense", "units": 7}]}})",
                "ends with 7 outputs"},
        BadSpec{"bits too high", R"({"model": {"preset": "mlp"}, "configs": [{"weightBits": 9}]})",
                "configs[0].weight_bits: 9 bits is outside 2..8"},
        BadSpec{"bits too low", R"({"model": {"preset": "mlp"}, "configs": [{"weightBits": 1}]})", "outside 2..8"},
        BadSpec{"per-layer bits count", R"({"model": {"preset": "mlp"}, "configs": [{"layerWeightBits": [8, 4]}]})",
                "configs[0].layer_weight_bits: has 2 entries but the model has 3 weighted layers"},
        BadSpec{"per-layer bits range", R"({"model": {"preset": "mlp"}, "configs": [{"layerWeightBits": [8, 4, 1]}]})",
                "configs[0].layer_weight_bits[2]"},
        BadSpec{"add from unknown",
                R"({"model": {"layers": [{"type": "conv2d", "filters": 1, "kernel": 3, "padding": 1},
                                         {"type": "add", "from": "nowhere"}, {"type": "flatten"},
                                         {"type": "dense", "units": 10}]}})",
                "model.layers[1] (add): `from` names unknown layer 'nowhere'"},
        BadSpec{"add shapes differ",
                R"({"model": {"layers": [{"type": "conv2d", "filters": 4, "kernel": 3, "padding": 1, "name": "a"},
                                         {"type": "conv2d", "filters": 8, "kernel": 3, "padding": 1},
                                         {"type": "add", "from": "a"}, {"type": "flatten"},
                                         {"type": "dense", "units": 10}]}})",
                "(add): shapes differ: input 28x28x8 vs 'a' 28x28x4"},
        BadSpec{
            "batchnorm alone",
            R"({"model": {"layers": [{"type": "flatten"}, {"type": "batchnorm"}, {"type": "dense", "units": 10}]}})",
            "model.layers[1] (batchnorm): batchnorm must directly follow"},
        BadSpec{"relu after pool",
                R"({"model": {"layers": [{"type": "maxpool", "pool": 2}, {"type": "relu"}, {"type": "flatten"},
                                         {"type": "dense", "units": 10}]}})",
                "model.layers[1] (relu): relu must follow"},
        BadSpec{"pool too big", R"({"model": {"layers": [{"type": "maxpool", "pool": 30}, {"type": "flatten"},
                                                          {"type": "dense", "units": 10}]}})",
                "model.layers[0] (maxpool): pool 30 does not fit input 28x28x1"},
        BadSpec{"missing units", R"({"model": {"layers": [{"type": "flatten"}, {"type": "dense"}]}})",
                "model.layers[1] (dense): units must be > 0"},
        BadSpec{"unknown optimizer", R"({"model": {"preset": "mlp"}, "training": {"optimizer": "rmsprop"}})",
                "training.optimizer: unknown optimizer 'rmsprop'"},
        BadSpec{"unknown schedule", R"({"model": {"preset": "mlp"}, "training": {"schedule": "linear"}})",
                "training.schedule"},
        BadSpec{"unknown ptq method", R"({"model": {"preset": "mlp"}, "ptq": {"method": "kl"}})",
                "ptq.method: unknown method 'kl'"},
        BadSpec{"negative ptq test samples", R"({"model": {"preset": "mlp"}, "ptq": {"testSamples": -5}})",
                "ptq.test_samples: -5 is negative"},
        BadSpec{"negative hessian probes", R"({"model": {"preset": "mlp"}, "ptq": {"hessianProbes": -1}})",
                "ptq.hessian_probes: -1 is outside 0..10000"},
        BadSpec{"absurd hessian probes", R"({"model": {"preset": "mlp"}, "ptq": {"hessianProbes": 1000000}})",
                "ptq.hessian_probes: 1000000 is outside 0..10000"},
        BadSpec{"idx without paths", R"({"model": {"preset": "mlp"}, "data": {"source": "idx"}})",
                "data.train_images: missing"},
        BadSpec{"unknown source", R"({"model": {"preset": "mlp"}, "data": {"source": "s3"}})",
                "data.source: unknown source 's3'"},
        BadSpec{"duplicate config", R"({"model": {"preset": "mlp"}, "configs": [{"name": "a"}, {"name": "a"}]})",
                "duplicate config name 'a'"},
        BadSpec{"batch size", R"({"model": {"preset": "mlp"}, "training": {"batchSize": -4}})", "training.batch_size"},
        BadSpec{"no model", R"({})", "model: give a preset"}));

TEST(JobSpec, CheapValidationNeedsNoShape) {
  v1::JobSpec spec;
  spec.mutable_model()->set_preset("cnn");
  spec.add_configs()->set_weight_bits(12);
  ApplyJobSpecDefaults(&spec);
  const Status status = ValidateJobSpec(spec);
  ASSERT_FALSE(status.ok());
  EXPECT_NE(status.message().find("configs[0].weight_bits"), std::string::npos);
}

// The engine sees a layer list once translated: kinds, settings with strides
// of 0 read as 1, and an add's source as the index of the named layer.
TEST(JobSpec, LayersTranslateIntoEngineTypes) {
  const v1::JobSpec spec = Parse(R"({"model": {"layers": [
      {"type": "conv2d", "filters": 4, "kernel": 3, "padding": 1},
      {"type": "relu6", "name": "block"},
      {"type": "depthwise_conv2d", "kernel": 3, "stride": 2, "padding": 1},
      {"type": "add", "from": "block"},
      {"type": "avgpool", "pool": 2},
      {"type": "flatten"},
      {"type": "dense", "units": 10}]}})");
  auto layers = TranslateModel(spec.model());
  ASSERT_TRUE(layers.ok()) << layers.status().ToString();
  ASSERT_EQ(layers->size(), 7u);
  const std::vector<LayerConfig>& l = *layers;
  EXPECT_EQ(l[0].kind, LayerKind::kConv2D);
  EXPECT_EQ(l[0].convolution.filters, 4);
  EXPECT_EQ(l[0].convolution.stride, 1);
  EXPECT_EQ(l[0].convolution.padding, 1);
  EXPECT_EQ(l[1].kind, LayerKind::kRelu6);
  EXPECT_EQ(l[1].name, "block");
  EXPECT_EQ(l[2].kind, LayerKind::kDepthwiseConv2D);
  EXPECT_EQ(l[2].convolution.stride, 2);
  EXPECT_EQ(l[3].kind, LayerKind::kAdd);
  EXPECT_EQ(l[3].add.from_layer, 1);
  EXPECT_EQ(l[4].kind, LayerKind::kAvgPool);
  EXPECT_EQ(l[4].pool.pool, 2);
  EXPECT_EQ(l[5].kind, LayerKind::kFlatten);
  EXPECT_EQ(l[6].kind, LayerKind::kDense);
  EXPECT_EQ(l[6].dense.units, 10);
  EXPECT_EQ(LayerLabel(l[1], 1), "model.layers[1] (relu6 'block')");
}

}  // namespace
}  // namespace qatlab
