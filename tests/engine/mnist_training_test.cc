// Real training on MNIST-10k: a short float run of the cnn preset, QAT, the
// export and the integer kernels. Shortened to seconds, but quantization that
// breaks (export, folding, fake quantization out of step with the kernels)
// makes it fail. Fetches MNIST-10k through the data loader when the cache
// is missing.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdio>

#include "data/dataset.h"
#include "engine/experiment.h"
#include "engine/job_spec.h"
#include "tests/support/mnist10k.h"

namespace qatlab {
namespace {

const DatasetPair& Mnist() {
  static const DatasetPair data = test_support::LoadMnist10k();
  return data;
}

v1::JobSpec ShortCnnJob() { return test_support::ShortQatSpec("cnn", {8}); }

const v1::VariantResult* Find(const v1::JobResult& result, const std::string& name) {
  for (const auto& v : result.variants()) {
    if (v.name() == name) return &v;
  }
  return nullptr;
}

TEST(MnistTraining, ShortCnnRunQuantizesAndExports) {
  const DatasetPair& data = Mnist();
  ASSERT_GT(data.train.size(), 0);
  auto output = RunExperimentOnData(ShortCnnJob(), data, ExperimentOptions{}, nullptr);
  ASSERT_TRUE(output.ok()) << output.status().ToString();
  const v1::JobResult& result = output->result;
  ASSERT_EQ(result.variants_size(), 3);  // float, ptq_w8a8, qat_w8a8
  const auto* float_variant = Find(result, "float");
  const auto* ptq = Find(result, "ptq_w8a8");
  const auto* qat = Find(result, "qat_w8a8");
  ASSERT_TRUE(float_variant && ptq && qat);
  std::printf("float %.2f%%, ptq int8 %.2f%% (agreement %.2f%%), qat int8 %.2f%% (agreement %.2f%%)\n",
              float_variant->accuracy(), ptq->integer_accuracy(), ptq->agreement(), qat->integer_accuracy(),
              qat->agreement());
  EXPECT_GT(float_variant->accuracy(), 90.0);
  EXPECT_GT(qat->integer_accuracy(), 90.0);
  EXPECT_GT(ptq->integer_accuracy(), float_variant->accuracy() - 2.0);
  EXPECT_GE(qat->agreement(), 99.0);
  EXPECT_GE(ptq->agreement(), 99.0);
  EXPECT_EQ(qat->history_size(), 1);
  // int8 weights: a quarter of float32 plus a small header and per-channel data.
  EXPECT_LT(qat->flash_bytes(), float_variant->flash_bytes() * 35 / 100);
  EXPECT_GT(qat->ram_bytes(), 0);
  EXPECT_EQ(qat->macs(), float_variant->macs());
  ASSERT_EQ(output->artifacts.size(), 2u);
  EXPECT_EQ(output->artifacts[1].file_name, "qat_w8a8.qmodel");
  EXPECT_EQ(static_cast<int64_t>(output->artifacts[1].qmodel.size()), qat->flash_bytes());
}

// Same job twice, and with one thread instead of two: identical bytes and
// accuracies.
TEST(MnistTraining, DeterministicAcrossRunsAndThreadCounts) {
  const DatasetPair& full = Mnist();
  ASSERT_GT(full.train.size(), 0);
  DatasetPair data = full;
  data.train.Truncate(1000);
  data.test.Truncate(300);
  v1::JobSpec spec = ShortCnnJob();
  spec.mutable_configs(0)->set_weight_bits(4);
  ExperimentOptions two_threads, one_thread;
  one_thread.threads = 1;
  auto first = RunExperimentOnData(spec, data, two_threads, nullptr);
  auto second = RunExperimentOnData(spec, data, two_threads, nullptr);
  auto single = RunExperimentOnData(spec, data, one_thread, nullptr);
  ASSERT_TRUE(first.ok() && second.ok() && single.ok());
  ASSERT_EQ(first->artifacts.size(), 2u);
  for (size_t i = 0; i < first->artifacts.size(); ++i) {
    EXPECT_EQ(first->artifacts[i].qmodel, second->artifacts[i].qmodel) << first->artifacts[i].file_name;
    EXPECT_EQ(first->artifacts[i].qmodel, single->artifacts[i].qmodel) << first->artifacts[i].file_name;
  }
  for (int v = 0; v < first->result.variants_size(); ++v) {
    EXPECT_EQ(first->result.variants(v).accuracy(), second->result.variants(v).accuracy());
    EXPECT_EQ(first->result.variants(v).accuracy(), single->result.variants(v).accuracy());
    EXPECT_EQ(first->result.variants(v).integer_accuracy(), single->result.variants(v).integer_accuracy());
  }
}

TEST(MnistTraining, ProgressCallbackCancelsWithinABatchOrSo) {
  const DatasetPair& data = Mnist();
  ASSERT_GT(data.train.size(), 0);
  v1::JobSpec spec = ShortCnnJob();
  spec.mutable_training()->set_epochs(5);
  std::atomic<int> calls{0};
  int last_batch = 0;
  auto output = RunExperimentOnData(spec, data, ExperimentOptions{}, [&](const ProgressEvent& event) {
    ++calls;
    last_batch = event.batch;
    return false;  // cancel at the first report
  });
  ASSERT_FALSE(output.ok());
  EXPECT_EQ(output.status().code(), StatusCode::kCancelled);
  EXPECT_EQ(calls.load(), 1);
  EXPECT_EQ(last_batch, 1);  // stopped after the first batch
}

TEST(MnistTraining, BadSpecIsRejectedBeforeTraining) {
  const DatasetPair& data = Mnist();
  ASSERT_GT(data.train.size(), 0);
  v1::JobSpec spec;
  auto* layer = spec.mutable_model()->add_layers();
  layer->set_type("flatten");
  spec.mutable_model()->add_layers()->set_type("dense");  // no units
  auto output = RunExperimentOnData(spec, data, ExperimentOptions{}, nullptr);
  ASSERT_FALSE(output.ok());
  EXPECT_EQ(output.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(output.status().message().find("model.layers[1] (dense)"), std::string::npos);
}

// A learning rate far too large for QAT only: both QAT variants diverge and
// say where, while the float model and the PTQ variants, trained or
// calibrated before, keep their figures and integer models.
TEST(MnistTraining, ADivergedQatVariantEndsWithItsReasonAndTheOthersAreKept) {
  v1::JobSpec spec = test_support::ShortQatSpec("mlp", {8, 4});
  spec.mutable_qat()->set_learning_rate(1e30);
  auto output = RunExperimentOnData(spec, Mnist(), ExperimentOptions{}, nullptr);
  ASSERT_TRUE(output.ok()) << output.status().ToString();
  const v1::JobResult& result = output->result;
  ASSERT_EQ(result.variants_size(), 5);  // float, ptq_w8, qat_w8, ptq_w4, qat_w4
  const auto* float_variant = Find(result, "float");
  ASSERT_NE(float_variant, nullptr);
  EXPECT_TRUE(float_variant->error().empty()) << float_variant->error();
  EXPECT_GT(float_variant->accuracy(), 80.0);
  for (const char* name : {"ptq_w8a8", "ptq_w4a8"}) {
    const auto* ptq = Find(result, name);
    ASSERT_NE(ptq, nullptr) << name;
    EXPECT_TRUE(ptq->error().empty()) << name << ": " << ptq->error();
    EXPECT_GT(ptq->integer_accuracy(), 50.0) << name;
  }
  for (const char* name : {"qat_w8a8", "qat_w4a8"}) {
    const auto* qat = Find(result, name);
    ASSERT_NE(qat, nullptr) << name;
    EXPECT_TRUE(qat->error().starts_with("diverged at epoch 1, batch ")) << name << ": " << qat->error();
    EXPECT_TRUE(qat->error().ends_with(": loss is nan; try a lower learning rate") ||
                qat->error().ends_with(": loss is inf; try a lower learning rate"))
        << qat->error();
    EXPECT_EQ(qat->integer_accuracy(), 0.0) << name;
    EXPECT_TRUE(qat->artifact().empty()) << name;
  }
  ASSERT_EQ(output->artifacts.size(), 2u);
  EXPECT_EQ(output->artifacts[0].file_name, "ptq_w8a8.qmodel");
  EXPECT_EQ(output->artifacts[1].file_name, "ptq_w4a8.qmodel");
}

// The float model every variant starts from diverges: the job fails, saying
// so (FailedPrecondition: the worker does not retry it).
TEST(MnistTraining, ADivergedFloatModelFailsTheJobWithItsReason) {
  v1::JobSpec spec = test_support::ShortQatSpec("mlp", {8});
  spec.mutable_training()->set_learning_rate(1e30);
  auto output = RunExperimentOnData(spec, Mnist(), ExperimentOptions{}, nullptr);
  ASSERT_FALSE(output.ok());
  EXPECT_EQ(output.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_TRUE(output.status().message().starts_with("float: diverged at epoch 1, batch ")) << output.status().message();
  EXPECT_NE(output.status().message().find("try a lower learning rate"), std::string::npos);
}

}  // namespace
}  // namespace qatlab
