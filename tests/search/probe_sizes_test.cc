// The cost model's flash and RAM are the exporter's exact sizes: a real PTQ
// job (ds_cnn, with conv, depthwise and dense layers) over the probe
// configurations plus random mixed ones; every mixed configuration's
// predicted .qmodel size and arena equal the ones its export produced.
#include <gtest/gtest.h>

#include <map>
#include <random>
#include <string>
#include <vector>

#include "engine/experiment.h"
#include "engine/job_spec.h"
#include "search/bit_width_search.h"
#include "search/probe_plan.h"
#include "tests/support/mnist10k.h"

namespace qatlab::search {
namespace {

// A measurement with `weighted` weighted ops: only the sizes are under test here.
v1::MeasurementResult PlaceholderMeasurement(int weighted) {
  v1::MeasurementResult result;
  result.set_clock_hz(25000000);
  for (int i = 0; i < weighted; ++i) {
    v1::LayerCycles* layer = result.add_layers();
    layer->set_index(i);
    layer->set_op("conv2d");
    layer->set_cycles(1000);
  }
  result.set_median_cycles(1000 * weighted + 10);
  return result;
}

TEST(ProbeSizes, PredictedFlashAndRamEqualTheExportedSizesOfMixedConfigurations) {
  v1::JobSpec spec;
  spec.mutable_model()->set_preset("ds_cnn");
  StatusOr<int> weighted = CountWeightedLayers(spec.model());
  ASSERT_TRUE(weighted.ok()) << weighted.status().ToString();
  ASSERT_EQ(*weighted, 8);

  spec.mutable_training()->set_epochs(1);
  spec.mutable_ptq()->set_calibration_samples(64);
  spec.set_skip_qat(true);
  for (const v1::QuantConfig& config : ProbeConfigs(*weighted)) *spec.add_configs() = config;
  std::mt19937 random(2026);
  std::vector<std::vector<int>> mixed;
  for (int m = 0; m < 4; ++m) {
    std::vector<int> bits;
    for (int l = 0; l < *weighted; ++l) bits.push_back(kSearchWidths[random() % 3]);
    mixed.push_back(bits);
    v1::QuantConfig* config = spec.add_configs();
    config->set_name("random" + std::to_string(m));
    for (int b : bits) config->add_layer_weight_bits(b);
  }
  ApplyJobSpecDefaults(&spec);
  const DatasetPair data = test_support::LoadMnist10k(300, 100);

  StatusOr<ExperimentOutput> output = RunExperimentOnData(spec, data, {}, nullptr);

  ASSERT_TRUE(output.ok()) << output.status().ToString();
  ProbeResults probes;
  probes.sensitivity_job = output->result;
  for (int bits : kSearchWidths) probes.uniform_measurements[bits] = PlaceholderMeasurement(*weighted);
  StatusOr<SearchProblem> problem = BuildSearchProblem(probes, *weighted, RankingMeasure::kPtqDrop);
  ASSERT_TRUE(problem.ok()) << problem.status().ToString();
  std::map<std::string, const v1::VariantResult*> variants;
  for (const v1::VariantResult& variant : output->result.variants()) variants[variant.name()] = &variant;

  for (size_t m = 0; m < mixed.size(); ++m) {
    StatusOr<PredictedConfig> predicted = Predict(*problem, mixed[m]);
    ASSERT_TRUE(predicted.ok());
    const v1::VariantResult* exported = variants.at("ptq_random" + std::to_string(m));
    EXPECT_EQ(predicted->flash_bytes, exported->flash_bytes()) << BitsText(mixed[m]);
    EXPECT_EQ(predicted->ram_bytes, exported->ram_bytes()) << BitsText(mixed[m]);
  }
  for (int bits : {4, 2}) {
    StatusOr<PredictedConfig> uniform = Predict(*problem, std::vector<int>(*weighted, bits));
    ASSERT_TRUE(uniform.ok());
    EXPECT_EQ(uniform->flash_bytes, variants.at("ptq_" + UniformConfigName(bits))->flash_bytes());
  }
}

}  // namespace
}  // namespace qatlab::search
