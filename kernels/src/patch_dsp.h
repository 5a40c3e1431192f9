/* The widened input patch of the DSP dense and conv2d kernels (internal).
 *
 * A patch is the `count` inputs one output channel's weight row multiplies:
 * the whole input vector of a dense layer, one window (kh·kw·C_in) of a
 * convolution. It is widened once, to halfwords with the input offset added
 * (SXTAB16), and then serves every output channel, so the inner loop only
 * loads, unpacks and multiplies weights. The halfwords are laid out in the
 * order in which one 32-bit word of packed weights unpacks into SMLAD
 * operands, so that no weight needs rearranging:
 *
 *   8-bit containers: 4 weights a word, SXTB16 and SXTB16 ROR #8 give
 *     (w0,w2) (w1,w3); the patch holds (x0,x2) (x1,x3).
 *   4-bit containers: 8 weights a word; u = word ^ 0x88888888 holds w + 8
 *     (0..15) in every nibble, and (u >> 4k) & 0x000F000F gives (u_k,
 *     u_k+4) for k = 0..3; the patch holds (x0,x4) (x1,x5) (x2,x6) (x3,x7).
 *   2-bit containers: 16 weights a word; u = word ^ 0xAAAAAAAA holds w + 2
 *     (0..3) in every crumb, (u >> 2k) & 0x00030003 gives (u_k, u_k+8) for
 *     k = 0..7; the patch holds (x0,x8) ... (x7,x15).
 *
 * With unsigned weights the sum is Σ x·(w + K) = Σ x·w + K·Σ x, so the
 * patch keeps K·Σ x (K = 8 or 2), computed once and subtracted from every
 * output channel's sum: the unsigned-offset trick, with the correction per
 * patch rather than per output channel, and without any change to the
 * packed layout. The patch is zero-padded to whole weight words, and a row's
 * last, partial word is assembled from its remaining bytes (no read past a
 * row's end), so padded positions add nothing. Every sum wraps modulo 2^32
 * like the reference's: bit-exact. */
#ifndef QATLAB_KERNELS_SRC_PATCH_DSP_H_
#define QATLAB_KERNELS_SRC_PATCH_DSP_H_

#include <stdint.h>

#include "output_stage_dsp.h"
#include "qatlab_kernels/kernels.h"

/* The longest patch: rows longer than this take the kernels' other paths.
 * A patch lives on the stack (2 KiB of halfwords, and the convolution's
 * 1 KiB byte window). */
#define QK_DSP_PATCH_MAX 1024

typedef struct {
  uint32_t words[QK_DSP_PATCH_MAX / 2 + 8]; /* halfword pairs, zero-padded to whole weight words */
  int32_t container;                        /* 8, 4 or 2 */
  int32_t row_bytes;                        /* bytes of one packed weight row of `count` weights */
  uint32_t correction;                      /* K·Σ (x + offset); 0 for 8-bit containers */
} qk_patch;

/* Widens values[0..count) (plus input_offset) into `patch` for weights in
 * `container`-bit containers. With tail_padded, values[count..count + 15]
 * may be read and hold -input_offset (a buffer padded once, so the last
 * group needs no copy). REQUIRES 1 <= count <= QK_DSP_PATCH_MAX. */
void qk_patch_widen(qk_patch* patch, const int8_t* values, int32_t count, int32_t input_offset, int tail_padded,
                    int32_t container);

/* The requantization of the outputs (per output channel; bias may be NULL),
 * with its output stage resolved for the layer (qk_output_quant_for_layer). */
typedef struct {
  const int32_t* bias;
  const int32_t* multiplier;
  const int32_t* shift;
  int32_t output_offset;
  qk_activation activation;
  qk_output_stage stage;
} qk_output_quant;

/* Once per layer of `count` output channels. */
static inline qk_output_quant qk_output_quant_for_layer(const int32_t* bias, const qk_per_channel_quant* quant,
                                                        int32_t count, int32_t output_offset,
                                                        qk_activation activation) {
  qk_output_quant q;
  q.bias = bias;
  q.multiplier = quant->multiplier;
  q.shift = quant->shift;
  q.output_offset = output_offset;
  q.activation = activation;
  q.stage = qk_output_stage_init(quant->multiplier, quant->shift, count, output_offset, &activation);
  return q;
}

/* out[oc] for oc < count: the requantized Σ (x_i + offset) · w_i + bias[oc]
 * of the patch against the packed row rows + oc · row_bytes, every sum
 * wrapping modulo 2^32 like the reference's. Two rows per pass; windows of
 * at most three weight words (a first layer's 3x3x1) keep the patch in
 * registers across all rows. */
void qk_patch_outputs(const qk_patch* patch, const uint8_t* rows, int32_t count, const qk_output_quant* quant,
                      int8_t* out);

#endif /* QATLAB_KERNELS_SRC_PATCH_DSP_H_ */
