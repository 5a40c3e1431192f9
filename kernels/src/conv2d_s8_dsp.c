/* 2-D convolution, Cortex-M DSP variant. Windows of up to QK_DSP_PATCH_MAX
 * inputs (kh·kw·C_in) are gathered per output pixel into a byte window on
 * the stack (padded taps hold -input_offset, which widens to 0), widened once
 * into a patch (patch_dsp.h) and multiplied by every output channel's row,
 * two channels per pass, for every weight width; a 1×1 kernel widens
 * straight from the input. Larger windows: within one window row the valid
 * taps are contiguous both in the NHWC input and in the [out][kh][kw][in]
 * weights, so each row is one SIMD inner product; 8-bit output channels go in
 * pairs over the same input run (qk_dot2_s8_dsp), 3- and 4-bit ones use
 * qk_dot_s8s4_dsp (the run may start on an odd nibble); 2-bit weights take
 * the reference path. */
#include <string.h>

#include "argument_checks.h"
#include "dsp_intrinsics.h"
#include "patch_dsp.h"
#include "qatlab_kernels/kernel_variants.h"

/* Small copies and fills, word by word: the C library's are calls, and the
 * runs of a window are short (3 bytes in a 1-channel 3×3 convolution). */
static inline void qk_copy_run(int8_t* dst, const int8_t* src, int32_t n) {
  for (; n >= 4; n -= 4, dst += 4, src += 4) {
    uint32_t word;
    memcpy(&word, src, 4);
    memcpy(dst, &word, 4);
    qk_keep_loop(dst);
  }
  for (; n > 0; --n) {
    *dst++ = *src++;
    qk_keep_loop(dst);
  }
}

static inline void qk_fill_run(int8_t* dst, int8_t value, int32_t n) {
  for (; n > 0; --n) {
    *dst++ = value;
    qk_keep_loop(dst);
  }
}

/* The kh·kw·C window of output pixel (wy, wx) as bytes, padded taps -offset. */
static void qk_gather_window(const qk_conv_params* params, const qk_dims* input_dims, const int8_t* input,
                             const qk_window_axis* wy, const qk_window_axis* wx, int8_t* window) {
  const int32_t in_w = input_dims->width, in_c = input_dims->channels;
  const int32_t row = params->kernel_w * in_c, left = wx->first * in_c, run = (wx->last - wx->first) * in_c;
  const int8_t pad = (int8_t)(-params->input_offset);
  for (int32_t ky = 0; ky < params->kernel_h; ++ky, window += row) {
    if (ky < wy->first || ky >= wy->last) {
      qk_fill_run(window, pad, row);
      continue;
    }
    qk_fill_run(window, pad, left);
    qk_copy_run(window + left, input + ((wy->origin + ky) * in_w + wx->origin + wx->first) * in_c, run);
    qk_fill_run(window + left + run, pad, row - left - run);
  }
}

static void qk_conv2d_from_patches(const qk_conv_params* params, const qk_per_channel_quant* quant,
                                   const qk_dims* input_dims, const int8_t* input, const qk_packed_weights* weights,
                                   const int32_t* bias, const qk_dims* output_dims, int8_t* output) {
  const int32_t in_h = input_dims->height, in_w = input_dims->width, in_c = input_dims->channels;
  const int32_t out_h = output_dims->height, out_w = output_dims->width, out_c = output_dims->channels;
  const int32_t row_length = params->kernel_h * params->kernel_w * in_c;
  const int32_t container = qk_weight_container_bits(weights->bits);
  const int pointwise = params->kernel_h == 1 && params->kernel_w == 1; /* then padding is 0 */
  /* The window, and after it one group's worth of padding written once: the
   * patch widens whole groups straight from it. */
  int8_t window[QK_DSP_PATCH_MAX + 16];
  qk_fill_run(window + row_length, (int8_t)(-params->input_offset), 16);
  const qk_output_quant output_quant =
      qk_output_quant_for_layer(bias, quant, out_c, params->output_offset, params->activation);
  qk_patch patch;
  for (int32_t oy = 0; oy < out_h; ++oy) {
    const qk_window_axis wy = qk_window_on_axis(oy, params->stride, params->padding, params->kernel_h, in_h);
    for (int32_t ox = 0; ox < out_w; ++ox) {
      const qk_window_axis wx = qk_window_on_axis(ox, params->stride, params->padding, params->kernel_w, in_w);
      const int8_t* values = window;
      if (pointwise) {
        values = input + (wy.origin * in_w + wx.origin) * in_c;
      } else {
        qk_gather_window(params, input_dims, input, &wy, &wx, window);
      }
      qk_patch_widen(&patch, values, row_length, params->input_offset, !pointwise, container);
      qk_patch_outputs(&patch, weights->data, out_c, &output_quant, output + (oy * out_w + ox) * out_c);
    }
  }
}

qk_status qk_conv2d_s8_dsp(const qk_conv_params* params, const qk_per_channel_quant* quant, const qk_dims* input_dims,
                           const int8_t* input, const qk_packed_weights* weights, const int32_t* bias,
                           const qk_dims* output_dims, int8_t* output) {
  const int32_t container = weights && qk_bits_ok(weights->bits) ? qk_weight_container_bits(weights->bits) : 0;
  if (container != 0 && params && input_dims && params->kernel_h >= 1 && params->kernel_w >= 1 &&
      input_dims->channels >= 1 &&
      (int64_t)params->kernel_h * params->kernel_w * input_dims->channels <= QK_DSP_PATCH_MAX) {
    if (!qk_conv2d_args_ok(params, quant, input_dims, input, weights, output_dims, output)) {
      return QK_ERR_ARGUMENT;
    }
    qk_conv2d_from_patches(params, quant, input_dims, input, weights, bias, output_dims, output);
    return QK_OK;
  }
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
