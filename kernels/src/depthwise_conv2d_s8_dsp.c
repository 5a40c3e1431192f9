/* Depthwise 2-D convolution, Cortex-M DSP variant. Four channels at a time:
 * per window tap one word of the NHWC input, widened to halfword pairs
 * (SXTAB16 adds the input offset, with ROR #8 for bytes 1 and 3), and the
 * four channels' weights of that tap's packed row as two halfword pairs
 * (w0,w2) (w1,w3), then one SMLABB / SMLATT per channel. 8-bit weights are
 * one word and SXTB16 (ROR #8); 4-bit weights are two bytes whose nibbles
 * are moved to the top of bytes 0 and 2 (16·w, SXTB16), 2-bit weights one
 * byte whose crumbs go to the top likewise (64·w); the sum, a multiple of 16
 * or 64, is shifted back exactly before the bias is added (the taps are
 * bounded so that it fits). Padding only shortens the window's valid taps.
 * The last channels % 4 channels use a scalar loop. Every product and sum is
 * the reference's, modulo 2^32: bit-exact. */
#include <string.h>

#include "argument_checks.h"
#include "dsp_intrinsics.h"
#include "output_stage_dsp.h"
#include "qatlab_kernels/kernel_variants.h"

/* The most taps (kh·kw) of the 4- and 2-bit paths: 64·255·2·taps < 2^31. */
#define QK_DW_MAX_NARROW_TAPS 4096

static inline uint32_t qk_dw_load(const int8_t* p) {
  uint32_t word;
  memcpy(&word, p, 4); /* unaligned loads are fine on M4 */
  return word;
}

/* Channels c..c+3 of one tap's packed row as (w0,w2) and (w1,w3), scaled by
 * 1, 16 or 64 (8-, 4-, 2-bit containers); `mask` is 0x00F000F0 for 4-bit
 * and 0x00C000C0 for 2-bit containers. */
static inline __attribute__((always_inline)) void qk_dw_weights(const uint8_t* row, int32_t c, int32_t container,
                                                                uint32_t mask, uint32_t* even, uint32_t* odd) {
  if (container == 8) {
    const uint32_t word = qk_dw_load((const int8_t*)row + c);
    *even = qk_sxtb16(word);
    *odd = qk_sxtb16_ror8(word);
  } else if (container == 4) {
    uint16_t pair;
    memcpy(&pair, row + (c >> 1), 2);
    const uint32_t spread = (uint32_t)pair | ((uint32_t)pair << 8); /* nibbles 0,1 at bits 0..7, 2,3 at 16..23 */
    *even = qk_sxtb16((spread << 4) & mask);
    *odd = qk_sxtb16(spread & mask);
  } else {
    const uint32_t byte = row[c >> 2];
    const uint32_t spread = byte | (byte << 12); /* crumbs 0,1 at bits 12..15, 2,3 at 16..19 */
    *even = qk_sxtb16((spread << 6) & mask);
    *odd = qk_sxtb16((spread << 4) & mask);
  }
}

/* One tap of four channels: input bytes widened with the offset, weights
 * unpacked, one SMLABB / SMLATT per channel into acc[0..3]. */
static inline __attribute__((always_inline)) void qk_dw_tap(const int8_t* in_p, const uint8_t* w_p, int32_t c,
                                                            uint32_t offset_pair, int32_t container, uint32_t mask,
                                                            int32_t* acc) {
  const uint32_t input_word = qk_dw_load(in_p);
  const uint32_t input_even = qk_sxtab16(offset_pair, input_word);     /* x0, x2 */
  const uint32_t input_odd = qk_sxtab16_ror8(offset_pair, input_word); /* x1, x3 */
  uint32_t weight_even, weight_odd;
  qk_dw_weights(w_p, c, container, mask, &weight_even, &weight_odd);
  acc[0] = qk_smlabb(input_even, weight_even, acc[0]);
  acc[2] = qk_smlatt(input_even, weight_even, acc[2]);
  acc[1] = qk_smlabb(input_odd, weight_odd, acc[1]);
  acc[3] = qk_smlatt(input_odd, weight_odd, acc[3]);
}

static inline __attribute__((always_inline)) void qk_depthwise_dsp(
    const qk_conv_params* params, const qk_per_channel_quant* quant, const qk_dims* input_dims, const int8_t* input,
    const uint8_t* filters, int32_t container, const int32_t* bias, const qk_dims* output_dims, int8_t* output,
    const qk_output_stage* output_stage, int high_word) {
  const int32_t in_h = input_dims->height, in_w = input_dims->width, channels = input_dims->channels;
  const int32_t out_h = output_dims->height, out_w = output_dims->width;
  const int32_t kernel_w = params->kernel_w, input_offset = params->input_offset;
  const uint32_t offset_pair = ((uint32_t)(uint16_t)input_offset << 16) | (uint16_t)input_offset;
  const int32_t vector_channels = channels & ~3;
  const uint32_t row_bytes = qk_packed_row_bytes((uint32_t)channels, container);
  const int32_t scale_shift = container == 8 ? 0 : (container == 4 ? 4 : 6);
  /* Locals, so that the int8 output stores (which may alias anything) do not
   * force reloads of the parameters. */
  const int32_t* multiplier = quant->multiplier;
  const int32_t* shift = quant->shift;
  const int32_t output_offset = params->output_offset;
  const qk_activation activation = params->activation;
  const qk_output_stage stage = *output_stage;
  const uint32_t mask = qk_in_register(container == 4 ? 0x00F000F0u : 0x00C000C0u);
  for (int32_t oy = 0; oy < out_h; ++oy) {
    const qk_window_axis wy = qk_window_on_axis(oy, params->stride, params->padding, params->kernel_h, in_h);
    for (int32_t ox = 0; ox < out_w; ++ox) {
      const qk_window_axis wx = qk_window_on_axis(ox, params->stride, params->padding, kernel_w, in_w);
      const int32_t taps_per_row = wx.last - wx.first;
      const int8_t* window = input + ((wy.origin + wy.first) * in_w + wx.origin + wx.first) * channels;
      const uint8_t* window_rows = filters + (uint32_t)(wy.first * kernel_w + wx.first) * row_bytes;
      const int32_t input_row_step = in_w * channels;
      const uint32_t filter_row_step = (uint32_t)kernel_w * row_bytes;
      int8_t* out = output + (oy * out_w + ox) * channels;
      int32_t c = 0;
      for (; c < vector_channels; c += 4) {
        int32_t acc[4] = {0, 0, 0, 0};
        const int8_t* input_row = window + c;
        const uint8_t* filter_row = window_rows;
        if (wy.last - wy.first == 3 && taps_per_row == 3) { /* a whole 3x3 window, unrolled */
#pragma GCC unroll 3
          for (int32_t ky = 0; ky < 3; ++ky, input_row += input_row_step, filter_row += filter_row_step) {
#pragma GCC unroll 3
            for (int32_t k = 0; k < 3; ++k) {
              qk_dw_tap(input_row + k * channels, filter_row + (uint32_t)k * row_bytes, c, offset_pair, container, mask,
                        acc);
            }
          }
        } else {
          for (int32_t ky = wy.first; ky < wy.last; ++ky, input_row += input_row_step, filter_row += filter_row_step) {
            const int8_t* in_p = input_row;
            const uint8_t* w_p = filter_row;
            for (int32_t k = 0; k < taps_per_row; ++k, in_p += channels, w_p += row_bytes) {
              qk_dw_tap(in_p, w_p, c, offset_pair, container, mask, acc);
            }
          }
        }
        const int32_t acc0 = acc[0], acc1 = acc[1], acc2 = acc[2], acc3 = acc[3];
        /* exact: the scaled sums fit int32 (QK_DW_MAX_NARROW_TAPS) */
        uint32_t sum0 = (uint32_t)(acc0 >> scale_shift), sum1 = (uint32_t)(acc1 >> scale_shift);
        uint32_t sum2 = (uint32_t)(acc2 >> scale_shift), sum3 = (uint32_t)(acc3 >> scale_shift);
        if (bias) {
          sum0 += (uint32_t)bias[c];
          sum1 += (uint32_t)bias[c + 1];
          sum2 += (uint32_t)bias[c + 2];
          sum3 += (uint32_t)bias[c + 3];
        }
        if (high_word) {
          const int32_t offset = stage.offset_twice_plus_one;
          const int32_t v0 = qk_output_stage_value((int32_t)sum0, multiplier[c], shift[c], offset);
          const int32_t v1 = qk_output_stage_value((int32_t)sum1, multiplier[c + 1], shift[c + 1], offset);
          const int32_t v2 = qk_output_stage_value((int32_t)sum2, multiplier[c + 2], shift[c + 2], offset);
          const int32_t v3 = qk_output_stage_value((int32_t)sum3, multiplier[c + 3], shift[c + 3], offset);
          const uint32_t word = qk_output_stage_clamp(qk_pack_s8x4(v0, v1, v2, v3), &stage);
          memcpy(out + c, &word, 4);
        } else {
          out[c] = qk_output_s8((int32_t)sum0, multiplier[c], shift[c], output_offset, &activation);
          out[c + 1] = qk_output_s8((int32_t)sum1, multiplier[c + 1], shift[c + 1], output_offset, &activation);
          out[c + 2] = qk_output_s8((int32_t)sum2, multiplier[c + 2], shift[c + 2], output_offset, &activation);
          out[c + 3] = qk_output_s8((int32_t)sum3, multiplier[c + 3], shift[c + 3], output_offset, &activation);
        }
      }
      for (; c < channels; ++c) {
        uint32_t acc = bias ? (uint32_t)bias[c] : 0u;
        const int8_t* input_row = window + c;
        const uint8_t* filter_row = window_rows;
        for (int32_t ky = wy.first; ky < wy.last; ++ky, input_row += input_row_step, filter_row += filter_row_step) {
          for (int32_t k = 0; k < taps_per_row; ++k) {
            const int32_t w = qk_unpack_weight(filter_row + (uint32_t)k * row_bytes, (uint32_t)c, container);
            acc += (uint32_t)((input_row[k * channels] + input_offset) * w);
          }
        }
        out[c] = qk_output_s8((int32_t)acc, multiplier[c], shift[c], output_offset, &activation);
      }
    }
  }
}

qk_status qk_depthwise_conv2d_s8_dsp(const qk_conv_params* params, const qk_per_channel_quant* quant,
                                     const qk_dims* input_dims, const int8_t* input, const qk_packed_weights* weights,
                                     const int32_t* bias, const qk_dims* output_dims, int8_t* output) {
  const int32_t container = weights && qk_bits_ok(weights->bits) ? qk_weight_container_bits(weights->bits) : 0;
  const int narrow_fits = params && (int64_t)params->kernel_h * params->kernel_w <= QK_DW_MAX_NARROW_TAPS;
  if (container == 0 || (container != 8 && !narrow_fits)) {
    return qk_depthwise_conv2d_s8_reference(params, quant, input_dims, input, weights, bias, output_dims, output);
  }
  if (!qk_depthwise_conv2d_args_ok(params, quant, input_dims, input, weights, output_dims, output)) {
    return QK_ERR_ARGUMENT;
  }
  /* One copy of the loops per container, its weight unpacking inlined, and
   * per output stage (selected once for the layer: output_stage_dsp.h). */
  const qk_output_stage stage = qk_output_stage_init(quant->multiplier, quant->shift, input_dims->channels,
                                                     params->output_offset, &params->activation);
  const uint8_t* filters = weights->data;
  if (stage.high_word) {
    if (container == 8) {
      qk_depthwise_dsp(params, quant, input_dims, input, filters, 8, bias, output_dims, output, &stage, 1);
    } else if (container == 4) {
      qk_depthwise_dsp(params, quant, input_dims, input, filters, 4, bias, output_dims, output, &stage, 1);
    } else {
      qk_depthwise_dsp(params, quant, input_dims, input, filters, 2, bias, output_dims, output, &stage, 1);
    }
  } else if (container == 8) {
    qk_depthwise_dsp(params, quant, input_dims, input, filters, 8, bias, output_dims, output, &stage, 0);
  } else if (container == 4) {
    qk_depthwise_dsp(params, quant, input_dims, input, filters, 4, bias, output_dims, output, &stage, 0);
  } else {
    qk_depthwise_dsp(params, quant, input_dims, input, filters, 2, bias, output_dims, output, &stage, 0);
  }
  return QK_OK;
}
