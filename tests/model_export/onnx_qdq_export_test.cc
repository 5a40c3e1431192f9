// The ONNX (QDQ) export against onnxruntime: each preset, trained briefly
// with QAT on MNIST-10k, is exported from its .qmodel bytes, passes
// onnx::checker, runs in onnxruntime-node on the whole test split and
// classifies as our integer kernels do on at least 99% of the images; the
// graph onnxruntime actually runs (its optimized model) holds integer
// operators and no float Conv, Gemm or MatMul.
#include <gtest/gtest.h>
#include <onnx/checker.h>
#include <onnx/onnx_pb.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "data/dataset.h"
#include "engine/experiment.h"
#include "engine/integer_runner.h"
#include "engine/job_spec.h"
#include "model_export/model_export.h"
#include "model_export/onnx_qdq_export.h"
#include "qatlab_kernels/qmodel.h"
#include "tests/support/onnxruntime.h"
#include "tests/support/temp_dir.h"

namespace qatlab {
namespace {

using test_support::TempDir;

// Operators of onnxruntime's integer kernels, as they appear after its QDQ
// fusions (ONNX and com.microsoft domains).
const std::set<std::string> kIntegerOps = {"QLinearConv",
                                           "QLinearMatMul",
                                           "ConvInteger",
                                           "MatMulInteger",
                                           "QGemm",
                                           "QLinearAdd",
                                           "QLinearAveragePool",
                                           "QLinearGlobalAveragePool",
                                           "MatMulIntegerToFloat",
                                           "DynamicQuantizeMatMul"};
const std::set<std::string> kFloatMatrixOps = {"Conv", "Gemm", "MatMul", "FusedConv", "FusedGemm", "FusedMatMul"};

// MNIST-10k: all of its test split, the first 2,000 training images (a short
// QAT run is all the export needs).
const DatasetPair& Mnist() {
  static const DatasetPair* data = [] {
    v1::DataSpec spec;
    spec.set_source("mnist");
    auto loaded = LoadDataset(spec, "");
    if (!loaded.ok()) {
      ADD_FAILURE() << "MNIST-10k could not be loaded or fetched: " << loaded.status().ToString();
      return new DatasetPair();
    }
    loaded->train.Truncate(2000);
    return new DatasetPair(std::move(*loaded));
  }();
  return *data;
}

// One float epoch and one QAT epoch of `preset` at each of `weight_bits`.
StatusOr<ExperimentOutput> TrainQat(const std::string& preset, const std::vector<int>& weight_bits) {
  v1::JobSpec spec;
  spec.mutable_model()->set_preset(preset);
  spec.mutable_training()->set_epochs(1);
  spec.mutable_training()->set_batch_size(32);
  spec.mutable_training()->set_learning_rate(2e-3);
  spec.mutable_qat()->set_epochs(1);
  spec.mutable_qat()->set_learning_rate(2e-4);
  spec.mutable_ptq()->set_calibration_samples(256);
  for (int bits : weight_bits) spec.add_configs()->set_weight_bits(bits);
  ApplyJobSpecDefaults(&spec);
  return RunExperimentOnData(spec, Mnist(), ExperimentOptions{}, nullptr);
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream contents;
  contents << in.rdbuf();
  return contents.str();
}

struct Agreement {
  int images = 0;
  int same_class = 0;
  int logits = 0;
  int same_logit = 0;                    // ONNX's dequantized logit is the kernels' to within a quarter LSB
  std::map<std::string, int> op_counts;  // onnxruntime's optimized graph
};

// Exports `qmodel`, checks it, runs it in onnxruntime on every test image in
// one batch and compares with the integer kernels.
void ExportAndCompare(const std::vector<uint8_t>& qmodel, const std::string& name, Agreement* result) {
  const std::string bytes(qmodel.begin(), qmodel.end());
  auto exported = ExportModel(bytes, ExportFormat::kOnnx, name);
  ASSERT_TRUE(exported.ok()) << exported.status().ToString();
  ASSERT_EQ(exported->size(), 1u);
  EXPECT_EQ((*exported)[0].name, name + ".onnx");
  const std::string& onnx_bytes = (*exported)[0].contents;

  onnx::ModelProto model;
  ASSERT_TRUE(model.ParseFromString(onnx_bytes));
  EXPECT_NO_THROW(onnx::checker::check_model(model));

  auto runner = IntegerRunner::Open(qmodel);
  ASSERT_TRUE(runner.ok()) << runner.status().ToString();
  const Dataset& test = Mnist().test;
  ASSERT_TRUE(test.has_pixels());
  const int count = test.size();
  const int h = runner->input_height(), w = runner->input_width(), c = runner->input_channels();
  const int classes = static_cast<int>(runner->output_bytes());

  // The ONNX input: pixels / 255, NCHW (the kernels' images are HWC).
  std::vector<float> input(static_cast<size_t>(count) * h * w * c);
  for (int i = 0; i < count; ++i) {
    const uint8_t* pixels = test.pixel_image(i);
    float* image = input.data() + static_cast<size_t>(i) * h * w * c;
    for (int y = 0; y < h; ++y) {
      for (int x = 0; x < w; ++x) {
        for (int ch = 0; ch < c; ++ch) image[(ch * h + y) * w + x] = pixels[(y * w + x) * c + ch] / 255.0f;
      }
    }
  }
  TempDir dir;
  test_support::OnnxruntimeRequest request;
  request.model_path = dir.File(name + ".onnx");
  {
    std::ofstream out(request.model_path, std::ios::binary);
    out << onnx_bytes;
  }
  request.input_bytes.assign(reinterpret_cast<const char*>(input.data()), input.size() * sizeof(float));
  request.dims = {count, c, h, w};
  request.optimized_model_path = dir.File(name + ".optimized.onnx");
  request.optimization = "all";
  auto run = test_support::RunOnnxruntime(request, dir.path());
  ASSERT_TRUE(run.ok()) << run.status().ToString();
  ASSERT_EQ(run->output_dims, (std::vector<int64_t>{count, classes}));

  // The output's scale and zero point, to compare logits in LSBs.
  float output_scale = 0;
  int32_t output_zero_point = 0;
  {
    const auto& nodes = model.graph().node();
    const auto& last = nodes[nodes.size() - 1];
    ASSERT_EQ(last.op_type(), "DequantizeLinear");
    for (const auto& init : model.graph().initializer()) {
      if (init.name() == last.input(1)) std::memcpy(&output_scale, init.raw_data().data(), 4);
      if (init.name() == last.input(2)) output_zero_point = static_cast<uint8_t>(init.raw_data()[0]) - 128;
    }
    ASSERT_GT(output_scale, 0.0f);
  }

  std::vector<int8_t> quantized(runner->input_bytes()), logits(classes);
  for (int i = 0; i < count; ++i) {
    runner->QuantizeImage(test.pixel_image(i), quantized.data());
    ASSERT_TRUE(runner->Run(quantized.data(), logits.data()).ok());
    const float* onnx_logits = run->output.data() + static_cast<size_t>(i) * classes;
    int onnx_best = 0;
    for (int k = 0; k < classes; ++k) {
      if (onnx_logits[k] > onnx_logits[onnx_best]) onnx_best = k;
      const float ours = (logits[k] - output_zero_point) * output_scale;
      ++result->logits;
      if (std::fabs(onnx_logits[k] - ours) < 0.25f * output_scale) ++result->same_logit;
    }
    ++result->images;
    if (onnx_best == static_cast<int>(qk_argmax_s8(logits.data(), classes))) ++result->same_class;
  }

  onnx::ModelProto optimized;
  ASSERT_TRUE(optimized.ParseFromString(ReadFile(request.optimized_model_path)))
      << "onnxruntime wrote no optimized model at " << request.optimized_model_path;
  for (const auto& node : optimized.graph().node()) ++result->op_counts[node.op_type()];
}

std::string OpList(const std::map<std::string, int>& counts) {
  std::string list;
  for (const auto& [op, n] : counts) list += (list.empty() ? "" : ", ") + op + " x" + std::to_string(n);
  return list;
}

struct PresetCase {
  std::string preset;
  std::vector<int> weight_bits;
};

class OnnxQdqExport : public testing::TestWithParam<PresetCase> {};

TEST_P(OnnxQdqExport, AgreesWithTheIntegerKernelsOnIntegerOperators) {
  const PresetCase& param = GetParam();
  ASSERT_GT(Mnist().test.size(), 0);
  auto trained = TrainQat(param.preset, param.weight_bits);
  ASSERT_TRUE(trained.ok()) << trained.status().ToString();
  for (int bits : param.weight_bits) {
    const std::string variant = "qat_w" + std::to_string(bits) + "a8";
    const VariantArtifact* artifact = nullptr;
    for (const auto& a : trained->artifacts) {
      if (a.variant == variant) artifact = &a;
    }
    ASSERT_NE(artifact, nullptr) << variant;
    Agreement agreement;
    ExportAndCompare(artifact->qmodel, param.preset + "_" + variant, &agreement);
    if (HasFatalFailure()) return;
    ASSERT_GT(agreement.images, 0);
    const double percent = 100.0 * agreement.same_class / agreement.images;
    std::printf(
        "%s %s: onnxruntime agrees with the integer kernels on %d of %d images (%.2f%%); %d of %d logits "
        "equal; optimized graph: %s\n",
        param.preset.c_str(), variant.c_str(), agreement.same_class, agreement.images, percent, agreement.same_logit,
        agreement.logits, OpList(agreement.op_counts).c_str());
    EXPECT_GE(percent, 99.0) << param.preset << " " << variant;
    int integer_ops = 0;
    for (const auto& [op, n] : agreement.op_counts) {
      if (kIntegerOps.count(op) != 0) integer_ops += n;
      EXPECT_EQ(kFloatMatrixOps.count(op), 0u) << "onnxruntime runs a float " << op << " in " << variant;
    }
    EXPECT_GT(integer_ops, 0) << "no integer operator in " << OpList(agreement.op_counts);
  }
}

INSTANTIATE_TEST_SUITE_P(Presets, OnnxQdqExport,
                         testing::Values(PresetCase{"mlp", {8}}, PresetCase{"cnn", {8}}, PresetCase{"cnn_bn", {8, 4}},
                                         PresetCase{"ds_cnn", {8, 4}}),
                         [](const testing::TestParamInfo<PresetCase>& info) { return info.param.preset; });

}  // namespace
}  // namespace qatlab
