// The fixed-point helpers against docs/quant-spec.md's formulas, computed
// independently with 128-bit arithmetic (naive_integer_reference.h).
#include "qatlab_kernels/fixed_point.h"

#include <gtest/gtest.h>

#include <cstdint>

#include "kernels/src/argument_checks.h"
#include "kernels/src/output_stage_dsp.h"
#include "tests/kernels/naive_integer_reference.h"

namespace qatlab {
namespace {

TEST(FixedPointTest, RequantizeRoundsOnceHalvesAwayFromZero) {
  // M = 2^30 * 2^(shift - 31) = 2^(shift - 1): x * M is exact in binary.
  EXPECT_EQ(qk_requantize(1, 1 << 30, 0), 1);     // 0.5
  EXPECT_EQ(qk_requantize(-1, 1 << 30, 0), -1);   // -0.5
  EXPECT_EQ(qk_requantize(3, 1 << 30, 0), 2);     // 1.5
  EXPECT_EQ(qk_requantize(-3, 1 << 30, 0), -2);   // -1.5
  EXPECT_EQ(qk_requantize(5, 1 << 30, -1), 1);    // 1.25
  EXPECT_EQ(qk_requantize(-5, 1 << 30, -1), -1);  // -1.25
  // A case gemmlowp's two-step rounding gets wrong: 819 * M0 / 2^31 =
  // 455.55 rounds to 456 first, and 456 / 16 = 28.5 then rounds to 29,
  // while 819 * M = 28.47 rounds to 28.
  EXPECT_EQ(qk_requantize(819, 1194476477, -4), 28);
  EXPECT_EQ(qk_requantize(-819, 1194476477, -4), -28);
}

TEST(FixedPointTest, RequantizeSaturatesToInt32) {
  EXPECT_EQ(qk_requantize(INT32_MAX, INT32_MAX, QK_MAX_SHIFT), INT32_MAX);
  EXPECT_EQ(qk_requantize(INT32_MIN, INT32_MAX, QK_MAX_SHIFT), INT32_MIN);
  EXPECT_EQ(qk_requantize(INT32_MIN, 1 << 30, 1), INT32_MIN);  // exactly -2^31
  EXPECT_EQ(qk_requantize(INT32_MAX, 1 << 30, 1), INT32_MAX);
  // The largest right shift (62): -2^31 * (2^31 - 1) / 2^62 = -0.99999...,
  // and 2^30 * (2^31 - 1) / 2^62 just under one half.
  EXPECT_EQ(qk_requantize(INT32_MIN, INT32_MAX, QK_MIN_SHIFT), -1);
  EXPECT_EQ(qk_requantize(1 << 30, INT32_MAX, QK_MIN_SHIFT), 0);
  EXPECT_EQ(qk_requantize(0, INT32_MAX, QK_MAX_SHIFT), 0);
}

TEST(FixedPointTest, RequantizeMatchesExactArithmeticOnRandomValues) {
  naive::VectorGenerator generator(1003);
  for (int i = 0; i < 200000; ++i) {
    const int32_t x =
        i % 3 ? generator.Int32s(1, -(1 << 24), 1 << 24)[0] : generator.Int32s(1, INT32_MIN, INT32_MAX)[0];
    const int32_t multiplier = generator.Int32s(1, 0, INT32_MAX)[0];
    const int32_t shift = generator.Int(QK_MIN_SHIFT, QK_MAX_SHIFT);
    ASSERT_EQ(qk_requantize(x, multiplier, shift), naive::Requantize(x, multiplier, shift))
        << x << " M0=" << multiplier << " shift=" << shift;
  }
}

// The kernels' 32-bit requantization (argument_checks.h) for shift <= -2.
TEST(FixedPointTest, HighWordRequantizeMatchesExactArithmetic) {
  const int32_t edges[] = {INT32_MIN, INT32_MIN + 1, -65536, -3, -2, -1, 0, 1, 2, 3, 65535, INT32_MAX - 1, INT32_MAX};
  const int32_t multipliers[] = {0, 1, 1 << 30, (1 << 30) + 1, INT32_MAX - 1, INT32_MAX};
  for (int32_t shift = QK_MIN_SHIFT; shift <= -2; ++shift) {
    for (int32_t x : edges) {
      for (int32_t multiplier : multipliers) {
        ASSERT_EQ(qk_requantize_high_word(x, multiplier, shift), naive::Requantize(x, multiplier, shift))
            << x << " M0=" << multiplier << " shift=" << shift;
      }
    }
  }
  naive::VectorGenerator generator(1004);
  for (int i = 0; i < 200000; ++i) {
    const int32_t x =
        i % 3 ? generator.Int32s(1, -(1 << 24), 1 << 24)[0] : generator.Int32s(1, INT32_MIN, INT32_MAX)[0];
    const int32_t multiplier = generator.Int32s(1, 0, INT32_MAX)[0];
    // Half the cases at a right shift of 33 + (0 or 1), where the rounding
    // bit is the high word's lowest.
    const int32_t shift = i % 2 ? generator.Int(-3, -2) : generator.Int(QK_MIN_SHIFT, -2);
    ASSERT_EQ(qk_requantize_high_word(x, multiplier, shift), naive::Requantize(x, multiplier, shift))
        << x << " M0=" << multiplier << " shift=" << shift;
  }
  // Exact halves: x * M0 = (2k + 1) * 2^(right shift - 1), right shift 31 - shift.
  for (int32_t shift = -12; shift <= -2; ++shift) {
    for (int32_t k = -40; k <= 40; ++k) {
      const int32_t x = (2 * k + 1) * (1 << -shift);  // x * 2^30 = (2k + 1) * 2^(30 - shift)
      ASSERT_EQ(qk_requantize_high_word(x, 1 << 30, shift), naive::Requantize(x, 1 << 30, shift)) << x << " " << shift;
    }
  }
}

// The DSP kernels' output stage for layers whose every shift is <= -2
// (output_stage_dsp.h): SSAT of the sign-filled high word, then the packed
// bytewise clamp, against the exact requantization and clamp, at the edges of
// every input and on random values.
int8_t StagedOutput(int32_t acc, int32_t multiplier, int32_t shift, int32_t zero_point, qk_activation activation) {
  const qk_output_stage stage = qk_output_stage_init(&multiplier, &shift, 1, zero_point, &activation);
  EXPECT_TRUE(stage.high_word);
  const int32_t value = qk_output_stage_value(acc, multiplier, shift, stage.offset_twice_plus_one);
  return static_cast<int8_t>(qk_output_stage_clamp(static_cast<uint32_t>(value), &stage));
}

TEST(FixedPointTest, HighWordOutputStageMatchesExactRequantizeAndClamp) {
  const int32_t edges[] = {INT32_MIN, INT32_MIN + 1, -65536, -3, -2, -1, 0, 1, 2, 3, 65535, INT32_MAX - 1, INT32_MAX};
  const int32_t multipliers[] = {0, 1, 1 << 30, (1 << 30) + 1, INT32_MAX - 1, INT32_MAX};
  const int32_t zero_points[] = {-128, -1, 0, 5, 127};
  const qk_activation activations[] = {{-128, 127}, {-128, -128}, {127, 127}, {-3, 40}, {0, 127}};
  for (int32_t shift = QK_MIN_SHIFT; shift <= -2; ++shift) {
    for (int32_t x : edges) {
      for (int32_t multiplier : multipliers) {
        for (int32_t zero_point : zero_points) {
          for (const qk_activation& activation : activations) {
            ASSERT_EQ(StagedOutput(x, multiplier, shift, zero_point, activation),
                      naive::Output(x, multiplier, shift, zero_point, activation.min, activation.max))
                << x << " M0=" << multiplier << " shift=" << shift << " z=" << zero_point;
          }
        }
      }
    }
  }
  naive::VectorGenerator generator(1005);
  for (int i = 0; i < 200000; ++i) {
    const int32_t x =
        i % 3 ? generator.Int32s(1, -(1 << 24), 1 << 24)[0] : generator.Int32s(1, INT32_MIN, INT32_MAX)[0];
    const int32_t multiplier = generator.Int32s(1, 0, INT32_MAX)[0];
    const int32_t shift = i % 2 ? generator.Int(-3, -2) : generator.Int(QK_MIN_SHIFT, -2);
    const int32_t low = generator.Int(-128, 127);
    const qk_activation activation{low, generator.Int(low, 127)};
    const int32_t zero_point = generator.Int(-128, 127);
    ASSERT_EQ(StagedOutput(x, multiplier, shift, zero_point, activation),
              naive::Output(x, multiplier, shift, zero_point, activation.min, activation.max))
        << x << " M0=" << multiplier << " shift=" << shift << " z=" << zero_point;
  }
}

// The selection, once per layer: every shift <= -2 and every multiplier >= 0.
TEST(FixedPointTest, OutputStageIsSelectedOnlyWhenEveryChannelTakesTheHighWord) {
  const qk_activation activation{-128, 127};
  const int32_t multipliers[] = {1 << 30, 1 << 30, 1 << 30};
  const int32_t all_low[] = {-2, -14, -31};
  EXPECT_TRUE(qk_output_stage_init(multipliers, all_low, 3, 0, &activation).high_word);
  const int32_t one_high[] = {-2, -1, -31};
  EXPECT_FALSE(qk_output_stage_init(multipliers, one_high, 3, 0, &activation).high_word);
  const int32_t last_positive[] = {-5, -5, 3};
  EXPECT_FALSE(qk_output_stage_init(multipliers, last_positive, 3, 0, &activation).high_word);
  const int32_t negative_multiplier[] = {1 << 30, -1, 1 << 30};
  EXPECT_FALSE(qk_output_stage_init(negative_multiplier, all_low, 3, 0, &activation).high_word);
}

TEST(FixedPointTest, DivideRoundHalfAwayMatchesMagnitudeRounding) {
  for (int32_t n = -300; n <= 300; ++n) {
    for (int32_t d = 1; d <= 12; ++d) {
      const int32_t magnitude = (std::abs(n) * 2 + d) / (2 * d);
      ASSERT_EQ(qk_divide_round_half_away(n, d), n < 0 ? -magnitude : magnitude) << n << " / " << d;
    }
  }
}

}  // namespace
}  // namespace qatlab
