/* 2-D convolution, Cortex-M DSP variant. Within one window row the valid
 * taps are contiguous both in the NHWC input and in the [out][kh][kw][in]
 * weights, so each row is one SIMD inner product with no im2col buffer;
 * 8-bit output channels go in pairs over the same input run
 * (qk_dot2_s8_dsp), 3- and 4-bit ones use qk_dot_s8s4_dsp (the run may start
 * on an odd nibble); 2-bit weights take the reference path. */
#include "argument_checks.h"
#include "qatlab_kernels/kernel_variants.h"

qk_status qk_conv2d_s8_dsp(const qk_conv_params* params, const qk_per_channel_quant* quant, const qk_dims* input_dims,
                           const int8_t* input, const qk_packed_weights* weights, const int32_t* bias,
                           const qk_dims* output_dims, int8_t* output) {
  const int32_t container = weights && qk_bits_ok(weights->bits) ? qk_weight_container_bits(weights->bits) : 0;
  const int run_fits_s4 = params && input_dims && (int64_t)params->kernel_w * input_dims->channels <= QK_DSP_MAX_S4_RUN;
  if (container != 8 && !(container == 4 && run_fits_s4)) {
    return qk_conv2d_s8_reference(params, quant, input_dims, input, weights, bias, output_dims, output);
  }
  if (!qk_conv2d_args_ok(params, quant, input_dims, input, weights, output_dims, output)) {
    return QK_ERR_ARGUMENT;
  }
  const int32_t in_h = input_dims->height, in_w = input_dims->width, in_c = input_dims->channels;
  const int32_t out_h = output_dims->height, out_w = output_dims->width, out_c = output_dims->channels;
  const int32_t row_length = params->kernel_h * params->kernel_w * in_c;
  const int8_t* filters = (const int8_t*)weights->data;
  for (int32_t oy = 0; oy < out_h; ++oy) {
    const qk_window_axis wy = qk_window_on_axis(oy, params->stride, params->padding, params->kernel_h, in_h);
    for (int32_t ox = 0; ox < out_w; ++ox) {
      const qk_window_axis wx = qk_window_on_axis(ox, params->stride, params->padding, params->kernel_w, in_w);
      const int32_t run = (wx.last - wx.first) * in_c;
      int8_t* out = output + (oy * out_w + ox) * out_c;
      if (container == 4) {
        const uint32_t row_bytes = qk_packed_row_bytes((uint32_t)row_length, weights->bits);
        for (int32_t oc = 0; oc < out_c; ++oc) {
          const uint8_t* row = weights->data + (uint32_t)oc * row_bytes;
          uint32_t acc = bias ? (uint32_t)bias[oc] : 0u;
          for (int32_t ky = wy.first; ky < wy.last; ++ky) {
            const int8_t* input_run = input + ((wy.origin + ky) * in_w + wx.origin + wx.first) * in_c;
            const uint32_t tap = (uint32_t)((ky * params->kernel_w + wx.first) * in_c);
            acc += (uint32_t)qk_dot_s8s4_dsp(input_run, row, tap, run, params->input_offset);
          }
          out[oc] = qk_output_s8((int32_t)acc, quant->multiplier[oc], quant->shift[oc], params->output_offset,
                                 &params->activation);
        }
        continue;
      }
      int32_t oc = 0;
      for (; oc + 2 <= out_c; oc += 2) {
        const int8_t* filter0 = filters + oc * row_length;
        const int8_t* filter1 = filter0 + row_length;
        uint32_t acc0 = bias ? (uint32_t)bias[oc] : 0u;
        uint32_t acc1 = bias ? (uint32_t)bias[oc + 1] : 0u;
        for (int32_t ky = wy.first; ky < wy.last; ++ky) {
          const int8_t* input_run = input + ((wy.origin + ky) * in_w + wx.origin + wx.first) * in_c;
          const int32_t tap = (ky * params->kernel_w + wx.first) * in_c;
          int32_t dot0, dot1;
          qk_dot2_s8_dsp(input_run, filter0 + tap, filter1 + tap, run, params->input_offset, &dot0, &dot1);
          acc0 += (uint32_t)dot0;
          acc1 += (uint32_t)dot1;
        }
        out[oc] = qk_output_s8((int32_t)acc0, quant->multiplier[oc], quant->shift[oc], params->output_offset,
                               &params->activation);
        out[oc + 1] = qk_output_s8((int32_t)acc1, quant->multiplier[oc + 1], quant->shift[oc + 1],
                                   params->output_offset, &params->activation);
      }
      if (oc < out_c) {
        const int8_t* filter = filters + oc * row_length;
        uint32_t acc = bias ? (uint32_t)bias[oc] : 0u;
        for (int32_t ky = wy.first; ky < wy.last; ++ky) {
          const int8_t* input_run = input + ((wy.origin + ky) * in_w + wx.origin + wx.first) * in_c;
          const int8_t* filter_run = filter + (ky * params->kernel_w + wx.first) * in_c;
          acc += (uint32_t)qk_dot_s8_dsp(input_run, filter_run, run, params->input_offset);
        }
        out[oc] = qk_output_s8((int32_t)acc, quant->multiplier[oc], quant->shift[oc], params->output_offset,
                               &params->activation);
      }
    }
  }
  return QK_OK;
}
