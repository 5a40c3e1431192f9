/* The fixed-point routines of QUANT_SPEC.md ("A layer's integer
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

/* round(a * b / 2^31) with halves rounded up, saturating the single overflow
 * case a == b == INT32_MIN to INT32_MAX. */
static inline int32_t qk_saturating_rounding_doubling_high_mul(int32_t a, int32_t b) {
  if (a == INT32_MIN && b == INT32_MIN) return INT32_MAX;
  const int64_t product = (int64_t)a * (int64_t)b;
  const int64_t nudge = product >= 0 ? ((int64_t)1 << 30) : (1 - ((int64_t)1 << 30));
  return (int32_t)((product + nudge) / ((int64_t)1 << 31));
}

/* x / 2^exponent rounded to nearest, halves away from zero.
 * REQUIRES: 0 <= exponent <= 31. */
static inline int32_t qk_rounding_divide_by_pot(int32_t x, int32_t exponent) {
  const int32_t mask = (int32_t)(((uint32_t)1 << exponent) - 1u);
  const int32_t remainder = x & mask;
  const int32_t threshold = (mask >> 1) + (x < 0 ? 1 : 0);
  return (x >> exponent) + (remainder > threshold ? 1 : 0);
}

/* x * M0 * 2^(shift - 31), rounded as QUANT_SPEC.md says. The left shift (for
 * shift > 0) saturates to the int32 range instead of overflowing; the spec
 * leaves that case open and no exported model reaches it in practice.
 * REQUIRES: QK_MIN_SHIFT <= shift <= QK_MAX_SHIFT. */
static inline int32_t qk_requantize(int32_t x, int32_t multiplier, int32_t shift) {
  const int32_t left_shift = shift > 0 ? shift : 0;
  const int32_t right_shift = shift > 0 ? 0 : -shift;
  int64_t shifted = (int64_t)x * ((int64_t)1 << left_shift);
  if (shifted > INT32_MAX) shifted = INT32_MAX;
  if (shifted < INT32_MIN) shifted = INT32_MIN;
  return qk_rounding_divide_by_pot(
      qk_saturating_rounding_doubling_high_mul((int32_t)shifted, multiplier), right_shift);
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
