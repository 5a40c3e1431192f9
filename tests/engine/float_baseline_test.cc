// A job that starts from another job's float model (JobSpec.baseline_job):
// the float checkpoint round trip and its errors, and the promise sweeps
// rest on: a variant trained from a shared baseline is byte-identical to the
// same variant of a job that trained its own float model.
#include <gtest/gtest.h>

#include <optional>

#include "data/dataset.h"
#include "engine/experiment.h"
#include "engine/float_checkpoint.h"
#include "engine/job_spec.h"
#include "engine/network.h"
#include "tests/support/mnist10k.h"

namespace qatlab {
namespace {

const DatasetPair& SmallMnist() {
  static const DatasetPair data = test_support::LoadMnist10k(1000, 300);
  return data;
}

const v1::VariantResult* Find(const v1::JobResult& result, const std::string& name) {
  for (const auto& v : result.variants()) {
    if (v.name() == name) return &v;
  }
  return nullptr;
}

// The baseline job of these tests: float only, as a sweep submits it.
StatusOr<ExperimentOutput> TrainBaseline() {
  v1::JobSpec spec = test_support::ShortQatSpec("cnn", {8});
  spec.set_skip_ptq(true);
  spec.set_skip_qat(true);
  return RunExperimentOnData(spec, SmallMnist(), ExperimentOptions{}, nullptr);
}

TEST(FloatBaseline, VariantFromSharedBaselineIsByteIdenticalToStandalone) {
  const DatasetPair& data = SmallMnist();
  ASSERT_GT(data.train.size(), 0);
  auto baseline = TrainBaseline();
  ASSERT_TRUE(baseline.ok()) << baseline.status().ToString();
  ASSERT_EQ(baseline->result.variants_size(), 1);
  ASSERT_FALSE(baseline->float_checkpoint.empty());

  // The same variant twice: standalone, and starting from the baseline.
  const v1::JobSpec variant_spec = test_support::ShortQatSpec("cnn", {4});
  auto standalone = RunExperimentOnData(variant_spec, data, ExperimentOptions{}, nullptr);
  ASSERT_TRUE(standalone.ok()) << standalone.status().ToString();
  v1::JobSpec dependent_spec = variant_spec;
  dependent_spec.set_baseline_job("j-baseline");
  ExperimentOptions from_baseline;
  from_baseline.float_checkpoint = &baseline->float_checkpoint;
  from_baseline.baseline_job = "j-baseline";
  int float_epochs_reported = 0;
  auto dependent = RunExperimentOnData(dependent_spec, data, from_baseline, [&](const ProgressEvent& event) {
    if (event.stats.variant() == "float") ++float_epochs_reported;
    return true;
  });
  ASSERT_TRUE(dependent.ok()) << dependent.status().ToString();

  EXPECT_EQ(float_epochs_reported, 0) << "the dependent trained a float model";
  EXPECT_TRUE(dependent->float_checkpoint.empty());
  const v1::VariantResult* dependent_float = Find(dependent->result, "float");
  ASSERT_NE(dependent_float, nullptr);
  EXPECT_EQ(dependent_float->baseline_job(), "j-baseline");
  EXPECT_EQ(dependent_float->history_size(), 0);
  EXPECT_EQ(dependent_float->accuracy(), baseline->result.variants(0).accuracy());
  EXPECT_EQ(Find(standalone->result, "float")->baseline_job(), "");
  ASSERT_EQ(standalone->artifacts.size(), dependent->artifacts.size());
  ASSERT_EQ(standalone->artifacts.size(), 2u);  // ptq_w4a8, qat_w4a8
  for (size_t i = 0; i < standalone->artifacts.size(); ++i) {
    EXPECT_EQ(standalone->artifacts[i].file_name, dependent->artifacts[i].file_name);
    EXPECT_TRUE(standalone->artifacts[i].qmodel == dependent->artifacts[i].qmodel)
        << standalone->artifacts[i].file_name << " differs";
  }
  // The baseline's checkpoint is the standalone job's float model, bytes and all.
  EXPECT_TRUE(standalone->float_checkpoint == baseline->float_checkpoint);
}

// qat.seed moves only QAT's shuffle stream: from one float model, the
// job's own seed written out is the default stream, another seed another
// QAT model, and neither touches the float or the PTQ model.
TEST(FloatBaseline, QatSeedChangesOnlyTheQatModel) {
  const DatasetPair& data = SmallMnist();
  ASSERT_GT(data.train.size(), 0);
  auto baseline = TrainBaseline();
  ASSERT_TRUE(baseline.ok()) << baseline.status().ToString();
  ExperimentOptions from_baseline;
  from_baseline.float_checkpoint = &baseline->float_checkpoint;
  from_baseline.baseline_job = "j-baseline";
  auto run = [&](std::optional<uint64_t> qat_seed) {
    v1::JobSpec spec = test_support::ShortQatSpec("cnn", {4});
    spec.set_baseline_job("j-baseline");
    if (qat_seed) spec.mutable_qat()->set_seed(*qat_seed);
    auto output = RunExperimentOnData(spec, data, from_baseline, nullptr);
    EXPECT_TRUE(output.ok()) << output.status().ToString();
    return output;
  };
  const auto unset = run(std::nullopt);
  const auto same = run(test_support::ShortQatSpec("cnn", {4}).seed());
  const auto other = run(7);
  ASSERT_TRUE(unset.ok() && same.ok() && other.ok());
  ASSERT_EQ(unset->artifacts.size(), 2u);  // ptq_w4a8, qat_w4a8
  ASSERT_EQ(other->artifacts.size(), 2u);
  for (size_t i = 0; i < 2; ++i) {
    EXPECT_TRUE(unset->artifacts[i].qmodel == same->artifacts[i].qmodel) << unset->artifacts[i].file_name;
  }
  EXPECT_EQ(other->artifacts[0].file_name, "ptq_w4a8.qmodel");
  EXPECT_TRUE(unset->artifacts[0].qmodel == other->artifacts[0].qmodel) << "qat.seed changed the PTQ model";
  EXPECT_FALSE(unset->artifacts[1].qmodel == other->artifacts[1].qmodel) << "qat.seed 7 left the QAT model as it was";
  EXPECT_EQ(Find(unset->result, "float")->accuracy(), Find(other->result, "float")->accuracy());
}

TEST(FloatBaseline, SpecNamingABaselineNeedsItsCheckpoint) {
  v1::JobSpec spec = test_support::ShortQatSpec("cnn", {8});
  spec.set_baseline_job("j-x");
  auto output = RunExperimentOnData(spec, SmallMnist(), ExperimentOptions{}, nullptr);
  ASSERT_FALSE(output.ok());
  EXPECT_EQ(output.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(output.status().message().find("j-x"), std::string::npos) << output.status().message();
}

class FloatCheckpointTest : public ::testing::Test {
 protected:
  std::unique_ptr<Network> Cnn(uint64_t seed) {
    v1::ModelSpec model;
    model.set_preset("cnn");
    auto layers = TranslateModel(model);
    EXPECT_TRUE(layers.ok());
    auto net = Network::Create(*layers, ImageShape{28, 28, 1}, seed);
    EXPECT_TRUE(net.ok());
    return std::move(*net);
  }
};

TEST_F(FloatCheckpointTest, RoundTripRestoresEveryBitAndIsDeterministic) {
  auto a = Cnn(1);
  auto b = Cnn(2);
  const std::vector<uint8_t> bytes = WriteFloatCheckpoint(*a);
  EXPECT_TRUE(bytes == WriteFloatCheckpoint(*a));
  EXPECT_FALSE(bytes == WriteFloatCheckpoint(*b));
  ASSERT_TRUE(LoadFloatCheckpoint(bytes, b.get()).ok());
  EXPECT_TRUE(bytes == WriteFloatCheckpoint(*b));
}

TEST_F(FloatCheckpointTest, BadBytesAreRefusedNamingTheProblemAndChangeNothing) {
  auto net = Cnn(1);
  const std::vector<uint8_t> good = WriteFloatCheckpoint(*Cnn(2));
  const std::vector<uint8_t> before = WriteFloatCheckpoint(*net);
  auto expect_refused = [&](const std::vector<uint8_t>& bytes, const std::string& words) {
    Status status = LoadFloatCheckpoint(bytes, net.get());
    EXPECT_EQ(status.code(), StatusCode::kInvalidArgument);
    EXPECT_NE(status.message().find(words), std::string::npos) << status.message();
    EXPECT_TRUE(WriteFloatCheckpoint(*net) == before);
  };
  std::vector<uint8_t> bad_magic = good;
  bad_magic[0] = 'X';
  expect_refused(bad_magic, "bad magic");
  std::vector<uint8_t> newer = good;
  newer[8] = 2;
  expect_refused(newer, "version 2");
  expect_refused(std::vector<uint8_t>(good.begin(), good.end() - 3), "truncated");
  std::vector<uint8_t> trailing = good;
  trailing.push_back(0);
  expect_refused(trailing, "after the last layer");
  v1::ModelSpec mlp;
  mlp.set_preset("mlp");
  auto layers = TranslateModel(mlp);
  ASSERT_TRUE(layers.ok());
  auto other = Network::Create(*layers, ImageShape{28, 28, 1}, 1);
  ASSERT_TRUE(other.ok());
  expect_refused(WriteFloatCheckpoint(**other), "layers");
}

}  // namespace
}  // namespace qatlab
