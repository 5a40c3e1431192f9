/* The widened input patch and its inner products (patch_dsp.h). */
#include "patch_dsp.h"

#include <string.h>

#include "dsp_intrinsics.h"

/* Halfword pairs (low of a, low of b) and (high of a, high of b): PKHBT and
 * PKHTB. */
static inline uint32_t qk_pack_low(uint32_t a, uint32_t b) { return (a & 0xFFFFu) | (b << 16); }
static inline uint32_t qk_pack_high(uint32_t a, uint32_t b) { return (b & 0xFFFF0000u) | (a >> 16); }

/* Widens one weight word's worth of inputs (4, 8 or 16 bytes at `x`). */
static inline void qk_widen_group(const int8_t* x, uint32_t offset_pair, int32_t container, uint32_t* out) {
  if (container == 8) {
    const uint32_t x0 = qk_load_word(x);
    out[0] = qk_sxtab16(offset_pair, x0);      /* x0, x2 */
    out[1] = qk_sxtab16_ror8(offset_pair, x0); /* x1, x3 */
  } else if (container == 4) {
    const uint32_t x0 = qk_load_word(x), x1 = qk_load_word(x + 4);
    const uint32_t a = qk_sxtab16(offset_pair, x0), c = qk_sxtab16_ror8(offset_pair, x0); /* (x0,x2) (x1,x3) */
    const uint32_t b = qk_sxtab16(offset_pair, x1), d = qk_sxtab16_ror8(offset_pair, x1); /* (x4,x6) (x5,x7) */
    out[0] = qk_pack_low(a, b);
    out[1] = qk_pack_low(c, d);
    out[2] = qk_pack_high(a, b);
    out[3] = qk_pack_high(c, d);
  } else {
    for (int32_t half = 0; half < 2; ++half) { /* (x0..x7 with x8..x15): words 0..3 then 4..7 */
      const uint32_t x0 = qk_load_word(x + 4 * half), x2 = qk_load_word(x + 8 + 4 * half);
      const uint32_t a0 = qk_sxtab16(offset_pair, x0), c0 = qk_sxtab16_ror8(offset_pair, x0);
      const uint32_t a2 = qk_sxtab16(offset_pair, x2), c2 = qk_sxtab16_ror8(offset_pair, x2);
      uint32_t* o = out + 4 * half;
      o[0] = qk_pack_low(a0, a2);
      o[1] = qk_pack_low(c0, c2);
      o[2] = qk_pack_high(a0, a2);
      o[3] = qk_pack_high(c0, c2);
    }
  }
}

void qk_patch_widen(qk_patch* patch, const int8_t* values, int32_t count, int32_t input_offset, int32_t container) {
  const int32_t group = 32 / container; /* inputs per weight word */
  const int32_t full = count / group, rest = count - full * group;
  const uint32_t offset_pair = ((uint32_t)(uint16_t)input_offset << 16) | (uint16_t)input_offset;
  uint32_t* out = patch->words;
  for (int32_t g = 0; g < full; ++g, values += group, out += group / 2) {
    qk_widen_group(values, offset_pair, container, out);
  }
  if (rest != 0) { /* the last inputs, padded with -offset so that they widen to 0 */
    int8_t tail[16];
    memset(tail, (int8_t)(-input_offset), sizeof tail);
    memcpy(tail, values, (size_t)rest);
    qk_widen_group(tail, offset_pair, container, out);
    out += group / 2;
  }
  patch->container = container;
  patch->row_bytes = (int32_t)(((uint32_t)count * (uint32_t)container + 7u) / 8u);
  patch->correction = 0u;
  if (container != 8) {
    int32_t sum = 0; /* Σ (x + offset), by halfword pairs */
    for (const uint32_t* w = patch->words; w < out; ++w) sum = qk_smlad(*w, 0x00010001u, sum);
    patch->correction = (uint32_t)sum * (container == 4 ? 8u : 2u);
  }
}

#define QK_PATCH_DOTS(bits)                                                                                        \
  static int32_t qk_patch_dot_##bits(const uint32_t* x, const uint8_t* row, int32_t row_bytes) {                   \
    int32_t acc = 0;                                                                                               \
    const uint32_t mask = qk_in_register(bits == 4 ? 0x000F000Fu : 0x00030003u);                                   \
    const uint8_t* end = row + (row_bytes & ~3);                                                                   \
    for (; row < end; row += 4, x += 32 / bits / 2) acc = qk_mac_word##bits(x, qk_load_word(row), mask, acc);      \
    if (row_bytes & 3) acc = qk_mac_word##bits(x, qk_load_partial(row, row_bytes & 3), mask, acc);                 \
    return acc;                                                                                                    \
  }                                                                                                                \
  static void qk_patch_dot2_##bits(const uint32_t* x, const uint8_t* row0, const uint8_t* row1, int32_t row_bytes, \
                                   int32_t* sum0, int32_t* sum1) {                                                 \
    int32_t acc0 = 0, acc1 = 0;                                                                                    \
    const uint32_t mask = qk_in_register(bits == 4 ? 0x000F000Fu : 0x00030003u);                                   \
    const uint8_t* end = row0 + (row_bytes & ~3);                                                                  \
    for (; row0 < end; row0 += 4, row1 += 4, x += 32 / bits / 2) {                                                 \
      acc0 = qk_mac_word##bits(x, qk_load_word(row0), mask, acc0);                                                 \
      acc1 = qk_mac_word##bits(x, qk_load_word(row1), mask, acc1);                                                 \
    }                                                                                                              \
    if (row_bytes & 3) {                                                                                           \
      acc0 = qk_mac_word##bits(x, qk_load_partial(row0, row_bytes & 3), mask, acc0);                               \
      acc1 = qk_mac_word##bits(x, qk_load_partial(row1, row_bytes & 3), mask, acc1);                               \
    }                                                                                                              \
    *sum0 = acc0;                                                                                                  \
    *sum1 = acc1;                                                                                                  \
  }

QK_PATCH_DOTS(8)
QK_PATCH_DOTS(4)
QK_PATCH_DOTS(2)

int32_t qk_patch_dot(const qk_patch* patch, const uint8_t* row) {
  int32_t sum;
  if (patch->container == 8) {
    sum = qk_patch_dot_8(patch->words, row, patch->row_bytes);
  } else if (patch->container == 4) {
    sum = qk_patch_dot_4(patch->words, row, patch->row_bytes);
  } else {
    sum = qk_patch_dot_2(patch->words, row, patch->row_bytes);
  }
  return (int32_t)((uint32_t)sum - patch->correction);
}

void qk_patch_dot2(const qk_patch* patch, const uint8_t* row0, const uint8_t* row1, int32_t* sum0, int32_t* sum1) {
  if (patch->container == 8) {
    qk_patch_dot2_8(patch->words, row0, row1, patch->row_bytes, sum0, sum1);
  } else if (patch->container == 4) {
    qk_patch_dot2_4(patch->words, row0, row1, patch->row_bytes, sum0, sum1);
  } else {
    qk_patch_dot2_2(patch->words, row0, row1, patch->row_bytes, sum0, sum1);
  }
  *sum0 = (int32_t)((uint32_t)*sum0 - patch->correction);
  *sum1 = (int32_t)((uint32_t)*sum1 - patch->correction);
}
