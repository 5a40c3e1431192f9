// The ONNX import: small models of every supported operator and pattern,
// built here with random weights, give the same float outputs in qatlab's
// engine as in onnxruntime on real MNIST-10k test images; models the engine
// cannot represent fail with one message naming the node and the problem.
#include "model_import/onnx_import.h"

#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <memory>

#include "data/dataset.h"
#include "data/mnist.h"
#include "engine/network.h"
#include "qatlab/v1/job.pb.h"
#include "tests/model_import/onnx_model_builder.h"
#include "tests/support/onnxruntime.h"
#include "tests/support/temp_dir.h"

namespace qatlab {
namespace {

using test_support::OnnxModelBuilder;
using test_support::TempDir;

constexpr int kImages = 64;
constexpr float kTolerance = 1e-4f;

// The first kImages MNIST-10k test images as the engine reads them (HWC,
// pixel / 255).
const std::vector<float>& TestImages() {
  static const std::vector<float> images = [] {
    v1::DataSpec spec;
    spec.set_source("mnist");
    spec.set_train_limit(1);
    spec.set_test_limit(kImages);
    auto data = LoadDataset(spec, DefaultDataCacheDir());
    EXPECT_TRUE(data.ok()) << data.status().ToString();
    std::vector<float> floats(static_cast<size_t>(kImages) * 28 * 28);
    if (data.ok()) data->test.ImagesAsFloats(0, kImages, floats.data());
    return floats;
  }();
  return images;
}

// What the engine computes for `bytes` on the test images.
std::vector<float> EngineOutputs(const std::string& bytes) {
  auto model = ImportOnnxModel(bytes);
  EXPECT_TRUE(model.ok()) << model.status().ToString();
  if (!model.ok()) return {};
  EXPECT_EQ(model->input, (ImageShape{28, 28, 1}));
  auto net = Network::Create(model->layers, model->input, 1);
  EXPECT_TRUE(net.ok()) << net.status().ToString();
  if (!net.ok()) return {};
  const Status loaded = (*net)->LoadWeights(model->weights);
  EXPECT_TRUE(loaded.ok()) << loaded.ToString();
  const Tensor& logits = (*net)->Forward(TestImages().data(), kImages, false);
  return std::vector<float>(logits.data.begin(), logits.data.end());
}

// What onnxruntime computes for `bytes` on the test images, fed as `dims`
// (MNIST has one channel, so NCHW and NHWC hold the same values).
std::vector<float> OnnxruntimeOutputs(const std::string& bytes, const std::vector<int64_t>& dims) {
  TempDir dir;
  const std::string path = dir.File("model.onnx");
  std::ofstream(path, std::ios::binary) << bytes;
  auto run = test_support::RunOnnxruntime(path, TestImages(), dims, dir.path());
  EXPECT_TRUE(run.ok()) << run.status().ToString();
  return run.ok() ? run->output : std::vector<float>();
}

void ExpectSameOutputs(const std::vector<float>& engine, const std::vector<float>& reference) {
  ASSERT_EQ(engine.size(), reference.size());
  ASSERT_FALSE(engine.empty());
  float worst = 0;
  for (size_t i = 0; i < engine.size(); ++i) worst = std::max(worst, std::fabs(engine[i] - reference[i]));
  EXPECT_LE(worst, kTolerance);
  // The outputs are not all alike (the comparison can fail).
  float spread = 0;
  for (size_t i = 1; i < reference.size(); ++i) spread = std::max(spread, std::fabs(reference[i] - reference[0]));
  EXPECT_GT(spread, 0.01f);
}

const std::vector<int64_t> kNchw = {kImages, 1, 28, 28};

TEST(OnnxImport, ConvBatchNormReluMaxPoolFlattenGemmMatchesOnnxruntime) {
  OnnxModelBuilder b(13, {-1, 1, 28, 28});
  std::string x = b.Conv("conv1", OnnxModelBuilder::kInput, 1, 4, 3, 1, 1);
  x = b.BatchNorm("bn1", x, 4, 1e-3f);
  x = b.Unary("Relu", "relu1", x);
  x = b.Pool("MaxPool", "pool1", x, 2);
  x = b.Conv("conv2", x, 4, 6, 3, 2, 0, 1, /*bias=*/false);
  x = b.BatchNorm("bn2", x, 6, 1e-5f);
  x = b.Unary("Relu", "relu2", x);
  x = b.Unary("Flatten", "flatten", x);
  x = b.Gemm("fc", x, 6 * 6 * 6, 10, /*trans_b=*/true);
  const std::string bytes = b.Serialize(x);
  auto model = ImportOnnxModel(bytes);
  ASSERT_TRUE(model.ok()) << model.status().ToString();
  ASSERT_EQ(model->layers.size(), 9u);
  EXPECT_EQ(model->layers[1].kind, LayerKind::kBatchNorm);
  EXPECT_FLOAT_EQ(model->layers[1].batch_norm.epsilon, 1e-3f);
  EXPECT_EQ(model->num_classes, 10);
  ExpectSameOutputs(EngineOutputs(bytes), OnnxruntimeOutputs(bytes, kNchw));
}

TEST(OnnxImport, DepthwiseClipAveragePoolAndGemmMatchOnnxruntime) {
  OnnxModelBuilder b(11, {-1, 1, 28, 28});
  std::string x = b.Conv("stem", OnnxModelBuilder::kInput, 1, 4, 3, 1, 1);
  x = b.Unary("Relu", "stem_relu", x);
  x = b.Conv("dw", x, 4, 4, 3, 2, 1, /*group=*/4);
  b.Node("Clip", "relu6", {x, b.Floats("zero", {}, {0.0f}), b.Floats("six", {}, {6.0f})}, {"relu6.out"});
  x = b.Pool("AveragePool", "pool", "relu6.out", 2);
  x = b.Unary("Flatten", "flatten", x);
  x = b.Gemm("fc", x, 4 * 7 * 7, 10, /*trans_b=*/false);
  const std::string bytes = b.Serialize(x);
  auto model = ImportOnnxModel(bytes);
  ASSERT_TRUE(model.ok()) << model.status().ToString();
  EXPECT_EQ(model->layers[2].kind, LayerKind::kDepthwiseConv2D);
  EXPECT_EQ(model->layers[3].kind, LayerKind::kRelu6);
  ExpectSameOutputs(EngineOutputs(bytes), OnnxruntimeOutputs(bytes, kNchw));
}

TEST(OnnxImport, ResidualAddAndGlobalAveragePoolMatchOnnxruntime) {
  OnnxModelBuilder b(17, {-1, 1, 28, 28});
  std::string stem = b.Conv("stem", OnnxModelBuilder::kInput, 1, 6, 3, 2, 1);
  stem = b.Unary("Relu", "stem_relu", stem);
  std::string x = b.Conv("c1", stem, 6, 6, 3, 1, 1);
  x = b.Unary("Relu", "c1_relu", x);
  x = b.Conv("c2", x, 6, 6, 1, 1, 0);
  x = b.BatchNorm("c2_bn", x, 6, 1e-5f);
  b.Node("Add", "residual", {x, stem}, {"residual.out"});
  x = b.Unary("Relu", "residual_relu", "residual.out");
  x = b.Unary("GlobalAveragePool", "gap", x);
  x = b.Unary("Flatten", "flatten", x);
  x = b.Gemm("fc", x, 6, 10, /*trans_b=*/true);
  const std::string bytes = b.Serialize(x);
  auto model = ImportOnnxModel(bytes);
  ASSERT_TRUE(model.ok()) << model.status().ToString();
  const LayerConfig& add = model->layers[6];
  ASSERT_EQ(add.kind, LayerKind::kAdd);
  EXPECT_EQ(add.add.from_layer, 1);  // the stem's relu
  ExpectSameOutputs(EngineOutputs(bytes), OnnxruntimeOutputs(bytes, kNchw));
}

TEST(OnnxImport, ReshapeMatMulAddWithIdentityDropoutAndSoftmaxDroppedMatchesOnnxruntime) {
  OnnxModelBuilder b(13, {-1, 1, 28, 28});
  b.Node("Reshape", "reshape", {OnnxModelBuilder::kInput, b.Int64s("shape", {0, -1})}, {"flat"});
  b.Node("MatMul", "mm1", {"flat", b.Random("w1", {784, 32}, -0.1f, 0.1f)}, {"mm1.out"});
  b.Node("Add", "bias1", {"mm1.out", b.Random("b1", {32})}, {"h1"});
  std::string x = b.Unary("Relu", "relu1", "h1");
  x = b.Unary("Identity", "identity", x);
  x = b.Unary("Dropout", "dropout", x);
  b.Node("MatMul", "mm2", {x, b.Random("w2", {32, 10})}, {"mm2.out"});
  b.Node("Add", "bias2", {b.Random("b2", {1, 10}), "mm2.out"}, {"logits"});
  x = b.Unary("Softmax", "softmax", "logits");
  const std::string bytes = b.Serialize(x);
  auto model = ImportOnnxModel(bytes);
  ASSERT_TRUE(model.ok()) << model.status().ToString();
  EXPECT_EQ(model->layers.size(), 4u);  // flatten, dense, relu, dense
  // onnxruntime's output went through the softmax the import dropped.
  std::vector<float> probabilities = EngineOutputs(bytes);
  for (size_t row = 0; row + 10 <= probabilities.size(); row += 10) {
    float* logits = probabilities.data() + row;
    const float top = *std::max_element(logits, logits + 10);
    float sum = 0;
    for (int k = 0; k < 10; ++k) sum += (logits[k] = std::exp(logits[k] - top));
    for (int k = 0; k < 10; ++k) logits[k] /= sum;
  }
  ExpectSameOutputs(probabilities, OnnxruntimeOutputs(bytes, kNchw));
}

TEST(OnnxImport, ClipWithConstantNodesAndRelu6PatternsBecomeRelu6) {
  OnnxModelBuilder b(12, {1, 1, 28, 28});
  std::string x = b.Conv("conv1", OnnxModelBuilder::kInput, 1, 4, 5, 2, 2);
  auto* low = b.Node("Constant", "low", {}, {"low.out"});
  OnnxModelBuilder::SetFloat(low, "value_float", 0.0f);
  auto* high = b.Node("Constant", "high", {}, {"high.out"});
  OnnxModelBuilder::SetFloat(high, "value_float", 6.0f);
  b.Node("Clip", "clip", {x, "low.out", "high.out"}, {"clip.out"});
  x = b.Conv("conv2", "clip.out", 4, 4, 3, 1, 1);
  x = b.Unary("Relu", "relu2", x);
  b.Node("Min", "cap", {x, b.Floats("six", {}, {6.0f})}, {"cap.out"});
  x = b.Unary("GlobalAveragePool", "gap", "cap.out");
  x = b.Unary("Flatten", "flatten", x);
  x = b.Gemm("fc", x, 4, 10, true);
  const std::string bytes = b.Serialize(x, {1, 10});
  auto model = ImportOnnxModel(bytes);
  ASSERT_TRUE(model.ok()) << model.status().ToString();
  EXPECT_EQ(model->layers[1].kind, LayerKind::kRelu6);
  EXPECT_EQ(model->layers[3].kind, LayerKind::kRelu6);
  // Fixed batch 1: onnxruntime runs one image.
  const std::vector<float> one_image(TestImages().begin(), TestImages().begin() + 784);
  TempDir dir;
  std::ofstream(dir.File("m.onnx"), std::ios::binary) << bytes;
  auto run = test_support::RunOnnxruntime(dir.File("m.onnx"), one_image, {1, 1, 28, 28}, dir.path());
  ASSERT_TRUE(run.ok()) << run.status().ToString();
  std::vector<float> engine = EngineOutputs(bytes);
  engine.resize(10);
  ExpectSameOutputs(engine, run->output);
}

TEST(OnnxImport, Tf2onnxStyleNhwcInputWithTransposesMatchesOnnxruntime) {
  OnnxModelBuilder b(13, {-1, 28, 28, 1});
  auto* to_nchw = b.Node("Transpose", "to_nchw", {OnnxModelBuilder::kInput}, {"nchw"});
  OnnxModelBuilder::SetInts(to_nchw, "perm", {0, 3, 1, 2});
  std::string x = b.Conv("conv", "nchw", 1, 5, 3, 2, 1);
  x = b.Unary("Relu", "relu", x);
  auto* to_nhwc = b.Node("Transpose", "to_nhwc", {x}, {"nhwc"});
  OnnxModelBuilder::SetInts(to_nhwc, "perm", {0, 2, 3, 1});
  b.Node("Reshape", "reshape", {"nhwc", b.Int64s("shape", {-1, 14 * 14 * 5})}, {"flat"});
  b.Node("MatMul", "mm", {"flat", b.Random("w", {14 * 14 * 5, 10}, -0.1f, 0.1f)}, {"mm.out"});
  b.Node("Add", "bias", {"mm.out", b.Random("b", {10})}, {"logits"});
  const std::string bytes = b.Serialize("logits");
  auto model = ImportOnnxModel(bytes);
  ASSERT_TRUE(model.ok()) << model.status().ToString();
  ExpectSameOutputs(EngineOutputs(bytes), OnnxruntimeOutputs(bytes, {kImages, 28, 28, 1}));
}

// --- Models the engine cannot take: one message naming what is wrong.

std::string SmallValidModel() {
  OnnxModelBuilder b(13, {-1, 1, 28, 28});
  std::string x = b.Conv("conv1", OnnxModelBuilder::kInput, 1, 4, 3, 1, 1);
  x = b.Unary("Relu", "relu1", x);
  x = b.Unary("Flatten", "flatten", x);
  x = b.Gemm("fc", x, 4 * 28 * 28, 10, true);
  return b.Serialize(x);
}

void ExpectRefused(const std::string& bytes, const std::vector<std::string>& fragments) {
  auto model = InspectOnnxModel(bytes);
  ASSERT_FALSE(model.ok());
  EXPECT_EQ(model.status().code(), StatusCode::kInvalidArgument);
  const std::string& message = model.status().message();
  EXPECT_EQ(message.find('\n'), std::string::npos) << message;
  for (const auto& fragment : fragments) EXPECT_NE(message.find(fragment), std::string::npos) << message;
}

TEST(OnnxImportErrors, TheValidModelIsAccepted) {
  auto summary = InspectOnnxModel(SmallValidModel());
  ASSERT_TRUE(summary.ok()) << summary.status().ToString();
  EXPECT_EQ(summary->input, (ImageShape{28, 28, 1}));
  EXPECT_EQ(summary->num_classes, 10);
  EXPECT_EQ(summary->layer_count, 4);
  EXPECT_EQ(summary->parameters, 4 * 9 + 4 + 4 * 28 * 28 * 10 + 10);
  EXPECT_EQ(summary->opset, 13);
}

TEST(OnnxImportErrors, ATruncatedFile) {
  const std::string bytes = SmallValidModel();
  ExpectRefused(bytes.substr(0, bytes.size() / 2), {"not an ONNX model", "truncated"});
}

TEST(OnnxImportErrors, BytesOfAnotherFormat) {
  const std::string picture("GIF89a\x01\x00\x01\x00 this is a picture, not a model", 41);
  ExpectRefused(picture, {"not an ONNX model"});
  ExpectRefused("", {"not an ONNX model"});
}

TEST(OnnxImportErrors, AnUnsupportedOperatorNamesTheNodeAndItsOpType) {
  OnnxModelBuilder b(13, {-1, 1, 28, 28});
  std::string x = b.Conv("conv1", OnnxModelBuilder::kInput, 1, 4, 3, 1, 1);
  x = b.Unary("Sigmoid", "gate", x);
  x = b.Unary("Flatten", "flatten", x);
  x = b.Gemm("fc", x, 4 * 28 * 28, 10, true);
  ExpectRefused(b.Serialize(x), {"node 1 'gate' (Sigmoid)", "unsupported operator"});
}

TEST(OnnxImportErrors, AnUnsupportedAttributeNamesTheNodeAndTheAttribute) {
  OnnxModelBuilder b(13, {-1, 1, 28, 28});
  auto* conv = b.Node("Conv", "", {OnnxModelBuilder::kInput, b.Random("w", {4, 1, 3, 3})}, {"c"});
  OnnxModelBuilder::SetInts(conv, "dilations", {2, 2});
  std::string x = b.Unary("Relu", "relu", "c");
  x = b.Unary("Flatten", "flatten", x);
  x = b.Gemm("fc", x, 4 * 24 * 24, 10, true);
  ExpectRefused(b.Serialize(x), {"node 0 (Conv)", "dilations [2, 2]"});
}

TEST(OnnxImportErrors, APoolWhoseStrideIsNotItsWindow) {
  OnnxModelBuilder b(13, {-1, 1, 28, 28});
  std::string x = b.Conv("conv1", OnnxModelBuilder::kInput, 1, 4, 3, 1, 1);
  auto* pool = b.Node("MaxPool", "pool", {x}, {"p"});
  OnnxModelBuilder::SetInts(pool, "kernel_shape", {3, 3});
  OnnxModelBuilder::SetInts(pool, "strides", {2, 2});
  x = b.Unary("Flatten", "flatten", "p");
  x = b.Gemm("fc", x, 4 * 13 * 13, 10, true);
  ExpectRefused(b.Serialize(x), {"node 1 'pool' (MaxPool)", "strides [2, 2]"});
}

TEST(OnnxImportErrors, ADynamicInputShape) {
  OnnxModelBuilder b(13, {-1, 1, -1, 28});
  std::string x = b.Conv("conv1", OnnxModelBuilder::kInput, 1, 4, 3, 1, 1);
  x = b.Unary("GlobalAveragePool", "gap", x);
  x = b.Unary("Flatten", "flatten", x);
  x = b.Gemm("fc", x, 4, 10, true);
  ExpectRefused(b.Serialize(x), {"dynamic input shape", "input 'image' dimension 2 is 'd2'"});
}

TEST(OnnxImportErrors, AnOpsetOutsideTheSupportedRange) {
  OnnxModelBuilder b(9, {-1, 1, 28, 28});
  std::string x = b.Unary("Flatten", "flatten", OnnxModelBuilder::kInput);
  x = b.Gemm("fc", x, 784, 10, true);
  ExpectRefused(b.Serialize(x), {"opset 9 is outside 11..17"});
}

TEST(OnnxImportErrors, AReluTheEngineCannotFuse) {
  OnnxModelBuilder b(13, {-1, 1, 28, 28});
  std::string x = b.Conv("conv1", OnnxModelBuilder::kInput, 1, 4, 3, 1, 1);
  x = b.Pool("MaxPool", "pool", x, 2);
  x = b.Unary("Relu", "late_relu", x);
  x = b.Unary("Flatten", "flatten", x);
  x = b.Gemm("fc", x, 4 * 14 * 14, 10, true);
  ExpectRefused(b.Serialize(x), {"node 2 'late_relu' (Relu)", "does not directly follow"});
}

}  // namespace
}  // namespace qatlab
