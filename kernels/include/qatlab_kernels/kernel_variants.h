/* Each optimized kernel beside its reference, both always compiled, so that a
 * host test can run the optimized code path (through portable emulations of
 * the DSP intrinsics, see kernels/src/dsp_intrinsics.h) against the
 * reference. Firmware and engine call the unsuffixed names in kernels.h,
 * which the build binds to the DSP variant when QK_DSP_KERNELS (below) is 1
 * and to the reference otherwise. Same contracts as in kernels.h. */
#ifndef QATLAB_KERNELS_KERNEL_VARIANTS_H_
#define QATLAB_KERNELS_KERNEL_VARIANTS_H_

#include "qatlab_kernels/kernels.h"

/* 1 when the unsuffixed dense, conv2d, depthwise conv2d and max pooling kernels are the
 * DSP variants: the core has the DSP extension and the build did not ask for
 * the reference (-DQK_FORCE_REFERENCE=1, e.g. to measure the reference on the
 * same core). */
#if defined(__ARM_FEATURE_DSP) && !(defined(QK_FORCE_REFERENCE) && QK_FORCE_REFERENCE)
#define QK_DSP_KERNELS 1
#else
#define QK_DSP_KERNELS 0
#endif

/* The longest run qk_dot_s8s4_dsp accepts; longer rows use the reference.
 * (Dense inputs and convolution windows of up to 1024 values take the
 * widened-patch path of src/patch_dsp.h instead, for every weight width.) */
#define QK_DSP_MAX_S4_RUN 65535

#ifdef __cplusplus
extern "C" {
#endif

qk_status qk_dense_s8_reference(const qk_dense_params* params, const qk_per_channel_quant* quant, int32_t input_count,
                                const int8_t* input, const qk_packed_weights* weights, const int32_t* bias,
                                int32_t output_count, int8_t* output);
qk_status qk_dense_s8_dsp(const qk_dense_params* params, const qk_per_channel_quant* quant, int32_t input_count,
                          const int8_t* input, const qk_packed_weights* weights, const int32_t* bias,
                          int32_t output_count, int8_t* output);

qk_status qk_conv2d_s8_reference(const qk_conv_params* params, const qk_per_channel_quant* quant,
                                 const qk_dims* input_dims, const int8_t* input, const qk_packed_weights* weights,
                                 const int32_t* bias, const qk_dims* output_dims, int8_t* output);
qk_status qk_conv2d_s8_dsp(const qk_conv_params* params, const qk_per_channel_quant* quant, const qk_dims* input_dims,
                           const int8_t* input, const qk_packed_weights* weights, const int32_t* bias,
                           const qk_dims* output_dims, int8_t* output);

qk_status qk_depthwise_conv2d_s8_reference(const qk_conv_params* params, const qk_per_channel_quant* quant,
                                           const qk_dims* input_dims, const int8_t* input,
                                           const qk_packed_weights* weights, const int32_t* bias,
                                           const qk_dims* output_dims, int8_t* output);
/* Four channels at a time (SXTAB16/SXTB16, SMLABB/SMLATT) for every weight
 * width; 2..4-bit weights with more than 4096 taps take the reference path. */
qk_status qk_depthwise_conv2d_s8_dsp(const qk_conv_params* params, const qk_per_channel_quant* quant,
                                     const qk_dims* input_dims, const int8_t* input, const qk_packed_weights* weights,
                                     const int32_t* bias, const qk_dims* output_dims, int8_t* output);

qk_status qk_maxpool_s8_reference(const qk_pool_params* params, const qk_dims* input_dims, const int8_t* input,
                                  const qk_dims* output_dims, int8_t* output);
/* Four channels per word (SSUB8 and SEL). */
qk_status qk_maxpool_s8_dsp(const qk_pool_params* params, const qk_dims* input_dims, const int8_t* input,
                            const qk_dims* output_dims, int8_t* output);

/* sum over i < count of (input[i] + input_offset) * weights[i], wrapping
 * modulo 2^32: the inner product both DSP kernels are built on (a contiguous
 * run of a conv window row is contiguous in NHWC and in [out][kh][kw][in]). */
int32_t qk_dot_s8_dsp(const int8_t* input, const int8_t* weights, int32_t count, int32_t input_offset);

/* The inner product with 4-bit-container weights (3- and 4-bit values):
 * sum over i < count of (input[i] + input_offset) * w[first + i], where w is
 * the packed row `row` (two weights per byte, the first in the low nibble).
 * Nibbles are widened as 16·w, so the sum is exact only while it fits int32
 * at 16 times its size: REQUIRES count <= QK_DSP_MAX_S4_RUN. */
int32_t qk_dot_s8s4_dsp(const int8_t* input, const uint8_t* row, uint32_t first, int32_t count, int32_t input_offset);

/* Two such inner products over one input (two output channels): the input is
 * widened once for both, which saves a fifth of the instructions per MAC. */
void qk_dot2_s8_dsp(const int8_t* input, const int8_t* weights0, const int8_t* weights1, int32_t count,
                    int32_t input_offset, int32_t* sum0, int32_t* sum1);

#ifdef __cplusplus
}
#endif

#endif /* QATLAB_KERNELS_KERNEL_VARIANTS_H_ */
