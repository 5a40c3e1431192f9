/* 2-D convolution, reference variant: direct loops over the window. */
#include "argument_checks.h"
#include "qatlab_kernels/kernel_variants.h"

qk_status qk_conv2d_s8_reference(const qk_conv_params* params, const qk_per_channel_quant* quant,
                                 const qk_dims* input_dims, const int8_t* input, const qk_packed_weights* weights,
                                 const int32_t* bias, const qk_dims* output_dims, int8_t* output) {
  if (!qk_conv2d_args_ok(params, quant, input_dims, input, weights, output_dims, output)) {
    return QK_ERR_ARGUMENT;
  }
  const int32_t in_h = input_dims->height, in_w = input_dims->width, in_c = input_dims->channels;
  const int32_t out_h = output_dims->height, out_w = output_dims->width, out_c = output_dims->channels;
  const int32_t container = qk_weight_container_bits(weights->bits);
  const uint32_t row_bytes = qk_packed_row_bytes((uint32_t)(params->kernel_h * params->kernel_w * in_c), weights->bits);
  for (int32_t oy = 0; oy < out_h; ++oy) {
    const int32_t origin_y = oy * params->stride - params->padding;
    for (int32_t ox = 0; ox < out_w; ++ox) {
      const int32_t origin_x = ox * params->stride - params->padding;
      for (int32_t oc = 0; oc < out_c; ++oc) {
        const uint8_t* row = weights->data + (uint32_t)oc * row_bytes;
        uint32_t acc = bias ? (uint32_t)bias[oc] : 0u;
        for (int32_t ky = 0; ky < params->kernel_h; ++ky) {
          const int32_t iy = origin_y + ky;
          if (iy < 0 || iy >= in_h) continue;
          for (int32_t kx = 0; kx < params->kernel_w; ++kx) {
            const int32_t ix = origin_x + kx;
            if (ix < 0 || ix >= in_w) continue;
            const int8_t* pixel = input + (iy * in_w + ix) * in_c;
            const uint32_t tap = (uint32_t)((ky * params->kernel_w + kx) * in_c);
            for (int32_t ic = 0; ic < in_c; ++ic) {
              acc +=
                  (uint32_t)((pixel[ic] + params->input_offset) * qk_unpack_weight(row, tap + (uint32_t)ic, container));
            }
          }
        }
        output[(oy * out_w + ox) * out_c + oc] = qk_output_s8((int32_t)acc, quant->multiplier[oc], quant->shift[oc],
                                                              params->output_offset, &params->activation);
      }
    }
  }
  return QK_OK;
}
