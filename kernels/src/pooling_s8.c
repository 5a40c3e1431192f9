/* Max, average and global average pooling on q directly (input and output
 * share scale and zero point). */
#include <string.h>

#include "argument_checks.h"
#include "dsp_intrinsics.h"
#include "qatlab_kernels/kernel_variants.h"

/* Keeps every window sum within int32: 2^23 values of magnitude <= 128. */
#define QK_MAX_POOL_WINDOW (1 << 23)

static int qk_pool_arguments_ok(const qk_pool_params* params, const qk_dims* input_dims, const int8_t* input,
                                const qk_dims* output_dims, const int8_t* output) {
  return params && input_dims && input && output_dims && output && qk_dims_ok(input_dims) && qk_dims_ok(output_dims) &&
         input_dims->channels == output_dims->channels && qk_activation_ok(&params->activation) &&
         (int64_t)params->kernel_h * params->kernel_w <= QK_MAX_POOL_WINDOW &&
         qk_window_axis_ok(input_dims->height, params->kernel_h, params->stride, params->padding,
                           output_dims->height) &&
         qk_window_axis_ok(input_dims->width, params->kernel_w, params->stride, params->padding, output_dims->width);
}

/* Shared walk over output positions; `average` selects the reduction. */
static void qk_pool(const qk_pool_params* params, const qk_dims* input_dims, const int8_t* input,
                    const qk_dims* output_dims, int8_t* output, int average) {
  const int32_t in_h = input_dims->height, in_w = input_dims->width, channels = input_dims->channels;
  for (int32_t oy = 0; oy < output_dims->height; ++oy) {
    const qk_window_axis wy = qk_window_on_axis(oy, params->stride, params->padding, params->kernel_h, in_h);
    for (int32_t ox = 0; ox < output_dims->width; ++ox) {
      const qk_window_axis wx = qk_window_on_axis(ox, params->stride, params->padding, params->kernel_w, in_w);
      const int32_t window = (wy.last - wy.first) * (wx.last - wx.first);
      int8_t* out = output + (oy * output_dims->width + ox) * channels;
      for (int32_t c = 0; c < channels; ++c) {
        int32_t sum = 0;
        int32_t maximum = -128;
        for (int32_t ky = wy.first; ky < wy.last; ++ky) {
          for (int32_t kx = wx.first; kx < wx.last; ++kx) {
            const int32_t value = input[((wy.origin + ky) * in_w + wx.origin + kx) * channels + c];
            sum += value;
            if (value > maximum) maximum = value;
          }
        }
        const int32_t result = average ? qk_divide_round_half_away(sum, window) : maximum;
        out[c] = (int8_t)qk_clamp_s32(result, params->activation.min, params->activation.max);
      }
    }
  }
}

qk_status qk_maxpool_s8_reference(const qk_pool_params* params, const qk_dims* input_dims, const int8_t* input,
                                  const qk_dims* output_dims, int8_t* output) {
  if (!qk_pool_arguments_ok(params, input_dims, input, output_dims, output)) return QK_ERR_ARGUMENT;
  qk_pool(params, input_dims, input, output_dims, output, 0);
  return QK_OK;
}

/* Four channels per word: the window's bytewise maximum (SSUB8, SEL), then
 * the activation clamp the same way; the last channels % 4 channels one by
 * one. A window always holds at least one valid tap (padding < kernel). */
qk_status qk_maxpool_s8_dsp(const qk_pool_params* params, const qk_dims* input_dims, const int8_t* input,
                            const qk_dims* output_dims, int8_t* output) {
  if (!qk_pool_arguments_ok(params, input_dims, input, output_dims, output)) return QK_ERR_ARGUMENT;
  const int32_t in_h = input_dims->height, in_w = input_dims->width, channels = input_dims->channels;
  const int32_t vector_channels = channels & ~3;
  const int32_t act_min = params->activation.min, act_max = params->activation.max;
  const uint32_t min_word = 0x01010101u * (uint8_t)act_min, max_word = 0x01010101u * (uint8_t)act_max;
  for (int32_t oy = 0; oy < output_dims->height; ++oy) {
    const qk_window_axis wy = qk_window_on_axis(oy, params->stride, params->padding, params->kernel_h, in_h);
    for (int32_t ox = 0; ox < output_dims->width; ++ox) {
      const qk_window_axis wx = qk_window_on_axis(ox, params->stride, params->padding, params->kernel_w, in_w);
      const int8_t* window = input + ((wy.origin + wy.first) * in_w + wx.origin + wx.first) * channels;
      const int32_t rows = wy.last - wy.first, taps = wx.last - wx.first;
      int8_t* out = output + (oy * output_dims->width + ox) * channels;
      int32_t c = 0;
      for (; c < vector_channels; c += 4) {
        uint32_t maximum = 0x80808080u; /* -128 in every lane */
        const int8_t* row = window + c;
        for (int32_t ky = 0; ky < rows; ++ky, row += in_w * channels) {
          const int8_t* p = row;
          for (int32_t kx = 0; kx < taps; ++kx, p += channels) {
            uint32_t word;
            memcpy(&word, p, 4);
            maximum = qk_max_s8x4(maximum, word);
          }
        }
        const uint32_t clamped = qk_min_s8x4(qk_max_s8x4(maximum, min_word), max_word);
        memcpy(out + c, &clamped, 4);
      }
      for (; c < channels; ++c) {
        int32_t maximum = -128;
        const int8_t* row = window + c;
        for (int32_t ky = 0; ky < rows; ++ky, row += in_w * channels) {
          for (int32_t kx = 0; kx < taps; ++kx) {
            if (row[kx * channels] > maximum) maximum = row[kx * channels];
          }
        }
        out[c] = (int8_t)qk_clamp_s32(maximum, act_min, act_max);
      }
    }
  }
  return QK_OK;
}

qk_status qk_avgpool_s8(const qk_pool_params* params, const qk_dims* input_dims, const int8_t* input,
                        const qk_dims* output_dims, int8_t* output) {
  if (!qk_pool_arguments_ok(params, input_dims, input, output_dims, output)) return QK_ERR_ARGUMENT;
  qk_pool(params, input_dims, input, output_dims, output, 1);
  return QK_OK;
}

qk_status qk_global_avgpool_s8(const qk_activation* activation, const qk_dims* input_dims, const int8_t* input,
                               int8_t* output) {
  if (!activation || !input_dims || !input || !output || !qk_dims_ok(input_dims) || !qk_activation_ok(activation) ||
      (int64_t)input_dims->height * input_dims->width > QK_MAX_POOL_WINDOW) {
    return QK_ERR_ARGUMENT;
  }
  const int32_t positions = input_dims->height * input_dims->width;
  const int32_t channels = input_dims->channels;
  for (int32_t c = 0; c < channels; ++c) {
    int32_t sum = 0;
    for (int32_t p = 0; p < positions; ++p) sum += input[p * channels + c];
    output[c] = (int8_t)qk_clamp_s32(qk_divide_round_half_away(sum, positions), activation->min, activation->max);
  }
  return QK_OK;
}
