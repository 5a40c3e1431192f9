/* The Cortex-M DSP (SIMD32) instructions the optimized kernels use.
 * With __ARM_FEATURE_DSP they are the ACLE intrinsics (or inline assembly);
 * elsewhere they are
 * portable C with the same results, so the host test runs the optimized
 * code path bit for bit (internal header). */
#ifndef QATLAB_KERNELS_SRC_DSP_INTRINSICS_H_
#define QATLAB_KERNELS_SRC_DSP_INTRINSICS_H_

#include <stdint.h>

#if defined(__ARM_FEATURE_DSP)
#include <arm_acle.h>

/* SMLAD: accumulator + lo(x) * lo(y) + hi(x) * hi(y), signed halfwords,
 * wrapping modulo 2^32. */
static inline int32_t qk_smlad(uint32_t x, uint32_t y, int32_t accumulator) {
  return __smlad((int16x2_t)x, (int16x2_t)y, accumulator);
}
/* SXTB16: bytes 0 and 2, sign-extended into the two halfwords. */
static inline uint32_t qk_sxtb16(uint32_t x) { return (uint32_t)__sxtb16((int8x4_t)x); }
/* SXTAB16: halfwords of a plus the sign-extended bytes 0 and 2 of b, each
 * halfword wrapping modulo 2^16. */
static inline uint32_t qk_sxtab16(uint32_t a, uint32_t b) { return (uint32_t)__sxtab16((int16x2_t)a, (int8x4_t)b); }

/* SMLABB / SMLATT: accumulator + the product of the low (high) signed
 * halfwords of x and y, wrapping modulo 2^32. */
static inline int32_t qk_smlabb(uint32_t x, uint32_t y, int32_t accumulator) {
  return __smlabb((int32_t)x, (int32_t)y, accumulator);
}
static inline int32_t qk_smlatt(uint32_t x, uint32_t y, int32_t accumulator) {
  return __smlatt((int32_t)x, (int32_t)y, accumulator);
}
/* SXTB16 / SXTAB16 of b rotated right by 8 (bytes 1 and 3), one instruction. */
static inline uint32_t qk_sxtb16_ror8(uint32_t x) {
  uint32_t result;
  __asm__("sxtb16 %0, %1, ror #8" : "=r"(result) : "r"(x));
  return result;
}
static inline uint32_t qk_sxtab16_ror8(uint32_t a, uint32_t b) {
  uint32_t result;
  __asm__("sxtab16 %0, %1, %2, ror #8" : "=r"(result) : "r"(a), "r"(b));
  return result;
}

/* The bytewise signed maximum and minimum of four int8 lanes: SSUB8 sets a
 * GE flag per byte where a >= b, SEL picks by those flags. */
static inline uint32_t qk_max_s8x4(uint32_t a, uint32_t b) {
  uint32_t result;
  __asm__("ssub8 %0, %1, %2\n\tsel %0, %1, %2" : "=&r"(result) : "r"(a), "r"(b) : "cc");
  return result;
}
static inline uint32_t qk_min_s8x4(uint32_t a, uint32_t b) {
  uint32_t result;
  __asm__("ssub8 %0, %1, %2\n\tsel %0, %2, %1" : "=&r"(result) : "r"(a), "r"(b) : "cc");
  return result;
}

#else

static inline int32_t qk_halfword_low(uint32_t x) { return (int16_t)(uint16_t)(x & 0xFFFFu); }
static inline int32_t qk_halfword_high(uint32_t x) { return (int16_t)(uint16_t)(x >> 16); }
static inline int32_t qk_byte_at(uint32_t x, uint32_t byte) { return (int8_t)(uint8_t)(x >> (8u * byte)); }
static inline uint32_t qk_pack_halfwords(int32_t low, int32_t high) {
  return ((uint32_t)(uint16_t)high << 16) | (uint32_t)(uint16_t)low;
}

static inline int32_t qk_smlad(uint32_t x, uint32_t y, int32_t accumulator) {
  const uint32_t sum = (uint32_t)accumulator + (uint32_t)(qk_halfword_low(x) * qk_halfword_low(y)) +
                       (uint32_t)(qk_halfword_high(x) * qk_halfword_high(y));
  return (int32_t)sum;
}
static inline uint32_t qk_sxtb16(uint32_t x) { return qk_pack_halfwords(qk_byte_at(x, 0), qk_byte_at(x, 2)); }
static inline uint32_t qk_sxtab16(uint32_t a, uint32_t b) {
  return qk_pack_halfwords(qk_halfword_low(a) + qk_byte_at(b, 0), qk_halfword_high(a) + qk_byte_at(b, 2));
}

static inline int32_t qk_smlabb(uint32_t x, uint32_t y, int32_t accumulator) {
  return (int32_t)((uint32_t)accumulator + (uint32_t)(qk_halfword_low(x) * qk_halfword_low(y)));
}
static inline int32_t qk_smlatt(uint32_t x, uint32_t y, int32_t accumulator) {
  return (int32_t)((uint32_t)accumulator + (uint32_t)(qk_halfword_high(x) * qk_halfword_high(y)));
}
static inline uint32_t qk_sxtb16_ror8(uint32_t x) { return qk_sxtb16((x >> 8) | (x << 24)); }
static inline uint32_t qk_sxtab16_ror8(uint32_t a, uint32_t b) { return qk_sxtab16(a, (b >> 8) | (b << 24)); }

static inline uint32_t qk_max_s8x4(uint32_t a, uint32_t b) {
  uint32_t result = 0;
  for (uint32_t byte = 0; byte < 4; ++byte) {
    const int32_t x = qk_byte_at(a, byte), y = qk_byte_at(b, byte);
    result |= (uint32_t)(uint8_t)(x >= y ? x : y) << (8u * byte);
  }
  return result;
}
static inline uint32_t qk_min_s8x4(uint32_t a, uint32_t b) {
  uint32_t result = 0;
  for (uint32_t byte = 0; byte < 4; ++byte) {
    const int32_t x = qk_byte_at(a, byte), y = qk_byte_at(b, byte);
    result |= (uint32_t)(uint8_t)(x >= y ? y : x) << (8u * byte);
  }
  return result;
}

#endif

/* x, hidden from the optimizer: a constant mask kept in a register lets
 * gcc fold a shift into the AND (`and r, mask, u, lsr #4`, one instruction
 * where an immediate mask costs a separate shift). */
static inline uint32_t qk_in_register(uint32_t x) {
#if defined(__ARM_FEATURE_DSP)
  __asm__("" : "+r"(x));
#endif
  return x;
}

/* A compiler barrier on a pointer: keeps gcc from turning a short byte loop
 * into a call to memset/memcpy (newlib-nano's are byte loops behind a call,
 * far slower for the 3- to 24-byte runs of a convolution window). */
static inline void qk_keep_loop(const void* p) { __asm__("" : : "r"(p)); }

/* Rotate right by 8: moves bytes 1 and 3 to 0 and 2 (gcc emits ROR). */
static inline uint32_t qk_ror8(uint32_t x) { return (x >> 8) | (x << 24); }

#endif /* QATLAB_KERNELS_SRC_DSP_INTRINSICS_H_ */
