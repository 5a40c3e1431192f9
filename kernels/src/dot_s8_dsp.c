/* The inner product of the optimized int8 kernels: four MACs per two SMLADs.
 * Inputs are widened to halfwords with the offset already added (SXTAB16),
 * weights are widened with SXTB16; bytes 0/2 and 1/3 form the two pairs. The
 * sum of products is the same in any order modulo 2^32, hence bit-exact with
 * the reference. */
#include <string.h>

#include "dsp_intrinsics.h"
#include "qatlab_kernels/kernel_variants.h"
#include "qatlab_kernels/kernels.h"

int32_t qk_dot_s8_dsp(const int8_t* input, const int8_t* weights, int32_t count, int32_t input_offset) {
  const uint32_t offset_pair = ((uint32_t)(uint16_t)input_offset << 16) | (uint16_t)input_offset;
  int32_t acc = 0;
  int32_t i = 0;
  for (; i + 4 <= count; i += 4) {
    uint32_t input_word, weight_word;
    memcpy(&input_word, input + i, 4); /* unaligned loads are fine on M4 */
    memcpy(&weight_word, weights + i, 4);
    const uint32_t input_even = qk_sxtab16(offset_pair, input_word);
    const uint32_t input_odd = qk_sxtab16(offset_pair, qk_ror8(input_word));
    const uint32_t weight_even = qk_sxtb16(weight_word);
    const uint32_t weight_odd = qk_sxtb16(qk_ror8(weight_word));
    acc = qk_smlad(input_even, weight_even, acc);
    acc = qk_smlad(input_odd, weight_odd, acc);
  }
  uint32_t tail = (uint32_t)acc;
  for (; i < count; ++i) tail += (uint32_t)((input[i] + input_offset) * weights[i]);
  return (int32_t)tail;
}

void qk_dot2_s8_dsp(const int8_t* input, const int8_t* weights0, const int8_t* weights1, int32_t count,
                    int32_t input_offset, int32_t* sum0, int32_t* sum1) {
  const uint32_t offset_pair = ((uint32_t)(uint16_t)input_offset << 16) | (uint16_t)input_offset;
  int32_t acc0 = 0, acc1 = 0;
  int32_t i = 0;
  for (; i + 4 <= count; i += 4) {
    uint32_t input_word, word0, word1;
    memcpy(&input_word, input + i, 4);
    memcpy(&word0, weights0 + i, 4);
    memcpy(&word1, weights1 + i, 4);
    const uint32_t input_even = qk_sxtab16(offset_pair, input_word);
    const uint32_t input_odd = qk_sxtab16(offset_pair, qk_ror8(input_word));
    acc0 = qk_smlad(input_even, qk_sxtb16(word0), acc0);
    acc0 = qk_smlad(input_odd, qk_sxtb16(qk_ror8(word0)), acc0);
    acc1 = qk_smlad(input_even, qk_sxtb16(word1), acc1);
    acc1 = qk_smlad(input_odd, qk_sxtb16(qk_ror8(word1)), acc1);
  }
  uint32_t tail0 = (uint32_t)acc0, tail1 = (uint32_t)acc1;
  for (; i < count; ++i) {
    const int32_t value = input[i] + input_offset;
    tail0 += (uint32_t)(value * weights0[i]);
    tail1 += (uint32_t)(value * weights1[i]);
  }
  *sum0 = (int32_t)tail0;
  *sum1 = (int32_t)tail1;
}

int32_t qk_dot_s8s4_dsp(const int8_t* input, const uint8_t* row, uint32_t first, int32_t count, int32_t input_offset) {
  uint32_t sum = 0;
  int32_t i = 0;
  if ((first & 1u) != 0 && count > 0) { /* start on a whole byte */
    sum += (uint32_t)((input[0] + input_offset) * qk_unpack_weight(row, first, 4));
    i = 1;
  }
  const uint8_t* weights = row + ((first + (uint32_t)i) >> 1);
  const uint32_t offset_pair = ((uint32_t)(uint16_t)input_offset << 16) | (uint16_t)input_offset;
  int32_t acc16 = 0; /* 16 times the sum: the nibbles sit in the high half of each byte */
  for (; i + 4 <= count; i += 4, weights += 2) {
    uint32_t input_word;
    uint16_t weight_pair;
    memcpy(&input_word, input + i, 4);
    memcpy(&weight_pair, weights, 2);
    /* bytes (w1 w0) and (w3 w2) into halfwords 0 and 1 */
    const uint32_t spread = ((uint32_t)weight_pair | ((uint32_t)weight_pair << 8)) & 0x00FF00FFu;
    const uint32_t weight_even = qk_sxtb16((spread << 4) & 0x00F000F0u); /* 16·w0, 16·w2 */
    const uint32_t weight_odd = qk_sxtb16(spread & 0x00F000F0u);         /* 16·w1, 16·w3 */
    acc16 = qk_smlad(qk_sxtab16(offset_pair, input_word), weight_even, acc16);
    acc16 = qk_smlad(qk_sxtab16(offset_pair, qk_ror8(input_word)), weight_odd, acc16);
  }
  sum += (uint32_t)(acc16 >> 4); /* exact: every term is a multiple of 16 and |acc16| < 2^31 */
  for (; i < count; ++i) {
    sum += (uint32_t)((input[i] + input_offset) * qk_unpack_weight(row, first + (uint32_t)i, 4));
  }
  return (int32_t)sum;
}
