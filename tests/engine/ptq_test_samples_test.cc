// PtqSpec.test_samples: a job that evaluates its PTQ variants on the first N
// test images reports, for them, exactly what a job given only those N test
// images reports, and still evaluates its float model on the whole test set.
// What a search's sensitivity job rests on (docs/search.md).
#include <gtest/gtest.h>

#include "data/dataset.h"
#include "engine/experiment.h"
#include "tests/support/mnist10k.h"

namespace qatlab {
namespace {

constexpr int kTestImages = 600;
constexpr int kSubset = 150;

const v1::VariantResult* Find(const v1::JobResult& result, const std::string& name) {
  for (const auto& v : result.variants()) {
    if (v.name() == name) return &v;
  }
  return nullptr;
}

v1::JobSpec ProbeLikeSpec() {
  v1::JobSpec spec = test_support::ShortQatSpec("cnn", {8, 4, 2});
  spec.set_skip_qat(true);
  return spec;
}

TEST(PtqTestSamples, PtqFiguresOnTheSubsetEqualAJobGivenOnlyThoseImages) {
  const DatasetPair data = test_support::LoadMnist10k(1000, kTestImages);
  ASSERT_EQ(data.test.size(), kTestImages);
  DatasetPair limited = data;
  limited.test.Truncate(kSubset);

  v1::JobSpec subset_spec = ProbeLikeSpec();
  subset_spec.mutable_ptq()->set_test_samples(kSubset);
  auto on_subset = RunExperimentOnData(subset_spec, data, ExperimentOptions{}, nullptr);
  ASSERT_TRUE(on_subset.ok()) << on_subset.status().ToString();
  auto with_fewer_images = RunExperimentOnData(ProbeLikeSpec(), limited, ExperimentOptions{}, nullptr);
  ASSERT_TRUE(with_fewer_images.ok()) << with_fewer_images.status().ToString();

  EXPECT_EQ(on_subset->result.ptq_test_samples(), kSubset);
  EXPECT_EQ(on_subset->result.test_samples(), kTestImages);
  EXPECT_EQ(with_fewer_images->result.ptq_test_samples(), kSubset);
  for (const char* name : {"ptq_w8a8", "ptq_w4a8", "ptq_w2a8"}) {
    const v1::VariantResult* subset = Find(on_subset->result, name);
    const v1::VariantResult* fewer = Find(with_fewer_images->result, name);
    ASSERT_TRUE(subset != nullptr && fewer != nullptr) << name;
    EXPECT_EQ(subset->integer_accuracy(), fewer->integer_accuracy()) << name;
    EXPECT_EQ(subset->accuracy(), fewer->accuracy()) << name;
    EXPECT_EQ(subset->agreement(), fewer->agreement()) << name;
    EXPECT_EQ(subset->artifact_sha256(), fewer->artifact_sha256()) << name << ": the model depends on the subset";
  }
  // The float model is trained and evaluated as without the option.
  v1::JobSpec whole_spec = ProbeLikeSpec();
  whole_spec.clear_configs();
  whole_spec.add_configs()->set_weight_bits(2);
  auto whole = RunExperimentOnData(whole_spec, data, ExperimentOptions{}, nullptr);
  ASSERT_TRUE(whole.ok()) << whole.status().ToString();
  EXPECT_EQ(whole->result.ptq_test_samples(), kTestImages);
  EXPECT_EQ(Find(whole->result, "float")->accuracy(), Find(on_subset->result, "float")->accuracy());
}

TEST(PtqTestSamples, MoreThanTheTestSetMeansAllOfIt) {
  const DatasetPair data = test_support::LoadMnist10k(300, 100);
  v1::JobSpec spec = test_support::ShortQatSpec("mlp", {8});
  spec.set_skip_qat(true);
  spec.mutable_ptq()->set_test_samples(5000);
  auto output = RunExperimentOnData(spec, data, ExperimentOptions{}, nullptr);
  ASSERT_TRUE(output.ok()) << output.status().ToString();
  EXPECT_EQ(output->result.ptq_test_samples(), 100);
}

}  // namespace
}  // namespace qatlab
