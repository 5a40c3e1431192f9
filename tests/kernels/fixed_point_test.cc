// The fixed-point helpers against QUANT_SPEC.md's formulas, computed
// independently with 128-bit arithmetic (naive_integer_reference.h).
#include "qatlab_kernels/fixed_point.h"

#include <gtest/gtest.h>

#include <cstdint>

#include "tests/kernels/naive_integer_reference.h"

namespace qatlab {
namespace {

TEST(FixedPointTest, DoublingHighMulSaturatesOnlyMinTimesMin) {
  EXPECT_EQ(qk_saturating_rounding_doubling_high_mul(INT32_MIN, INT32_MIN), INT32_MAX);
  // Every other INT32_MIN product is representable: compare with the formula.
  for (int32_t other : {INT32_MIN + 1, INT32_MAX, -1, 0, 1, 1 << 30, -(1 << 30)}) {
    EXPECT_EQ(qk_saturating_rounding_doubling_high_mul(INT32_MIN, other), naive::DoublingHighMul(INT32_MIN, other))
        << other;
    EXPECT_EQ(qk_saturating_rounding_doubling_high_mul(other, INT32_MIN), naive::DoublingHighMul(other, INT32_MIN))
        << other;
  }
}

TEST(FixedPointTest, DoublingHighMulRoundsHalvesUpOnBothSigns) {
  // a * b / 2^31 = ±0.5 and ±1.5 exactly.
  EXPECT_EQ(qk_saturating_rounding_doubling_high_mul(1 << 30, 1), 1);
  EXPECT_EQ(qk_saturating_rounding_doubling_high_mul(-(1 << 30), 1), 0);
  EXPECT_EQ(qk_saturating_rounding_doubling_high_mul(3 << 29, 2), 2);
  EXPECT_EQ(qk_saturating_rounding_doubling_high_mul(-(3 << 29), 2), -1);
}

TEST(FixedPointTest, DoublingHighMulMatchesFormulaOnRandomValues) {
  naive::VectorGenerator generator(1001);
  for (int i = 0; i < 200000; ++i) {
    const int32_t a = generator.Int32s(1, INT32_MIN, INT32_MAX)[0];
    const int32_t b = i % 2 ? generator.Int32s(1, INT32_MIN, INT32_MAX)[0] : generator.Int32s(1, -70000, 70000)[0];
    ASSERT_EQ(qk_saturating_rounding_doubling_high_mul(a, b), naive::DoublingHighMul(a, b)) << a << " * " << b;
  }
}

TEST(FixedPointTest, RoundingDivideByPotRoundsHalfAwayFromZero) {
  for (int32_t x = -64; x <= 64; ++x) {
    for (int e = 0; e <= 5; ++e) {
      ASSERT_EQ(qk_rounding_divide_by_pot(x, e), naive::DivideByPowerOfTwo(x, e)) << x << " / 2^" << e;
    }
  }
  EXPECT_EQ(qk_rounding_divide_by_pot(-1, 1), -1);  // -0.5
  EXPECT_EQ(qk_rounding_divide_by_pot(-3, 1), -2);  // -1.5
  EXPECT_EQ(qk_rounding_divide_by_pot(-5, 2), -1);  // -1.25
  EXPECT_EQ(qk_rounding_divide_by_pot(-6, 2), -2);  // -1.5
  EXPECT_EQ(qk_rounding_divide_by_pot(3, 1), 2);    // 1.5
}

TEST(FixedPointTest, RoundingDivideByPotHandlesExtremes) {
  for (int e = 0; e <= 31; ++e) {
    for (int32_t x : {INT32_MIN, INT32_MIN + 1, INT32_MAX, INT32_MAX - 1, -1, 0, 1}) {
      ASSERT_EQ(qk_rounding_divide_by_pot(x, e), naive::DivideByPowerOfTwo(x, e)) << x << " / 2^" << e;
    }
  }
  naive::VectorGenerator generator(1002);
  for (int i = 0; i < 200000; ++i) {
    const int32_t x = generator.Int32s(1, INT32_MIN, INT32_MAX)[0];
    const int e = generator.Int(0, 31);
    ASSERT_EQ(qk_rounding_divide_by_pot(x, e), naive::DivideByPowerOfTwo(x, e)) << x << " / 2^" << e;
  }
}

TEST(FixedPointTest, RequantizeMatchesComposedFormulaIncludingLeftShifts) {
  naive::VectorGenerator generator(1003);
  for (int i = 0; i < 200000; ++i) {
    const int32_t x = i % 3 ? generator.Int32s(1, -(1 << 24), 1 << 24)[0] : generator.Int32s(1, INT32_MIN, INT32_MAX)[0];
    const int32_t multiplier = generator.Int32s(1, 0, INT32_MAX)[0];
    const int32_t shift = generator.Int(QK_MIN_SHIFT, QK_MAX_SHIFT);
    ASSERT_EQ(qk_requantize(x, multiplier, shift), naive::Requantize(x, multiplier, shift))
        << x << " M0=" << multiplier << " shift=" << shift;
  }
  // A positive shift that overflows int32 saturates before the multiply.
  EXPECT_EQ(qk_requantize(INT32_MAX, 1 << 30, 30), naive::DoublingHighMul(INT32_MAX, 1 << 30));
  EXPECT_EQ(qk_requantize(INT32_MIN, INT32_MIN, 1), INT32_MAX);
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
