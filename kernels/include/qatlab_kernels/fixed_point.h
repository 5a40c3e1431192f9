/* The fixed-point routines of docs/quant-spec.md ("A layer's integer
 * computation"), as static inline functions so that every kernel inlines
 * them. Portable C11, no floating point.
 *
 * Implementation-defined behaviour relied on (true of gcc and clang on every
 * target we build for): `>>` on a negative int is an arithmetic shift, and a
 * conversion of an out-of-range value to int32_t wraps modulo 2^32. */
#ifndef QATLAB_KERNELS_FIXED_POINT_H_
#define QATLAB_KERNELS_FIXED_POINT_H_

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The valid range of a per-channel shift (M = M0 * 2^(shift - 31)). The
 * .qmodel reader rejects anything outside it. */
#define QK_MIN_SHIFT (-31)
#define QK_MAX_SHIFT 30

/* x * M0 * 2^(shift - 31) rounded once, to nearest with halves away from
 * zero, then saturated to int32: the exact product x * M0 (|.| < 2^62) is
 * divided by 2^(31 - shift) in one step. gemmlowp's two-step form (a rounding
 * doubling high multiply, then a rounding shift) rounds twice and is off by
 * one whenever the first rounding lands on a half of the second: about one
 * output in 2^(right shift + 1), 3% of outputs of a 4-bit-weight layer. The
 * fake-quantized training graph rounds once, so the integer model does too
 * (docs/quant-spec.md).
 * REQUIRES: QK_MIN_SHIFT <= shift <= QK_MAX_SHIFT, multiplier >= 0. */
static inline int32_t qk_requantize(int32_t x, int32_t multiplier, int32_t shift) {
  const int32_t right_shift = 31 - shift; /* 1..62 */
  const int64_t product = (int64_t)x * (int64_t)multiplier;
  const uint64_t magnitude = product < 0 ? (uint64_t)(-product) : (uint64_t)product;
  const uint64_t rounded = (magnitude + ((uint64_t)1 << (right_shift - 1))) >> right_shift;
  if (product < 0) return rounded >= (uint64_t)1 << 31 ? INT32_MIN : -(int32_t)rounded;
  return rounded > (uint64_t)INT32_MAX ? INT32_MAX : (int32_t)rounded;
}

/* n / d rounded to nearest, halves away from zero (average pooling).
 * REQUIRES: d > 0. */
static inline int32_t qk_divide_round_half_away(int32_t n, int32_t d) {
  return n >= 0 ? (n + d / 2) / d : (n - d / 2) / d;
}

static inline int32_t qk_clamp_s32(int32_t value, int32_t low, int32_t high) {
  return value < low ? low : (value > high ? high : value);
}

#ifdef __cplusplus
}
#endif

#endif /* QATLAB_KERNELS_FIXED_POINT_H_ */
