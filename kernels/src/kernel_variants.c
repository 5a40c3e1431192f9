/* The unsuffixed entry points of kernels.h: each binds, at build time, to its
 * DSP variant when QK_DSP_KERNELS (kernel_variants.h) is 1 and to the
 * reference otherwise. One place for the choice, so that the kernels cannot
 * disagree about it (qk_kernel_variant() in qmodel.c reports it). */
#include "qatlab_kernels/kernel_variants.h"

qk_status qk_dense_s8(const qk_dense_params* params, const qk_per_channel_quant* quant, int32_t input_count,
                      const int8_t* input, const qk_packed_weights* weights, const int32_t* bias, int32_t output_count,
                      int8_t* output) {
#if QK_DSP_KERNELS
  return qk_dense_s8_dsp(params, quant, input_count, input, weights, bias, output_count, output);
#else
  return qk_dense_s8_reference(params, quant, input_count, input, weights, bias, output_count, output);
#endif
}

qk_status qk_conv2d_s8(const qk_conv_params* params, const qk_per_channel_quant* quant, const qk_dims* input_dims,
                       const int8_t* input, const qk_packed_weights* weights, const int32_t* bias,
                       const qk_dims* output_dims, int8_t* output) {
#if QK_DSP_KERNELS
  return qk_conv2d_s8_dsp(params, quant, input_dims, input, weights, bias, output_dims, output);
#else
  return qk_conv2d_s8_reference(params, quant, input_dims, input, weights, bias, output_dims, output);
#endif
}

qk_status qk_depthwise_conv2d_s8(const qk_conv_params* params, const qk_per_channel_quant* quant,
                                 const qk_dims* input_dims, const int8_t* input, const qk_packed_weights* weights,
                                 const int32_t* bias, const qk_dims* output_dims, int8_t* output) {
#if QK_DSP_KERNELS
  return qk_depthwise_conv2d_s8_dsp(params, quant, input_dims, input, weights, bias, output_dims, output);
#else
  return qk_depthwise_conv2d_s8_reference(params, quant, input_dims, input, weights, bias, output_dims, output);
#endif
}

qk_status qk_maxpool_s8(const qk_pool_params* params, const qk_dims* input_dims, const int8_t* input,
                        const qk_dims* output_dims, int8_t* output) {
#if QK_DSP_KERNELS
  return qk_maxpool_s8_dsp(params, input_dims, input, output_dims, output);
#else
  return qk_maxpool_s8_reference(params, input_dims, input, output_dims, output);
#endif
}
