// A job whose model is an ONNX file: the checks against the job's data, and
// one whole job run by `qatlab-worker run` (float evaluation of the imported
// weights, then PTQ and QAT as for any model).
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>

#include "data/dataset.h"
#include "data/mnist.h"
#include "engine/job_spec.h"
#include "tests/model_import/onnx_model_builder.h"
#include "tests/support/onnxruntime.h"
#include "tests/support/temp_dir.h"
#include "tests/support/test_processes.h"

namespace qatlab {
namespace {

using test_support::OnnxModelBuilder;
using test_support::TempDir;

// conv + batchnorm + relu + maxpool + flatten + gemm, random weights.
std::string SmallCnn(int64_t classes = 10) {
  OnnxModelBuilder b(13, {-1, 1, 28, 28}, 11);
  std::string x = b.Conv("conv1", OnnxModelBuilder::kInput, 1, 4, 3, 2, 1);
  x = b.BatchNorm("bn1", x, 4, 1e-3f);
  x = b.Unary("Relu", "relu1", x);
  x = b.Pool("MaxPool", "pool1", x, 2);
  x = b.Unary("Flatten", "flatten", x);
  x = b.Gemm("fc", x, 4 * 7 * 7, classes, true);
  return b.Serialize(x, {-1, classes});
}

std::string WriteFile(const TempDir& dir, const std::string& name, const std::string& bytes) {
  std::string path = dir.File(name);
  std::ofstream(path, std::ios::binary) << bytes;
  return path;
}

v1::JobSpec OnnxJob(const std::string& path) {
  v1::JobSpec spec;
  spec.mutable_model()->set_onnx(path);
  ApplyJobSpecDefaults(&spec);
  return spec;
}

Status Translate(const v1::JobSpec& spec, const ImageShape& input, int classes) {
  return TranslateValidJobSpec(spec, input, classes).status();
}

void ExpectMessage(const Status& status, const std::vector<std::string>& fragments) {
  ASSERT_FALSE(status.ok());
  for (const auto& fragment : fragments) {
    EXPECT_NE(status.message().find(fragment), std::string::npos) << status.ToString();
  }
}

TEST(OnnxJob, TheImportedModelIsTheFloatBaselineWithoutDefaultEpochs) {
  TempDir dir;
  const v1::JobSpec spec = OnnxJob(WriteFile(dir, "small.onnx", SmallCnn()));
  EXPECT_EQ(spec.training().epochs(), 0);
  EXPECT_TRUE(ValidateJobSpec(spec).ok());
  auto model = TranslateValidJobSpec(spec, {28, 28, 1}, 10);
  ASSERT_TRUE(model.ok()) << model.status().ToString();
  EXPECT_EQ(model->name, "onnx:small.onnx");
  EXPECT_EQ(model->weights.size(), model->layers.size());
}

TEST(OnnxJob, AnInputShapeUnlikeTheDataNamesBoth) {
  TempDir dir;
  const v1::JobSpec spec = OnnxJob(WriteFile(dir, "small.onnx", SmallCnn()));
  ExpectMessage(Translate(spec, {32, 32, 3}, 10),
                {"model.onnx 'small.onnx'", "input is 28x28x1", "data's images are 32x32x3"});
}

TEST(OnnxJob, AnOutputCountUnlikeTheDataClassesNamesBoth) {
  TempDir dir;
  const v1::JobSpec spec = OnnxJob(WriteFile(dir, "five.onnx", SmallCnn(5)));
  ExpectMessage(Translate(spec, {28, 28, 1}, 10), {"model.onnx 'five.onnx'", "has 5 outputs", "data has 10 classes"});
}

TEST(OnnxJob, ExactlyOneModelIsGiven) {
  v1::JobSpec spec = OnnxJob("/nonexistent/m.onnx");
  spec.mutable_model()->set_preset("cnn");
  ExpectMessage(ValidateJobSpec(spec), {"exactly one of preset, layers and onnx", "preset and onnx"});
  v1::JobSpec none;
  ApplyJobSpecDefaults(&none);
  ExpectMessage(ValidateJobSpec(none), {"model: give a preset"});
}

TEST(OnnxJob, UnreadableAndUnresolvedFilesAreClearErrors) {
  ExpectMessage(Translate(OnnxJob("/nonexistent/m.onnx"), {28, 28, 1}, 10),
                {"model.onnx", "cannot read ONNX model '/nonexistent/m.onnx'"});
  ExpectMessage(Translate(OnnxJob("model:digits"), {28, 28, 1}, 10), {"'model:digits' names a model uploaded"});
  TempDir dir;
  const std::string bytes = SmallCnn();
  const v1::JobSpec truncated = OnnxJob(WriteFile(dir, "cut.onnx", bytes.substr(0, bytes.size() / 2)));
  ExpectMessage(Translate(truncated, {28, 28, 1}, 10), {"cut.onnx", "not an ONNX model"});
}

TEST(OnnxJob, PerLayerBitsAreCheckedAgainstTheImportedLayers) {
  TempDir dir;
  v1::JobSpec spec = OnnxJob(WriteFile(dir, "small.onnx", SmallCnn()));
  auto* config = spec.mutable_configs(0);
  config->add_layer_weight_bits(8);         // the model has two weighted layers
  EXPECT_TRUE(ValidateJobSpec(spec).ok());  // the file is not read here
  ExpectMessage(Translate(spec, {28, 28, 1}, 10), {"layer_weight_bits: has 1 entries but the model has 2"});
}

// The job as a user runs it: the float accuracy the worker reports is
// onnxruntime's on the same test images, and PTQ and QAT variants follow.
TEST(OnnxJob, QatlabWorkerRunsAJobOnAnOnnxModel) {
  constexpr int kTest = 200;
  TempDir dir;
  const std::string model_path = WriteFile(dir, "small.onnx", SmallCnn());
  const std::string job_path = WriteFile(dir, "job.json",
                                         nlohmann::json{
                                             {"model", {{"onnx", model_path}}},
                                             {"data", {{"trainLimit", 500}, {"testLimit", kTest}}},
                                             {"qat", {{"epochs", 1}}},
                                             {"ptq", {{"calibrationSamples", 128}}},
                                         }
                                             .dump());
  const auto run = test_support::RunCommand({QATLAB_WORKER_BINARY, "run", job_path, "--out", dir.File("out")},
                                            std::chrono::minutes(5));
  ASSERT_EQ(run.exit_status, 0) << run.err;
  const nlohmann::json result = nlohmann::json::parse(run.out);
  EXPECT_EQ(result["model"], "onnx:small.onnx");
  std::map<std::string, nlohmann::json> variants;
  for (const auto& variant : result["variants"]) variants[variant["name"]] = variant;
  ASSERT_EQ(variants.size(), 3u) << run.out;
  ASSERT_TRUE(variants.count("float") && variants.count("ptq_w8a8") && variants.count("qat_w8a8")) << run.out;
  EXPECT_TRUE(variants["float"]["history"].empty());  // no fine-tuning asked for

  // onnxruntime's float accuracy on the job's test images.
  v1::DataSpec data;
  data.set_source("mnist");
  data.set_train_limit(1);
  data.set_test_limit(kTest);
  auto test = LoadDataset(data, DefaultDataCacheDir());
  ASSERT_TRUE(test.ok()) << test.status().ToString();
  std::vector<float> images(static_cast<size_t>(kTest) * 784);
  test->test.ImagesAsFloats(0, kTest, images.data());
  auto reference = test_support::RunOnnxruntime(model_path, images, {kTest, 1, 28, 28}, dir.path());
  ASSERT_TRUE(reference.ok()) << reference.status().ToString();
  int correct = 0;
  for (int i = 0; i < kTest; ++i) {
    const float* scores = reference->output.data() + i * 10;
    const int predicted = static_cast<int>(std::max_element(scores, scores + 10) - scores);
    correct += predicted == test->test.labels[i] ? 1 : 0;
  }
  EXPECT_DOUBLE_EQ(variants["float"]["accuracy"].get<double>(), 100.0 * correct / kTest);

  for (const std::string name : {"ptq_w8a8", "qat_w8a8"}) {
    const nlohmann::json& variant = variants[name];
    EXPECT_TRUE(variant.contains("integerAccuracy")) << name;
    EXPECT_NE(variant["flashBytes"], "0") << name;
    EXPECT_TRUE(std::ifstream(dir.File("out/" + name + ".qmodel")).good()) << name;
  }
  EXPECT_EQ(variants["qat_w8a8"]["history"].size(), 1u);
}

}  // namespace
}  // namespace qatlab
