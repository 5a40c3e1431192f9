/* The widened input patch and its inner products (patch_dsp.h). */
#include "patch_dsp.h"

#include <string.h>

#include "argument_checks.h"
#include "dsp_intrinsics.h"

static inline uint32_t qk_load_word(const void* p) {
  uint32_t word;
  memcpy(&word, p, 4); /* unaligned loads are fine on M4 */
  return word;
}

/* A row's last `bytes` (1..3) bytes as a word, the missing bytes 0. */
static inline uint32_t qk_load_partial(const uint8_t* p, int32_t bytes) {
  uint32_t word = p[0];
  if (bytes > 1) word |= (uint32_t)p[1] << 8;
  if (bytes > 2) word |= (uint32_t)p[2] << 16;
  return word;
}

/* One weight word against its patch words, into acc. `mask` is
 * 0x000F000F for 4-bit and 0x00030003 for 2-bit containers (see
 * qk_in_register). */
static inline int32_t qk_mac_word8(const uint32_t* x, uint32_t w, uint32_t mask, int32_t acc) {
  (void)mask;
  acc = qk_smlad(x[0], qk_sxtb16(w), acc);
  return qk_smlad(x[1], qk_sxtb16_ror8(w), acc);
}
static inline int32_t qk_mac_word4(const uint32_t* x, uint32_t w, uint32_t mask, int32_t acc) {
  const uint32_t u = w ^ 0x88888888u;
  acc = qk_smlad(x[0], u & mask, acc);
  acc = qk_smlad(x[1], (u >> 4) & mask, acc);
  acc = qk_smlad(x[2], (u >> 8) & mask, acc);
  return qk_smlad(x[3], (u >> 12) & mask, acc);
}
static inline int32_t qk_mac_word2(const uint32_t* x, uint32_t w, uint32_t mask, int32_t acc) {
  const uint32_t u = w ^ 0xAAAAAAAAu;
  acc = qk_smlad(x[0], u & mask, acc);
  acc = qk_smlad(x[1], (u >> 2) & mask, acc);
  acc = qk_smlad(x[2], (u >> 4) & mask, acc);
  acc = qk_smlad(x[3], (u >> 6) & mask, acc);
  acc = qk_smlad(x[4], (u >> 8) & mask, acc);
  acc = qk_smlad(x[5], (u >> 10) & mask, acc);
  acc = qk_smlad(x[6], (u >> 12) & mask, acc);
  return qk_smlad(x[7], (u >> 14) & mask, acc);
}

/* Halfword pairs (low of a, low of b) and (high of a, high of b): PKHBT and
 * PKHTB. */
static inline uint32_t qk_pack_low(uint32_t a, uint32_t b) { return (a & 0xFFFFu) | (b << 16); }
static inline uint32_t qk_pack_high(uint32_t a, uint32_t b) { return (b & 0xFFFF0000u) | (a >> 16); }

/* Widens one weight word's worth of inputs (4, 8 or 16 bytes at `x`) and
 * returns sum + their Σ (x + offset) (for 4- and 2-bit containers; SMLAD
 * with 1,1 adds both halfwords). */
static inline __attribute__((always_inline)) int32_t qk_widen_group(const int8_t* x, uint32_t offset_pair,
                                                                    int32_t container, uint32_t* out, int32_t sum) {
  const uint32_t ones = 0x00010001u;
  if (container == 8) {
    const uint32_t x0 = qk_load_word(x);
    out[0] = qk_sxtab16(offset_pair, x0);      /* x0, x2 */
    out[1] = qk_sxtab16_ror8(offset_pair, x0); /* x1, x3 */
    return sum;
  }
  if (container == 4) {
    const uint32_t x0 = qk_load_word(x), x1 = qk_load_word(x + 4);
    const uint32_t a = qk_sxtab16(offset_pair, x0), c = qk_sxtab16_ror8(offset_pair, x0); /* (x0,x2) (x1,x3) */
    const uint32_t b = qk_sxtab16(offset_pair, x1), d = qk_sxtab16_ror8(offset_pair, x1); /* (x4,x6) (x5,x7) */
    out[0] = qk_pack_low(a, b);
    out[1] = qk_pack_low(c, d);
    out[2] = qk_pack_high(a, b);
    out[3] = qk_pack_high(c, d);
    return qk_smlad(d, ones, qk_smlad(c, ones, qk_smlad(b, ones, qk_smlad(a, ones, sum))));
  }
  for (int32_t half = 0; half < 2; ++half) { /* (x0..x7 with x8..x15): words 0..3 then 4..7 */
    const uint32_t x0 = qk_load_word(x + 4 * half), x2 = qk_load_word(x + 8 + 4 * half);
    const uint32_t a0 = qk_sxtab16(offset_pair, x0), c0 = qk_sxtab16_ror8(offset_pair, x0);
    const uint32_t a2 = qk_sxtab16(offset_pair, x2), c2 = qk_sxtab16_ror8(offset_pair, x2);
    uint32_t* o = out + 4 * half;
    o[0] = qk_pack_low(a0, a2);
    o[1] = qk_pack_low(c0, c2);
    o[2] = qk_pack_high(a0, a2);
    o[3] = qk_pack_high(c0, c2);
    sum = qk_smlad(c2, ones, qk_smlad(a2, ones, qk_smlad(c0, ones, qk_smlad(a0, ones, sum))));
  }
  return sum;
}

/* The widening loop for one container width; returns Σ (x + offset). */
static inline __attribute__((always_inline)) int32_t qk_widen_all(uint32_t* out, const int8_t* values, int32_t count,
                                                                  int32_t input_offset, int tail_padded,
                                                                  int32_t container) {
  const int32_t group = 32 / container; /* inputs per weight word */
  if (tail_padded) count += group - 1;  /* the padding widens to 0: take it as whole groups */
  const int32_t full = count / group, rest = tail_padded ? 0 : count - full * group;
  const uint32_t offset_pair = ((uint32_t)(uint16_t)input_offset << 16) | (uint16_t)input_offset;
  int32_t sum = 0;
  for (int32_t g = 0; g < full; ++g, values += group, out += group / 2) {
    sum = qk_widen_group(values, offset_pair, container, out, sum);
  }
  if (rest != 0) { /* the last inputs, padded with -offset so that they widen to 0 */
    int8_t tail[16];
    for (int32_t i = 0; i < group; ++i) {
      tail[i] = i < rest ? values[i] : (int8_t)(-input_offset);
      qk_keep_loop(tail + i);
    }
    sum = qk_widen_group(tail, offset_pair, container, out, sum);
  }
  return sum;
}

void qk_patch_widen(qk_patch* patch, const int8_t* values, int32_t count, int32_t input_offset, int tail_padded,
                    int32_t container) {
  patch->container = container;
  patch->row_bytes = (int32_t)(((uint32_t)count * (uint32_t)container + 7u) / 8u);
  if (container == 8) {
    qk_widen_all(patch->words, values, count, input_offset, tail_padded, 8);
    patch->correction = 0u;
  } else if (container == 4) {
    patch->correction = 8u * (uint32_t)qk_widen_all(patch->words, values, count, input_offset, tail_padded, 4);
  } else {
    patch->correction = 2u * (uint32_t)qk_widen_all(patch->words, values, count, input_offset, tail_padded, 2);
  }
}

/* One output: bias, requantization, clamp. */
static inline int8_t qk_patch_output(uint32_t dot, int32_t oc, const qk_output_quant* q) {
  const uint32_t acc = (q->bias ? (uint32_t)q->bias[oc] : 0u) + dot;
  return qk_output_s8((int32_t)acc, q->multiplier[oc], q->shift[oc], q->output_offset, &q->activation);
}

/* The same through the layer's 32-bit output stage (q->stage.high_word). */
static inline int32_t qk_patch_stage_value(uint32_t dot, int32_t oc, const qk_output_quant* q) {
  const uint32_t acc = (q->bias ? (uint32_t)q->bias[oc] : 0u) + dot;
  return qk_output_stage_value((int32_t)acc, q->multiplier[oc], q->shift[oc], q->stage.offset_twice_plus_one);
}

/* Outputs oc and oc + 1 (high_word: one packed clamp and one halfword store). */
static inline __attribute__((always_inline)) void qk_patch_output_pair(uint32_t dot0, uint32_t dot1, int32_t oc,
                                                                       const qk_output_quant* q, int8_t* out,
                                                                       int high_word) {
  if (high_word) {
    const uint32_t pair = qk_output_stage_clamp(
        qk_pack_s8x2(qk_patch_stage_value(dot0, oc, q), qk_patch_stage_value(dot1, oc + 1, q)), &q->stage);
    memcpy(out + oc, &pair, 2); /* little-endian: bytes 0 and 1 */
  } else {
    out[oc] = qk_patch_output(dot0, oc, q);
    out[oc + 1] = qk_patch_output(dot1, oc + 1, q);
  }
}

static inline __attribute__((always_inline)) void qk_patch_output_one(uint32_t dot, int32_t oc,
                                                                      const qk_output_quant* q, int8_t* out,
                                                                      int high_word) {
  if (high_word) {
    out[oc] = (int8_t)qk_output_stage_clamp((uint32_t)qk_patch_stage_value(dot, oc, q), &q->stage);
  } else {
    out[oc] = qk_patch_output(dot, oc, q);
  }
}

/* A row's inner product over `groups` weight words; the last word whole or
 * assembled from its last `last_bytes` bytes. */
static inline __attribute__((always_inline)) int32_t qk_row_dot(const uint32_t* x, const uint8_t* row,
                                                                int32_t container, int32_t groups, int32_t last_bytes,
                                                                uint32_t mask, int32_t acc) {
  const int32_t step = 16 / container; /* patch words per weight word */
#pragma GCC unroll 3
  for (int32_t g = 0; g < groups; ++g) {
    const uint32_t w =
        (g + 1 < groups || last_bytes == 4) ? qk_load_word(row + 4 * g) : qk_load_partial(row + 4 * g, last_bytes);
    if (container == 8) {
      acc = qk_mac_word8(x + step * g, w, mask, acc);
    } else if (container == 4) {
      acc = qk_mac_word4(x + step * g, w, mask, acc);
    } else {
      acc = qk_mac_word2(x + step * g, w, mask, acc);
    }
  }
  return acc;
}

/* Windows of one to three weight words: the patch words stay in registers
 * across rows and each row is straight-line code. A row reads its last word
 * whole when that stays within the rows (the bytes past its end belong to
 * the next rows and meet zero patch values); the last rows assemble it from
 * their own bytes. */
static inline __attribute__((always_inline)) void qk_small_rows(const qk_patch* patch, const uint32_t* x,
                                                                const uint8_t* rows, int32_t count,
                                                                const qk_output_quant* quant, int8_t* out,
                                                                int32_t container, int32_t groups, int high_word) {
  const uint32_t row_bytes = (uint32_t)patch->row_bytes;
  const int32_t last_bytes = patch->row_bytes - 4 * (groups - 1);
  const uint32_t correction = container == 8 ? 0u : patch->correction; /* 0 for 8-bit: no load */
  const uint32_t mask = qk_in_register(container == 4 ? 0x000F000Fu : 0x00030003u);
  const qk_output_quant q = *quant; /* a local: the int8 stores cannot alias it */
  /* The last rows whose last word, read whole, would run past the end of
   * all rows: r rows from the end can be read whole when r·row_bytes >= 4·groups. */
  int32_t assembled = 0;
  while (assembled < count && (uint32_t)(assembled + 1) * row_bytes < 4u * (uint32_t)groups) ++assembled;
  const uint8_t* row = rows;
  int32_t oc = 0;
  for (; oc < count - assembled; ++oc, row += row_bytes) {
    const uint32_t dot = (uint32_t)qk_row_dot(x, row, container, groups, 4, mask, 0) - correction;
    qk_patch_output_one(dot, oc, &q, out, high_word);
  }
  for (; oc < count; ++oc, row += row_bytes) {
    const uint32_t dot = (uint32_t)qk_row_dot(x, row, container, groups, last_bytes, mask, 0) - correction;
    qk_patch_output_one(dot, oc, &q, out, high_word);
  }
}

static inline __attribute__((always_inline)) void qk_small_outputs(const qk_patch* patch, const uint8_t* rows,
                                                                   int32_t count, const qk_output_quant* quant,
                                                                   int8_t* out, int32_t container, int32_t groups,
                                                                   int high_word) {
  const int32_t step = 16 / container;
  if (groups * step == 8) { /* eight words do not fit beside the rest: a copy would only go to the stack */
    qk_small_rows(patch, patch->words, rows, count, quant, out, container, groups, high_word);
    return;
  }
  uint32_t x[8];
#pragma GCC unroll 8
  for (int32_t i = 0; i < groups * step; ++i) x[i] = patch->words[i];
  qk_small_rows(patch, x, rows, count, quant, out, container, groups, high_word);
}

/* Any window: two rows per pass over the patch in memory. */
static inline __attribute__((always_inline)) void qk_paired_outputs(const qk_patch* patch, const uint8_t* rows,
                                                                    int32_t count, const qk_output_quant* quant,
                                                                    int8_t* out, int32_t container, int high_word) {
  const int32_t step = 16 / container;
  const uint32_t row_bytes = (uint32_t)patch->row_bytes;
  const int32_t full_words = patch->row_bytes >> 2, last_bytes = patch->row_bytes & 3;
  const uint32_t correction = container == 8 ? 0u : patch->correction; /* 0 for 8-bit: no load */
  const uint32_t mask = qk_in_register(container == 4 ? 0x000F000Fu : 0x00030003u);
  const qk_output_quant q = *quant;
  const uint8_t* rows_end = rows + (uint32_t)count * row_bytes;
  int32_t oc = 0;
  for (; oc + 2 <= count; oc += 2) {
    const uint8_t* row0 = rows + (uint32_t)oc * row_bytes;
    const uint8_t* row1 = row0 + row_bytes;
    const uint8_t* end = row0 + 4 * full_words;
    const uint32_t* x = patch->words;
    int32_t acc0 = 0, acc1 = 0;
    for (; row0 < end; row0 += 4, row1 += 4, x += step) {
      acc0 = qk_row_dot(x, row0, container, 1, 4, mask, acc0);
      acc1 = qk_row_dot(x, row1, container, 1, 4, mask, acc1);
    }
    if (last_bytes != 0) {
      if (row1 + 4 <= rows_end) { /* read whole: the bytes past the row meet zero patch values */
        acc0 = qk_row_dot(x, row0, container, 1, 4, mask, acc0);
        acc1 = qk_row_dot(x, row1, container, 1, 4, mask, acc1);
      } else {
        acc0 = qk_row_dot(x, row0, container, 1, last_bytes, mask, acc0);
        acc1 = qk_row_dot(x, row1, container, 1, last_bytes, mask, acc1);
      }
    }
    qk_patch_output_pair((uint32_t)acc0 - correction, (uint32_t)acc1 - correction, oc, &q, out, high_word);
  }
  if (oc < count) {
    const uint8_t* row = rows + (uint32_t)oc * row_bytes;
    const uint8_t* end = row + 4 * full_words;
    const uint32_t* x = patch->words;
    int32_t acc = 0;
    for (; row < end; row += 4, x += step) acc = qk_row_dot(x, row, container, 1, 4, mask, acc);
    if (last_bytes != 0) acc = qk_row_dot(x, row, container, 1, last_bytes, mask, acc);
    qk_patch_output_one((uint32_t)acc - correction, oc, &q, out, high_word);
  }
}

/* One copy of the loops per container and small window, unpacking inlined. */
static inline __attribute__((always_inline)) void qk_patch_outputs_staged(const qk_patch* patch, const uint8_t* rows,
                                                                          int32_t count, const qk_output_quant* quant,
                                                                          int8_t* out, int high_word) {
  const int32_t groups = (patch->row_bytes + 3) >> 2;
  if (patch->container == 8) {
    if (groups == 1) {
      qk_small_outputs(patch, rows, count, quant, out, 8, 1, high_word);
    } else if (groups == 2) {
      qk_small_outputs(patch, rows, count, quant, out, 8, 2, high_word);
    } else if (groups == 3) {
      qk_small_outputs(patch, rows, count, quant, out, 8, 3, high_word);
    } else {
      qk_paired_outputs(patch, rows, count, quant, out, 8, high_word);
    }
  } else if (patch->container == 4) {
    if (groups == 1) {
      qk_small_outputs(patch, rows, count, quant, out, 4, 1, high_word);
    } else if (groups == 2) {
      qk_small_outputs(patch, rows, count, quant, out, 4, 2, high_word);
    } else {
      qk_paired_outputs(patch, rows, count, quant, out, 4, high_word);
    }
  } else if (groups == 1) {
    qk_small_outputs(patch, rows, count, quant, out, 2, 1, high_word);
  } else {
    qk_paired_outputs(patch, rows, count, quant, out, 2, high_word);
  }
}

void qk_patch_outputs(const qk_patch* patch, const uint8_t* rows, int32_t count, const qk_output_quant* quant,
                      int8_t* out) {
  /* and one per output stage, chosen for the layer (output_stage_dsp.h) */
  if (quant->stage.high_word) {
    qk_patch_outputs_staged(patch, rows, count, quant, out, 1);
  } else {
    qk_patch_outputs_staged(patch, rows, count, quant, out, 0);
  }
}
