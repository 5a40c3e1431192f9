// The probe plan on hand-made results: the configurations of the sensitivity
// job, and how its PTQ variants and the uniform measurements become per-layer
// drops, size deltas and cycles.
#include "search/probe_plan.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace qatlab::search {
namespace {

TEST(ProbeConfigs, UniformThenTheMixedProbeThenEachLayerAtFourAndTwoBits) {
  std::vector<v1::QuantConfig> configs = ProbeConfigs(3);

  ASSERT_EQ(configs.size(), 4u + 3u * 2u);
  EXPECT_EQ(configs[0].name(), "w8a8");
  EXPECT_EQ(configs[1].name(), "w4a8");
  EXPECT_EQ(configs[2].weight_bits(), 2);
  EXPECT_EQ(configs[3].name(), kMixedProbeName);
  EXPECT_EQ(std::vector<int>(configs[3].layer_weight_bits().begin(), configs[3].layer_weight_bits().end()),
            (std::vector<int>{8, 4, 2}));
  EXPECT_EQ(configs[7].name(), "l1_w2");
  EXPECT_EQ(std::vector<int>(configs[7].layer_weight_bits().begin(), configs[7].layer_weight_bits().end()),
            (std::vector<int>{8, 2, 8}));
  for (const v1::QuantConfig& config : configs) EXPECT_EQ(config.activation_bits(), 8);
}

TEST(SensitivityJobSpec, TheUsersJobWithTheProbesNoQatAndTheProbeTestSubset) {
  v1::JobSpec spec;
  spec.mutable_model()->set_preset("cnn_bn");
  spec.mutable_data()->set_source("fashion-mnist");
  spec.mutable_training()->set_epochs(3);
  spec.mutable_ptq()->set_calibration_samples(256);
  spec.set_seed(7);
  spec.add_configs()->set_weight_bits(4);
  spec.set_skip_ptq(true);
  spec.add_measure_on("mps2-an386");

  const v1::JobSpec probe = SensitivityJobSpec(spec, 3);

  ASSERT_EQ(probe.configs_size(), 10);
  EXPECT_EQ(probe.configs(9).name(), ProbeConfigs(3)[9].name());
  EXPECT_FALSE(probe.skip_ptq());
  EXPECT_TRUE(probe.skip_qat());
  EXPECT_EQ(probe.measure_on_size(), 0);
  EXPECT_EQ(probe.ptq().test_samples(), kSensitivityTestSamples);
  EXPECT_EQ(probe.ptq().calibration_samples(), 256);
  EXPECT_EQ(probe.labels().at("search-step"), "sensitivity");
  // The float model is the user's: what the candidates start from.
  EXPECT_EQ(probe.model().preset(), "cnn_bn");
  EXPECT_EQ(probe.data().source(), "fashion-mnist");
  EXPECT_EQ(probe.training().epochs(), 3);
  EXPECT_EQ(probe.seed(), 7u);

  EXPECT_EQ(probe.ptq().hessian_probes(), kSensitivityHessianProbes);

  // A subset and probes the user chose are kept.
  spec.mutable_ptq()->set_test_samples(500);
  spec.mutable_ptq()->set_hessian_probes(4);
  EXPECT_EQ(SensitivityJobSpec(spec, 3).ptq().test_samples(), 500);
  EXPECT_EQ(SensitivityJobSpec(spec, 3).ptq().hessian_probes(), 4);
}

TEST(HawqScore, SumsEachLayersOmegaAtItsWidth) {
  v1::JobResult job;
  for (int l = 0; l < 3; ++l) {
    v1::LayerHessian* layer = job.add_layer_hessian();
    layer->set_weighted_layer(l);
    layer->set_omega_w2(100.0 * (l + 1));
    layer->set_omega_w4(10.0 * (l + 1));
    layer->set_omega_w8(1.0 * (l + 1));
  }
  auto score = HawqScore(job, {8, 2, 4});
  ASSERT_TRUE(score.ok()) << score.status().ToString();
  EXPECT_DOUBLE_EQ(*score, 1.0 + 200.0 + 30.0);
  EXPECT_EQ(HawqScore(job, {8, 3, 4}).status().code(), StatusCode::kInvalidArgument);
  // A job without traces (an older worker) or of another model.
  EXPECT_EQ(HawqScore(v1::JobResult(), {8, 8, 8}).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(HawqScore(job, {8, 8}).status().code(), StatusCode::kInvalidArgument);
}

v1::VariantResult* AddVariant(v1::JobResult& job, const std::string& name, double accuracy, int64_t flash,
                              int64_t ram) {
  v1::VariantResult* variant = job.add_variants();
  variant->set_name(name);
  variant->set_integer_accuracy(accuracy);
  variant->set_flash_bytes(flash);
  variant->set_ram_bytes(ram);
  return variant;
}

// conv2d, maxpool, conv2d, maxpool, dense with the given weighted cycles and
// `rest` cycles spread over the pools.
v1::MeasurementResult Measured(const std::vector<uint64_t>& weighted, uint64_t rest) {
  v1::MeasurementResult result;
  result.set_clock_hz(25000000);
  const std::vector<std::string> ops = {"conv2d", "maxpool", "conv2d", "maxpool", "dense"};
  uint64_t total = rest;
  size_t w = 0;
  for (size_t i = 0; i < ops.size(); ++i) {
    v1::LayerCycles* layer = result.add_layers();
    layer->set_index(static_cast<int>(i));
    layer->set_op(ops[i]);
    const uint64_t cycles = ops[i] == "maxpool" ? rest / 2 : weighted[w++];
    layer->set_cycles(cycles);
    if (ops[i] != "maxpool") total += cycles;
  }
  result.set_median_cycles(total + 100);  // 100: outside the ops (the loop, the input copy)
  return result;
}

ProbeResults HandMadeProbes() {
  ProbeResults probes;
  v1::JobResult& job = probes.sensitivity_job;
  AddVariant(job, "float", 91, 0, 0);
  AddVariant(job, "ptq_w8a8", 90, 5000, 1200);
  AddVariant(job, "ptq_w4a8", 85, 3000, 1200);
  AddVariant(job, "ptq_w2a8", 40, 2000, 1200);
  AddVariant(job, "ptq_l0_w4", 89.5, 4900, 1200);
  AddVariant(job, "ptq_l0_w2", 80, 4850, 1200);
  AddVariant(job, "ptq_l1_w4", 90.25, 4000, 1200);
  AddVariant(job, "ptq_l1_w2", 86, 3500, 1200);
  AddVariant(job, "ptq_l2_w4", 88, 4500, 1200);
  AddVariant(job, "ptq_l2_w2", 70, 4250, 1200);
  probes.uniform_measurements[8] = Measured({1000, 3000, 500}, 60);
  probes.uniform_measurements[4] = Measured({900, 2000, 400}, 60);
  probes.uniform_measurements[2] = Measured({800, 1500, 300}, 60);
  return probes;
}

TEST(BuildSearchProblem, DropsAndSizesFromTheProbesAndCyclesFromTheUniformMeasurements) {
  StatusOr<SearchProblem> problem = BuildSearchProblem(HandMadeProbes(), 3, RankingMeasure::kPtqDrop);

  ASSERT_TRUE(problem.ok()) << problem.status().ToString();
  EXPECT_EQ(problem->reference_accuracy, 90);
  EXPECT_EQ(problem->base_flash_bytes, 5000);
  EXPECT_EQ(problem->base_ram_bytes, 1200);
  EXPECT_EQ(problem->clock_hz, 25e6);
  EXPECT_EQ(problem->base_cycles, 60 + 100);
  ASSERT_EQ(problem->layers.size(), 3u);
  // Layer 1 at 4 bits: drop -0.25 (more accurate than w8), 1000 bytes less, 2000 cycles.
  const WidthOption& l1w4 = problem->layers[1][1];
  EXPECT_EQ(l1w4.bits, 4);
  EXPECT_DOUBLE_EQ(l1w4.accuracy_drop, -0.25);
  EXPECT_EQ(l1w4.flash_bytes, -1000);
  EXPECT_EQ(l1w4.cycles, 2000);
  EXPECT_EQ(problem->layers[2][2].cycles, 300);
  EXPECT_DOUBLE_EQ(problem->layers[2][2].accuracy_drop, 20);

  StatusOr<PredictedConfig> uniform4 = Predict(*problem, {4, 4, 4});
  ASSERT_TRUE(uniform4.ok());
  EXPECT_EQ(uniform4->cycles, HandMadeProbes().uniform_measurements[4].median_cycles());
  // No traces in these probes: ranked by the PTQ drops, no HAWQ scores.
  EXPECT_FALSE(problem->has_hawq_scores);
  EXPECT_EQ(uniform4->rank, uniform4->accuracy_drop);
}

// HandMadeProbes with Hessian traces: Omega(l, b) = (l + 1) * 1000 / b^3, so
// a score per option that the PTQ drops do not determine.
ProbeResults HandMadeProbesWithTraces() {
  ProbeResults probes = HandMadeProbes();
  for (int l = 0; l < 3; ++l) {
    v1::LayerHessian* layer = probes.sensitivity_job.add_layer_hessian();
    layer->set_weighted_layer(l);
    layer->set_omega_w8((l + 1) * 1000.0 / 512);
    layer->set_omega_w4((l + 1) * 1000.0 / 64);
    layer->set_omega_w2((l + 1) * 1000.0 / 8);
  }
  return probes;
}

TEST(BuildSearchProblem, RankedByTheHawqScoreEachOptionCarriesItsOmegaBesideItsDrop) {
  StatusOr<SearchProblem> problem = BuildSearchProblem(HandMadeProbesWithTraces(), 3, RankingMeasure::kHawqScore);

  ASSERT_TRUE(problem.ok()) << problem.status().ToString();
  EXPECT_EQ(problem->ranking, RankingMeasure::kHawqScore);
  EXPECT_TRUE(problem->has_hawq_scores);
  const WidthOption& l2w2 = problem->layers[2][2];
  EXPECT_EQ(l2w2.bits, 2);
  EXPECT_DOUBLE_EQ(l2w2.hawq_score, 3 * 1000.0 / 8);
  EXPECT_DOUBLE_EQ(l2w2.accuracy_drop, 20);  // the PTQ drop is still there, to be reported
  StatusOr<PredictedConfig> config = Predict(*problem, {8, 4, 2});
  ASSERT_TRUE(config.ok());
  StatusOr<double> hawq = HawqScore(HandMadeProbesWithTraces().sensitivity_job, {8, 4, 2});
  ASSERT_TRUE(hawq.ok());
  EXPECT_DOUBLE_EQ(config->hawq_score, *hawq);
  EXPECT_DOUBLE_EQ(config->rank, *hawq);
  EXPECT_DOUBLE_EQ(config->accuracy, 90 - (90 - 90.25) - 20);

  // Ranked by the PTQ drops, the scores are still predicted beside them.
  problem = BuildSearchProblem(HandMadeProbesWithTraces(), 3, RankingMeasure::kPtqDrop);
  ASSERT_TRUE(problem.ok());
  EXPECT_TRUE(problem->has_hawq_scores);
  config = Predict(*problem, {8, 4, 2});
  ASSERT_TRUE(config.ok());
  EXPECT_DOUBLE_EQ(config->hawq_score, *hawq);
  EXPECT_DOUBLE_EQ(config->rank, config->accuracy_drop);
}

TEST(BuildSearchProblem, RankingByTheHawqScoreWithoutTracesNamesTheFix) {
  StatusOr<SearchProblem> problem = BuildSearchProblem(HandMadeProbes(), 3, RankingMeasure::kHawqScore);

  ASSERT_FALSE(problem.ok());
  EXPECT_EQ(problem.status().code(), StatusCode::kFailedPrecondition);
  const std::string message(problem.status().message());
  EXPECT_NE(message.find("it has 0 of 3 layers'"), std::string::npos) << message;
  EXPECT_NE(message.find("ptq.hessianProbes > 0 in the job file"), std::string::npos) << message;
  EXPECT_NE(message.find("--rank-by ptq"), std::string::npos) << message;
  // The same check alone, as the orchestrator makes it before the board measures anything.
  const Status alone = CheckRankable(HandMadeProbes().sensitivity_job, 3, RankingMeasure::kHawqScore);
  EXPECT_EQ(alone.code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(alone.message(), problem.status().message());
  EXPECT_TRUE(CheckRankable(HandMadeProbes().sensitivity_job, 3, RankingMeasure::kPtqDrop).ok());
  EXPECT_TRUE(CheckRankable(HandMadeProbesWithTraces().sensitivity_job, 3, RankingMeasure::kHawqScore).ok());
}

TEST(BuildSearchProblem, NamesAMissingVariantOrMeasurement) {
  ProbeResults probes = HandMadeProbes();
  probes.uniform_measurements.erase(4);
  StatusOr<SearchProblem> no_measurement = BuildSearchProblem(probes, 3, RankingMeasure::kPtqDrop);
  ASSERT_FALSE(no_measurement.ok());
  EXPECT_NE(no_measurement.status().message().find("ptq_w4a8"), std::string::npos);

  probes = HandMadeProbes();
  probes.sensitivity_job.mutable_variants()->RemoveLast();
  StatusOr<SearchProblem> no_variant = BuildSearchProblem(probes, 3, RankingMeasure::kPtqDrop);
  ASSERT_FALSE(no_variant.ok());
  EXPECT_NE(no_variant.status().message().find("no variant 'ptq_l2_w2'"), std::string::npos);

  StatusOr<SearchProblem> wrong_count = BuildSearchProblem(HandMadeProbes(), 4, RankingMeasure::kPtqDrop);
  ASSERT_FALSE(wrong_count.ok());
  EXPECT_NE(wrong_count.status().message().find("3 weighted ops"), std::string::npos);
}

}  // namespace
}  // namespace qatlab::search
