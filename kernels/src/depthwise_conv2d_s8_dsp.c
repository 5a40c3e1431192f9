/* Depthwise 2-D convolution, Cortex-M DSP variant. Four channels at a time:
 * per window tap one word of the NHWC input and one of the [kh][kw][c]
 * weights, widened to halfword pairs (SXTAB16 adds the input offset; SXTB16;
 * each with ROR #8 for bytes 1 and 3), then one SMLABB / SMLATT per channel.
 * Padding only shortens the window's valid taps. The last channels % 4
 * channels use a scalar loop; 2..4-bit weights take the reference path.
 * Every product and sum is the reference's, modulo 2^32: bit-exact. */
#include <string.h>

#include "argument_checks.h"
#include "dsp_intrinsics.h"
#include "qatlab_kernels/kernel_variants.h"

static inline uint32_t qk_dw_load(const int8_t* p) {
  uint32_t word;
  memcpy(&word, p, 4); /* unaligned loads are fine on M4 */
  return word;
}

qk_status qk_depthwise_conv2d_s8_dsp(const qk_conv_params* params, const qk_per_channel_quant* quant,
                                     const qk_dims* input_dims, const int8_t* input, const qk_packed_weights* weights,
                                     const int32_t* bias, const qk_dims* output_dims, int8_t* output) {
  const int32_t container = weights && qk_bits_ok(weights->bits) ? qk_weight_container_bits(weights->bits) : 0;
  if (container != 8) {
    return qk_depthwise_conv2d_s8_reference(params, quant, input_dims, input, weights, bias, output_dims, output);
  }
  if (!qk_depthwise_conv2d_args_ok(params, quant, input_dims, input, weights, output_dims, output)) {
    return QK_ERR_ARGUMENT;
  }
  const int32_t in_h = input_dims->height, in_w = input_dims->width, channels = input_dims->channels;
  const int32_t out_h = output_dims->height, out_w = output_dims->width;
  const int32_t kernel_w = params->kernel_w, input_offset = params->input_offset;
  const int8_t* filters = (const int8_t*)weights->data;
  const uint32_t offset_pair = ((uint32_t)(uint16_t)input_offset << 16) | (uint16_t)input_offset;
  const int32_t vector_channels = channels & ~3;
  for (int32_t oy = 0; oy < out_h; ++oy) {
    const qk_window_axis wy = qk_window_on_axis(oy, params->stride, params->padding, params->kernel_h, in_h);
    for (int32_t ox = 0; ox < out_w; ++ox) {
      const qk_window_axis wx = qk_window_on_axis(ox, params->stride, params->padding, kernel_w, in_w);
      const int32_t taps_per_row = wx.last - wx.first;
      const int8_t* window = input + ((wy.origin + wy.first) * in_w + wx.origin + wx.first) * channels;
      const int8_t* window_filters = filters + (wy.first * kernel_w + wx.first) * channels;
      const int32_t input_row_step = in_w * channels, filter_row_step = kernel_w * channels;
      int8_t* out = output + (oy * out_w + ox) * channels;
      int32_t c = 0;
      for (; c < vector_channels; c += 4) {
        uint32_t acc0 = 0u, acc1 = 0u, acc2 = 0u, acc3 = 0u;
        if (bias) {
          acc0 = (uint32_t)bias[c];
          acc1 = (uint32_t)bias[c + 1];
          acc2 = (uint32_t)bias[c + 2];
          acc3 = (uint32_t)bias[c + 3];
        }
        const int8_t* input_row = window + c;
        const int8_t* filter_row = window_filters + c;
        for (int32_t ky = wy.first; ky < wy.last; ++ky, input_row += input_row_step, filter_row += filter_row_step) {
          const int8_t* in_p = input_row;
          const int8_t* w_p = filter_row;
          for (int32_t k = 0; k < taps_per_row; ++k, in_p += channels, w_p += channels) {
            const uint32_t input_word = qk_dw_load(in_p), weight_word = qk_dw_load(w_p);
            const uint32_t input_even = qk_sxtab16(offset_pair, input_word);     /* x0, x2 */
            const uint32_t input_odd = qk_sxtab16_ror8(offset_pair, input_word); /* x1, x3 */
            const uint32_t weight_even = qk_sxtb16(weight_word);
            const uint32_t weight_odd = qk_sxtb16_ror8(weight_word);
            acc0 = (uint32_t)qk_smlabb(input_even, weight_even, (int32_t)acc0);
            acc2 = (uint32_t)qk_smlatt(input_even, weight_even, (int32_t)acc2);
            acc1 = (uint32_t)qk_smlabb(input_odd, weight_odd, (int32_t)acc1);
            acc3 = (uint32_t)qk_smlatt(input_odd, weight_odd, (int32_t)acc3);
          }
        }
        out[c] = qk_output_s8((int32_t)acc0, quant->multiplier[c], quant->shift[c], params->output_offset,
                              &params->activation);
        out[c + 1] = qk_output_s8((int32_t)acc1, quant->multiplier[c + 1], quant->shift[c + 1], params->output_offset,
                                  &params->activation);
        out[c + 2] = qk_output_s8((int32_t)acc2, quant->multiplier[c + 2], quant->shift[c + 2], params->output_offset,
                                  &params->activation);
        out[c + 3] = qk_output_s8((int32_t)acc3, quant->multiplier[c + 3], quant->shift[c + 3], params->output_offset,
                                  &params->activation);
      }
      for (; c < channels; ++c) {
        uint32_t acc = bias ? (uint32_t)bias[c] : 0u;
        const int8_t* input_row = window + c;
        const int8_t* filter_row = window_filters + c;
        for (int32_t ky = wy.first; ky < wy.last; ++ky, input_row += input_row_step, filter_row += filter_row_step) {
          for (int32_t k = 0; k < taps_per_row; ++k) {
            acc += (uint32_t)((input_row[k * channels] + input_offset) * filter_row[k * channels]);
          }
        }
        out[c] = qk_output_s8((int32_t)acc, quant->multiplier[c], quant->shift[c], params->output_offset,
                              &params->activation);
      }
    }
  }
  return QK_OK;
}
