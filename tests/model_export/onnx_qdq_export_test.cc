// The ONNX (QDQ) export of every preset: each, trained briefly with QAT on
// MNIST-10k, is exported from its .qmodel bytes, passes onnx::checker, runs
// in onnxruntime-node on the whole test split and classifies as our integer
// kernels do on at least 99% of the images; the graph onnxruntime actually
// runs (its optimized model) holds integer operators and no float Conv, Gemm
// or MatMul.
#include <gtest/gtest.h>

#include <cstdio>
#include <ostream>
#include <string>
#include <vector>

#include "data/dataset.h"
#include "engine/experiment.h"
#include "engine/job_spec.h"
#include "tests/model_export/onnx_qdq_comparison.h"
#include "tests/support/mnist10k.h"

namespace qatlab {
namespace {

// MNIST-10k: all of its test split, the first 2,000 training images (a short
// QAT run is all the export needs).
const DatasetPair& Mnist() {
  static const DatasetPair data = test_support::LoadMnist10k(2000);
  return data;
}

// One float epoch, then PTQ and one QAT epoch at each of `weight_bits`.
StatusOr<ExperimentOutput> TrainQat(const std::string& preset, const std::vector<int>& weight_bits) {
  return RunExperimentOnData(test_support::ShortQatSpec(preset, weight_bits), Mnist(), ExperimentOptions{}, nullptr);
}

struct PresetCase {
  std::string preset;
  std::vector<int> weight_bits;
};

// Names the case in test output (ctest shows the parameter).
void PrintTo(const PresetCase& c, std::ostream* out) { *out << c.preset; }

class OnnxQdqExport : public testing::TestWithParam<PresetCase> {};

TEST_P(OnnxQdqExport, AgreesWithTheIntegerKernelsOnIntegerOperators) {
  const PresetCase& param = GetParam();
  const Dataset& test = Mnist().test;
  ASSERT_GT(test.size(), 0);
  ASSERT_TRUE(test.has_pixels());
  auto trained = TrainQat(param.preset, param.weight_bits);
  ASSERT_TRUE(trained.ok()) << trained.status().ToString();
  for (int bits : param.weight_bits) {
    const std::string variant = "qat_w" + std::to_string(bits) + "a8";
    const VariantArtifact* artifact = nullptr;
    for (const auto& a : trained->artifacts) {
      if (a.variant == variant) artifact = &a;
    }
    ASSERT_NE(artifact, nullptr) << variant;
    OnnxComparison comparison;
    ASSERT_NO_FATAL_FAILURE(CompareOnnxWithKernels(artifact->qmodel, param.preset + "_" + variant, test.pixel_image(0),
                                                   test.size(), &comparison));
    ASSERT_EQ(comparison.images, test.size());
    std::printf(
        "%s %s: onnxruntime agrees with the integer kernels on %d of %d images (%.2f%%); logits equal %d, within "
        "one LSB %d of %d; optimized graph: %s\n",
        param.preset.c_str(), variant.c_str(), comparison.same_class, comparison.images,
        comparison.class_agreement_percent(), comparison.same_logit, comparison.within_one_lsb, comparison.logits,
        comparison.OpList().c_str());
    EXPECT_GE(comparison.class_agreement_percent(), 99.0) << param.preset << " " << variant;
    EXPECT_GT(comparison.IntegerOps(), 0) << "no integer operator in " << comparison.OpList();
    EXPECT_TRUE(comparison.FloatMatrixOps().empty()) << "float matrix products left in " << comparison.OpList();
  }
}

INSTANTIATE_TEST_SUITE_P(Presets, OnnxQdqExport,
                         testing::Values(PresetCase{"mlp", {8}}, PresetCase{"cnn", {8}}, PresetCase{"cnn_bn", {8, 4}},
                                         PresetCase{"ds_cnn", {8, 4}}),
                         [](const testing::TestParamInfo<PresetCase>& info) { return info.param.preset; });

}  // namespace
}  // namespace qatlab
