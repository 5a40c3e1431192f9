// The smallest flash and the RAM SubmitSearch refuses budgets against, which
// it computes from an untrained network, are the figures a trained job's own
// export reports for its all-2-bit variants: for every preset (dense, conv,
// batch norm folded, depthwise, residual add, global pooling) and for an
// imported ONNX model, after PTQ and after QAT, per channel and per tensor.
// So the check at submission cannot drift from the exporter.
#include "search/reachable_budgets.h"

#include <gtest/gtest.h>

#include <fstream>
#include <string>
#include <vector>

#include "engine/experiment.h"
#include "engine/job_spec.h"
#include "tests/server/tiny_onnx_model.h"
#include "tests/support/mnist10k.h"
#include "tests/support/temp_dir.h"

namespace qatlab::search {
namespace {

constexpr ImageShape kMnistShape{28, 28, 1};

// Every quantized variant of a job over `spec`'s 2-bit configurations
// (per channel, and per tensor added here) must report `smallest`.
void ExpectTwoBitVariantsReport(v1::JobSpec spec, const SmallestFootprint& smallest) {
  v1::QuantConfig* per_tensor = spec.add_configs();
  per_tensor->set_name("w2a8_per_tensor");
  per_tensor->set_weight_bits(2);
  per_tensor->set_per_tensor(true);
  static const DatasetPair data = test_support::LoadMnist10k(300, 100);

  StatusOr<ExperimentOutput> output = RunExperimentOnData(spec, data, {}, nullptr);

  ASSERT_TRUE(output.ok()) << output.status().ToString();
  int checked = 0;
  for (const v1::VariantResult& variant : output->result.variants()) {
    if (variant.kind() == "float") continue;
    SCOPED_TRACE(variant.name());
    ASSERT_EQ(variant.weight_bits(), 2);
    EXPECT_EQ(variant.flash_bytes(), smallest.flash_bytes);
    EXPECT_EQ(variant.ram_bytes(), smallest.ram_bytes);
    ++checked;
  }
  EXPECT_GE(checked, 2);
}

TEST(ReachableBudgets, TheSmallestFootprintIsWhatATrainedPresetsTwoBitExportReports) {
  for (const std::string& preset : ModelPresetNames()) {
    SCOPED_TRACE(preset);
    v1::JobSpec spec = test_support::ShortQatSpec(preset, {2}, 64);
    StatusOr<std::vector<LayerConfig>> layers = TranslateModel(spec.model());
    ASSERT_TRUE(layers.ok()) << layers.status().ToString();

    StatusOr<SmallestFootprint> smallest = ComputeSmallestFootprint(*layers, kMnistShape);

    ASSERT_TRUE(smallest.ok()) << smallest.status().ToString();
    EXPECT_EQ(smallest->weight_bits, 2);
    EXPECT_GT(smallest->flash_bytes, 0);
    EXPECT_GT(smallest->ram_bytes, 0);
    ExpectTwoBitVariantsReport(spec, *smallest);
  }
}

TEST(ReachableBudgets, TheSmallestFootprintOfAnImportedOnnxModelIsWhatItsTwoBitExportReports) {
  test_support::TempDir dir;
  const std::string path = dir.File("tiny.onnx");
  std::ofstream(path, std::ios::binary) << qatlab::testing::TinyOnnxLinearModel();
  v1::JobSpec spec;
  spec.mutable_model()->set_onnx(path);
  spec.mutable_ptq()->set_calibration_samples(64);
  spec.add_configs()->set_weight_bits(2);
  spec.mutable_qat()->set_epochs(1);
  StatusOr<std::vector<LayerConfig>> layers = TranslateModel(spec.model());
  ASSERT_TRUE(layers.ok()) << layers.status().ToString();

  StatusOr<SmallestFootprint> smallest = ComputeSmallestFootprint(*layers, kMnistShape);

  ASSERT_TRUE(smallest.ok()) << smallest.status().ToString();
  ExpectTwoBitVariantsReport(spec, *smallest);
}

TEST(ReachableBudgets, LayersThatDoNotChainFromTheInputAreAnError) {
  StatusOr<std::vector<LayerConfig>> layers = TranslateModel([] {
    v1::ModelSpec model;
    model.set_preset("cnn");
    return model;
  }());
  ASSERT_TRUE(layers.ok());
  EXPECT_FALSE(ComputeSmallestFootprint(*layers, ImageShape{2, 2, 1}).ok());
}

TEST(ReachableBudgets, ABudgetBelowTheMinimumIsRefusedNamingItAndOneAtTheMinimumIsNot) {
  SmallestFootprint smallest;
  smallest.weight_bits = 2;
  smallest.flash_bytes = 5492;
  smallest.ram_bytes = 7840;
  v1::SearchBudgets budgets;
  EXPECT_TRUE(CheckReachable(budgets, smallest).ok()) << "unset budgets constrain nothing";
  budgets.set_max_latency_ms(0.001);
  EXPECT_TRUE(CheckReachable(budgets, smallest).ok()) << "latency needs the board";

  budgets.set_max_flash_bytes(5491);
  Status refused = CheckReachable(budgets, smallest);
  EXPECT_EQ(refused.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(refused.message(),
            "budgets.max_flash_bytes: 5491 is below the smallest flash this model can reach (5492 bytes, every "
            "weighted layer at 2 bits)");
  budgets.set_max_flash_bytes(5492);
  EXPECT_TRUE(CheckReachable(budgets, smallest).ok());

  budgets.set_max_ram_bytes(7839);
  refused = CheckReachable(budgets, smallest);
  EXPECT_EQ(refused.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(refused.message(),
            "budgets.max_ram_bytes: 7839 is below the RAM this model needs (7840 bytes: its activation arena, the "
            "same at every bit width)");
  budgets.set_max_ram_bytes(7840);
  EXPECT_TRUE(CheckReachable(budgets, smallest).ok());

  // Both below: one message naming both.
  budgets.set_max_flash_bytes(100);
  budgets.set_max_ram_bytes(200);
  EXPECT_EQ(CheckReachable(budgets, smallest).message(),
            "budgets.max_flash_bytes: 100 is below the smallest flash this model can reach (5492 bytes, every "
            "weighted layer at 2 bits); budgets.max_ram_bytes: 200 is below the RAM this model needs (7840 bytes: "
            "its activation arena, the same at every bit width)");
}

}  // namespace
}  // namespace qatlab::search
