/* The output stage of the DSP kernels for a layer whose every channel takes
 * the 32-bit requantization (internal).
 *
 * qk_output_s8 decides per output between the 32-bit form (shift <= -2) and
 * the 64-bit one, saturates, and clamps with two compares: about 30
 * instructions per output on a Cortex-M4, half of what a depthwise 3x3
 * output costs. A trained layer has every shift <= -2, so the kernels check
 * that once per layer (qk_output_stage_init) and then run loops whose output
 * stage is straight-line code of about 13 instructions:
 *
 *   t = acc·M0 + (acc >> 31)          SMLAL into a sign-filled accumulator
 *   q = hi(t) >> (-2 - shift)
 *   v = SSAT(8, (q + 2·z_out + 1) >> 1)
 *   four (or two) outputs packed into a word with BFI, clamped to the
 *   activation's bounds bytewise (SSUB8 + SEL), stored with one STR (STRH).
 *
 * Why it equals qk_output_s8: acc >> 31 is -1 exactly when acc < 0, and with
 * M0 >= 0 (which the selection checks) that is when acc·M0 < 0 or acc·M0 = 0
 * with acc < 0; the latter gives hi(t) = -1, q = -1 and the same 0 as the
 * exact form. Otherwise t is qk_requantize_high_word's x·M0 - [x·M0 < 0], and
 * (q + 1 + 2·z_out) >> 1 = ((q + 1) >> 1) + z_out, with |q| < 2^30 so that
 * nothing overflows. Saturating to 8 bits before clamping to the activation
 * range (within -128..127) is the same as clamping the int32 value.
 * dsp_variants_test.cc and the Cortex-M4 check run both selections. */
#ifndef QATLAB_KERNELS_SRC_OUTPUT_STAGE_DSP_H_
#define QATLAB_KERNELS_SRC_OUTPUT_STAGE_DSP_H_

#include <stdint.h>

#include "dsp_intrinsics.h"
#include "qatlab_kernels/kernels.h"

/* One layer's output stage, resolved once per call of a kernel. */
typedef struct {
  int high_word;                 /* every shift <= -2 and every multiplier >= 0: the loops below apply */
  int32_t offset_twice_plus_one; /* 2·z_out + 1 */
  uint32_t low_bytes;            /* the activation's min in every byte */
  uint32_t high_bytes;           /* the activation's max in every byte */
} qk_output_stage;

static inline uint32_t qk_byte_in_every_lane(int32_t value) { return 0x01010101u * (uint8_t)value; }

/* REQUIRES: count >= 1 and the arrays hold count entries. */
static inline qk_output_stage qk_output_stage_init(const int32_t* multiplier, const int32_t* shift, int32_t count,
                                                   int32_t output_offset, const qk_activation* activation) {
  qk_output_stage stage;
  stage.high_word = 1;
  for (int32_t i = 0; i < count; ++i) {
    if (shift[i] > -2 || multiplier[i] < 0) stage.high_word = 0;
  }
  stage.offset_twice_plus_one = 2 * output_offset + 1;
  stage.low_bytes = qk_byte_in_every_lane(activation->min);
  stage.high_bytes = qk_byte_in_every_lane(activation->max);
  return stage;
}

/* SSAT #8 of x >> 1: the nearest of -128..127. */
static inline int32_t qk_ssat8_half(int32_t x) {
#if defined(__ARM_FEATURE_DSP)
  int32_t result;
  __asm__("ssat %0, #8, %1, asr #1" : "=r"(result) : "r"(x));
  return result;
#else
  const int32_t half = x >> 1;
  return half < -128 ? -128 : (half > 127 ? 127 : half);
#endif
}

/* z_out + requant(acc), saturated to -128..127 (not yet clamped to the
 * activation). REQUIRES: shift <= -2, multiplier >= 0. */
static inline int32_t qk_output_stage_value(int32_t acc, int32_t multiplier, int32_t shift,
                                            int32_t offset_twice_plus_one) {
  const int64_t toward_floor = (int64_t)acc * multiplier + (acc >> 31);
  const int32_t q = (int32_t)((uint64_t)toward_floor >> 32) >> (-2 - shift);
  return qk_ssat8_half(q + offset_twice_plus_one);
}

/* The low bytes of v0..v3 as one word, v0 in byte 0 (BFI). */
static inline uint32_t qk_pack_s8x4(int32_t v0, int32_t v1, int32_t v2, int32_t v3) {
#if defined(__ARM_FEATURE_DSP)
  uint32_t word = (uint32_t)v0;
  __asm__("bfi %0, %1, #8, #8\n\tbfi %0, %2, #16, #8\n\tbfi %0, %3, #24, #8" : "+r"(word) : "r"(v1), "r"(v2), "r"(v3));
  return word;
#else
  return (uint32_t)(uint8_t)v0 | (uint32_t)(uint8_t)v1 << 8 | (uint32_t)(uint8_t)v2 << 16 | (uint32_t)(uint8_t)v3 << 24;
#endif
}

/* The low bytes of v0, v1 in bytes 0 and 1 (bytes 2 and 3 unspecified). */
static inline uint32_t qk_pack_s8x2(int32_t v0, int32_t v1) {
#if defined(__ARM_FEATURE_DSP)
  uint32_t word = (uint32_t)v0;
  __asm__("bfi %0, %1, #8, #8" : "+r"(word) : "r"(v1));
  return word;
#else
  return (uint32_t)(uint8_t)v0 | (uint32_t)(uint8_t)v1 << 8;
#endif
}

/* Every byte of `bytes` clamped to the activation's bounds. */
static inline uint32_t qk_output_stage_clamp(uint32_t bytes, const qk_output_stage* stage) {
  return qk_min_s8x4(qk_max_s8x4(bytes, stage->low_bytes), stage->high_bytes);
}

#endif /* QATLAB_KERNELS_SRC_OUTPUT_STAGE_DSP_H_ */
