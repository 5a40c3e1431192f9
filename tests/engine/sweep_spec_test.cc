// Sweep files: parsing, the grid's expansion into jobs, and one clear error
// for each kind of bad file; and which jobs may be each other's baseline.
#include <gtest/gtest.h>

#include <set>

#include "engine/baseline_job.h"
#include "engine/job_spec.h"
#include "engine/sweep_spec.h"

namespace qatlab {
namespace {

constexpr char kTwelvePoints[] = R"({
  "name": "cnn-bits",
  "base": {"experiment": "s", "model": {"preset": "cnn"}, "training": {"epochs": 1}, "qat": {"epochs": 1}},
  "grid": {"weight_bits": [8, 4, 2], "layer_weight_bits": [[8, 4, 8]], "per_tensor": [false, true],
           "symmetricActivations": [false], "ptq_method": ["minmax"], "qat_learning_rate": [0.0001],
           "seed": [1, 2]}
})";

StatusOr<SweepPlan> Expand(const std::string& json) {
  QATLAB_ASSIGN_OR_RETURN(v1::SweepSpec spec, ParseSweepSpecJson(json));
  return ExpandSweep(spec);
}

Status ErrorOf(const std::string& json) {
  auto plan = Expand(json);
  return plan.ok() ? Status::Ok() : plan.status();
}

TEST(SweepSpec, GridExpandsIntoOneJobPerPointAndOneBaselinePerSeed) {
  auto plan = Expand(kTwelvePoints);
  ASSERT_TRUE(plan.ok()) << plan.status().ToString();
  EXPECT_EQ(plan->name, "cnn-bits");
  EXPECT_EQ(plan->points, 16);  // (3 uniform + 1 per-layer) x 2 x 1 x 1 x 1 x 2 seeds
  ASSERT_EQ(plan->groups.size(), 2u);
  std::set<std::string> names;
  for (size_t g = 0; g < plan->groups.size(); ++g) {
    const SweepGroup& group = plan->groups[g];
    const uint64_t seed = g + 1;
    EXPECT_TRUE(group.new_baseline);
    EXPECT_EQ(group.baseline.seed(), seed);
    EXPECT_TRUE(group.baseline.skip_ptq() && group.baseline.skip_qat());
    ASSERT_EQ(group.jobs.size(), 8u);
    for (const v1::JobSpec& job : group.jobs) {
      EXPECT_EQ(job.seed(), seed);
      EXPECT_TRUE(job.baseline_job().empty());
      ASSERT_EQ(job.configs_size(), 1);
      names.insert(job.configs(0).name());
      EXPECT_TRUE(CheckBaselineCompatible(job, "j-b", group.baseline).ok());
    }
  }
  EXPECT_EQ(names.size(), 16u) << "every point's config has its own name";
  EXPECT_EQ(plan->groups[0].jobs[0].configs(0).name(), "w8a8_pc_s1");
  EXPECT_EQ(plan->groups[0].jobs[7].configs(0).layer_weight_bits_size(), 3);
}

TEST(SweepSpec, EmptyGridIsRefused) {
  Status status = ErrorOf(R"({"base": {"model": {"preset": "cnn"}}, "grid": {}})");
  EXPECT_EQ(status.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(status.message().find("grid is empty"), std::string::npos) << status.message();
  EXPECT_EQ(ErrorOf(R"({"base": {"model": {"preset": "cnn"}}})").code(), StatusCode::kInvalidArgument);
}

TEST(SweepSpec, GridOverTenThousandPointsIsRefusedSayingHowMany) {
  // 7 x 7 x 2 x 2 x 3 x 10 x 10 = 58,800
  Status status = ErrorOf(R"({"base": {"model": {"preset": "cnn"}}, "grid": {
      "weight_bits": [2, 3, 4, 5, 6, 7, 8], "qat_epochs": [1, 2, 3, 4, 5, 6, 7], "per_tensor": [true, false],
      "symmetric_activations": [true, false], "ptq_method": ["minmax", "mse", "percentile"],
      "qat_learning_rate": [1e-4, 2e-4, 3e-4, 4e-4, 5e-4, 6e-4, 7e-4, 8e-4, 9e-4, 1e-3],
      "seed": [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]}})");
  EXPECT_EQ(status.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(status.message().find("58800 points"), std::string::npos) << status.message();
  EXPECT_NE(status.message().find("10000"), std::string::npos) << status.message();
}

TEST(SweepSpec, UnknownAxisIsRefusedNamingIt) {
  Status status = ErrorOf(R"({"base": {"model": {"preset": "cnn"}}, "grid": {"bits": [4, 8]}})");
  EXPECT_EQ(status.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(status.message().find("unknown axis 'bits'"), std::string::npos) << status.message();
  EXPECT_NE(status.message().find("weight_bits"), std::string::npos) << status.message();
}

TEST(SweepSpec, BadPointsAndBaseAreRefusedNamingThem) {
  Status bits = ErrorOf(R"({"base": {"model": {"preset": "cnn"}}, "grid": {"weight_bits": [8, 9]}})");
  EXPECT_NE(bits.message().find("grid point w9a8"), std::string::npos) << bits.message();
  Status base = ErrorOf(R"({"base": {"model": {"preset": "cnn"}, "colour": 1}, "grid": {"weight_bits": [8]}})");
  EXPECT_NE(base.message().find("base: "), std::string::npos) << base.message();
  Status seed = ErrorOf(R"({"base": {"model": {"preset": "cnn"}, "baseline_job": "j-x"}, "grid": {"seed": [1, 2]}})");
  EXPECT_NE(seed.message().find("baseline_job"), std::string::npos) << seed.message();
}

TEST(SweepSpec, ExistingBaselineMeansNoNewOne) {
  auto plan =
      Expand(R"({"base": {"model": {"preset": "cnn"}, "baselineJob": "j-x"}, "grid": {"weight_bits": [4, 8]}})");
  ASSERT_TRUE(plan.ok()) << plan.status().ToString();
  ASSERT_EQ(plan->groups.size(), 1u);
  EXPECT_FALSE(plan->groups[0].new_baseline);
  ASSERT_EQ(plan->groups[0].jobs.size(), 2u);
  EXPECT_EQ(plan->groups[0].jobs[1].baseline_job(), "j-x");
}

TEST(BaselineJob, ADifferentFloatTrainingIsRefusedNamingTheField) {
  v1::JobSpec a;
  a.mutable_model()->set_preset("cnn");
  ApplyJobSpecDefaults(&a);
  v1::JobSpec b = a;
  b.mutable_training()->set_learning_rate(0.002);
  Status status = CheckBaselineCompatible(a, "j-b", b);
  EXPECT_EQ(status.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(status.message().find("training.learning_rate differs"), std::string::npos) << status.message();
  EXPECT_NE(status.message().find("j-b"), std::string::npos) << status.message();
  v1::JobSpec c = a;
  c.set_seed(7);
  EXPECT_NE(CheckBaselineCompatible(a, "j-b", c).message().find("seed differs"), std::string::npos);
  v1::JobSpec d = a;
  d.mutable_model()->set_preset("mlp");
  EXPECT_NE(CheckBaselineCompatible(a, "j-b", d).message().find("model.preset"), std::string::npos);
  v1::JobSpec e = a;
  e.add_configs()->set_weight_bits(4);  // the configs do not matter
  EXPECT_TRUE(CheckBaselineCompatible(e, "j-b", a).ok());
  v1::JobSpec chained = a;
  chained.set_baseline_job("j-a");
  EXPECT_NE(CheckBaselineCompatible(a, "j-b", chained).message().find("itself"), std::string::npos);
}

}  // namespace
}  // namespace qatlab
