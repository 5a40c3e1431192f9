/* Depthwise 2-D convolution (channel multiplier 1), reference variant. */
#include "argument_checks.h"
#include "qatlab_kernels/kernel_variants.h"

qk_status qk_depthwise_conv2d_s8_reference(const qk_conv_params* params, const qk_per_channel_quant* quant,
                                           const qk_dims* input_dims, const int8_t* input,
                                           const qk_packed_weights* weights, const int32_t* bias,
                                           const qk_dims* output_dims, int8_t* output) {
  if (!qk_depthwise_conv2d_args_ok(params, quant, input_dims, input, weights, output_dims, output)) {
    return QK_ERR_ARGUMENT;
  }
  const int32_t in_h = input_dims->height, in_w = input_dims->width, channels = input_dims->channels;
  const int32_t out_h = output_dims->height, out_w = output_dims->width;
  const int32_t container = qk_weight_container_bits(weights->bits);
  const uint32_t row_bytes = qk_packed_row_bytes((uint32_t)channels, weights->bits);
  for (int32_t oy = 0; oy < out_h; ++oy) {
    const qk_window_axis wy = qk_window_on_axis(oy, params->stride, params->padding, params->kernel_h, in_h);
    for (int32_t ox = 0; ox < out_w; ++ox) {
      const qk_window_axis wx = qk_window_on_axis(ox, params->stride, params->padding, params->kernel_w, in_w);
      int8_t* out = output + (oy * out_w + ox) * channels;
      for (int32_t c = 0; c < channels; ++c) {
        uint32_t acc = bias ? (uint32_t)bias[c] : 0u;
        for (int32_t ky = wy.first; ky < wy.last; ++ky) {
          for (int32_t kx = wx.first; kx < wx.last; ++kx) {
            const int8_t value = input[((wy.origin + ky) * in_w + wx.origin + kx) * channels + c];
            const uint8_t* row = weights->data + (uint32_t)(ky * params->kernel_w + kx) * row_bytes;
            acc += (uint32_t)((value + params->input_offset) * qk_unpack_weight(row, (uint32_t)c, container));
          }
        }
        out[c] = qk_output_s8((int32_t)acc, quant->multiplier[c], quant->shift[c], params->output_offset,
                              &params->activation);
      }
    }
  }
  return QK_OK;
}
