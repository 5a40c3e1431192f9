// IntegerRunner: the host wrapper around qk_model_open / qk_model_invoke.
#include "engine/integer_runner.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <set>
#include <thread>
#include <vector>

#include "engine/qmodel_writer.h"
#include "tests/kernels/naive_integer_reference.h"
#include "tests/kernels/small_models.h"

namespace qatlab {
namespace {

StatusOr<IntegerRunner> OpenModel(const IntegerModel& model) {
  QATLAB_ASSIGN_OR_RETURN(std::vector<uint8_t> bytes, WriteQModel(model));
  return IntegerRunner::Open(std::move(bytes));
}

TEST(IntegerRunnerTest, RunsTheModelLikeTheNaiveReference) {
  naive::VectorGenerator generator(6000);
  const IntegerModel model = test_models::MixedModel(generator);
  StatusOr<IntegerRunner> runner = OpenModel(model);
  ASSERT_TRUE(runner.ok()) << runner.status().ToString();
  StatusOr<ArenaPlan> plan = PlanArena(model);
  ASSERT_TRUE(plan.ok());
  EXPECT_EQ(runner->arena_bytes(), plan->arena_bytes);
  EXPECT_EQ(runner->input_bytes(), 8 * 8 * 3);
  EXPECT_EQ(runner->output_bytes(), 10);
  EXPECT_EQ(runner->op_count(), 7);
  EXPECT_EQ(runner->input_zero_point(), model.tensors[0].zero_point);
  EXPECT_EQ(runner->input_scale(), model.tensors[0].scale);
  for (int sample = 0; sample < 10; ++sample) {
    const std::vector<int8_t> input = generator.Int8s(runner->input_bytes());
    std::vector<int8_t> logits(10);
    std::vector<uint32_t> kinds;
    ASSERT_TRUE(
        runner->RunWithOpHook(input.data(), logits.data(), [&](uint32_t, uint32_t kind) { kinds.push_back(kind); })
            .ok());
    EXPECT_EQ(logits, naive::Evaluate(model, input));
    EXPECT_EQ(kinds.size(), model.ops.size());
  }
}

TEST(IntegerRunnerTest, MovedRunnerKeepsWorking) {
  naive::VectorGenerator generator(6100);
  const IntegerModel model = test_models::MixedModel(generator);
  StatusOr<IntegerRunner> opened = OpenModel(model);
  ASSERT_TRUE(opened.ok());
  IntegerRunner runner = std::move(opened).value();
  const std::vector<int8_t> input = generator.Int8s(runner.input_bytes());
  std::vector<int8_t> logits(10);
  ASSERT_TRUE(runner.Run(input.data(), logits.data()).ok());
  EXPECT_EQ(logits, naive::Evaluate(model, input));
}

TEST(IntegerRunnerTest, ConcurrentRunsGiveTheSameAnswers) {
  naive::VectorGenerator generator(6200);
  const IntegerModel model = test_models::MixedModel(generator);
  StatusOr<IntegerRunner> runner = OpenModel(model);
  ASSERT_TRUE(runner.ok());
  std::vector<std::vector<int8_t>> inputs;
  for (int i = 0; i < 8; ++i) inputs.push_back(generator.Int8s(runner->input_bytes()));
  std::vector<std::vector<int8_t>> results(2 * inputs.size(), std::vector<int8_t>(10));
  auto work = [&](int thread) {
    for (size_t i = 0; i < inputs.size(); ++i)
      ASSERT_TRUE(runner->Run(inputs[i].data(), results[thread * inputs.size() + i].data()).ok());
  };
  std::thread first(work, 0), second(work, 1);
  first.join();
  second.join();
  for (size_t i = 0; i < inputs.size(); ++i) {
    EXPECT_EQ(results[i], naive::Evaluate(model, inputs[i]));
    EXPECT_EQ(results[inputs.size() + i], results[i]);
  }
}

TEST(IntegerRunnerTest, OpenRejectsDamagedBytesWithCorruption) {
  naive::VectorGenerator generator(6300);
  StatusOr<std::vector<uint8_t>> bytes = WriteQModel(test_models::MixedModel(generator));
  ASSERT_TRUE(bytes.ok());
  std::vector<uint8_t> flipped = *bytes;
  flipped[flipped.size() / 2] ^= 0xFF;
  StatusOr<IntegerRunner> runner = IntegerRunner::Open(flipped);
  ASSERT_FALSE(runner.ok());
  EXPECT_EQ(runner.status().code(), StatusCode::kCorruption);
  EXPECT_NE(runner.status().message().find("CRC"), std::string::npos) << runner.status().message();

  std::vector<uint8_t> truncated(bytes->begin(), bytes->begin() + 100);
  EXPECT_EQ(IntegerRunner::Open(truncated).status().code(), StatusCode::kCorruption);
  EXPECT_EQ(IntegerRunner::Open({}).status().code(), StatusCode::kInvalidArgument);  // no buffer at all
}

TEST(IntegerRunnerTest, QuantizeImageIsPixelMinus128ForTheMnistInput) {
  std::vector<uint8_t> pixels(256);
  for (int p = 0; p < 256; ++p) pixels[p] = static_cast<uint8_t>(p);
  std::vector<int8_t> quantized(256);
  QuantizeImage(pixels.data(), pixels.size(), 1.0f / 255.0f, -128, quantized.data());
  for (int p = 0; p < 256; ++p) ASSERT_EQ(quantized[p], p - 128) << p;
}

TEST(IntegerRunnerTest, QuantizeImageFollowsScaleAndZeroPointInGeneral) {
  naive::VectorGenerator generator(6400);
  for (int trial = 0; trial < 100; ++trial) {
    const float scale = static_cast<float>(generator.Int(1, 1000)) / 100000.0f;
    const int32_t zero_point = generator.Int(-128, 127);
    std::vector<uint8_t> pixels(64);
    for (auto& p : pixels) p = static_cast<uint8_t>(generator.Int(0, 255));
    std::vector<int8_t> quantized(64);
    QuantizeImage(pixels.data(), pixels.size(), scale, zero_point, quantized.data());
    for (size_t i = 0; i < pixels.size(); ++i) {
      const double real = pixels[i] / 255.0;
      const double back = scale * (quantized[i] - zero_point);
      // Dequantized, the value is within half a step of pixel / 255, unless
      // it was clamped to the int8 range.
      const bool within_half_step = std::fabs(back - real) <= scale * 0.5 + 1e-6;
      const bool clamped = (quantized[i] == 127 && back < real) || (quantized[i] == -128 && back > real);
      ASSERT_TRUE(within_half_step || clamped) << int{pixels[i]} << " -> " << int{quantized[i]};
    }
  }
}

TEST(IntegerRunnerTest, ClassifyReturnsTheArgmaxOfTheLogits) {
  naive::VectorGenerator generator(6500);
  const IntegerModel model = test_models::Mlp(generator, 4);
  StatusOr<IntegerRunner> runner = OpenModel(model);
  ASSERT_TRUE(runner.ok()) << runner.status().ToString();
  EXPECT_EQ(runner->input_height(), 28);
  std::set<std::vector<int8_t>> distinct_logits;
  for (int sample = 0; sample < 5; ++sample) {
    std::vector<uint8_t> pixels(784);
    for (auto& p : pixels) p = static_cast<uint8_t>(generator.Int(0, 255));
    std::vector<int8_t> input(784);
    runner->QuantizeImage(pixels.data(), input.data());
    const std::vector<int8_t> logits = naive::Evaluate(model, input);
    distinct_logits.insert(logits);
    const int expected = static_cast<int>(std::max_element(logits.begin(), logits.end()) - logits.begin());
    StatusOr<int> label = runner->Classify(pixels.data());
    ASSERT_TRUE(label.ok());
    EXPECT_EQ(*label, expected);
  }
  EXPECT_EQ(distinct_logits.size(), 5u) << "the model saturates: the argmax check would prove little";
}

}  // namespace
}  // namespace qatlab
