/* Max, average and global average pooling on q directly (input and output
 * share scale and zero point). */
#include "argument_checks.h"
#include "qatlab_kernels/kernels.h"

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

qk_status qk_maxpool_s8(const qk_pool_params* params, const qk_dims* input_dims, const int8_t* input,
                        const qk_dims* output_dims, int8_t* output) {
  if (!qk_pool_arguments_ok(params, input_dims, input, output_dims, output)) return QK_ERR_ARGUMENT;
  qk_pool(params, input_dims, input, output_dims, output, 0);
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
