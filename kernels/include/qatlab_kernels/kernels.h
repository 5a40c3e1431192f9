/* The integer kernels: int8 activations, 2..8-bit packed weights, int32 bias,
 * per-channel fixed-point requantization (docs/quant-spec.md). Portable C11, no
 * allocation, no floating point; no kernel needs a scratch buffer.
 *
 * Conventions (shared with engine/integer_model.h and docs/model-format.md):
 *   activations  int8 NHWC with N = 1: element (y, x, c) at (y * W + x) * C + c.
 *   dense        weights [out][in]                 one packed row per output.
 *   conv2d       weights [out][kh][kw][in]         one packed row per output.
 *   depthwise    weights [kh][kw][c], multiplier 1 one packed row per tap (ky, kx).
 *   Padding is symmetric; a padded input is the input zero point, i.e. it adds
 *   nothing to the accumulator, so the kernels skip it.
 *
 * Argument order follows CMSIS-NN: op params, quant params, then (dims, data)
 * pairs, output last. Every kernel checks its arguments and returns
 * QK_ERR_ARGUMENT (writing nothing) when they do not fit together; input and
 * output must not overlap.
 *
 * Accumulators wrap modulo 2^32 (they cannot overflow for reduction depths
 * below 65,536); every variant of a kernel therefore gives the same bits. */
#ifndef QATLAB_KERNELS_KERNELS_H_
#define QATLAB_KERNELS_KERNELS_H_

#include <stdint.h>

#include "qatlab_kernels/qmodel.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Packed weights ----------------------------------------------------
 * A value of b bits (2..8, narrow symmetric range ±(2^(b-1) - 1)) is stored in
 * a container of 2 bits (b = 2), 4 bits (b = 3..4) or 8 bits (b = 5..8), two's
 * complement, the first element of a row in the least significant bits of the
 * row's first byte. Each row starts on a whole byte. */

static inline int32_t qk_weight_container_bits(int32_t bits) { return bits <= 2 ? 2 : (bits <= 4 ? 4 : 8); }

/* Bytes of one packed row of `count` weights of `bits` bits. */
static inline uint32_t qk_packed_row_bytes(uint32_t count, int32_t bits) {
  return (uint32_t)(((uint64_t)count * (uint32_t)qk_weight_container_bits(bits) + 7u) / 8u);
}

/* The index-th weight of a packed row. `container_bits` is 2, 4 or 8. */
static inline int32_t qk_unpack_weight(const uint8_t* row, uint32_t index, int32_t container_bits) {
  if (container_bits == 8) return (int8_t)row[index];
  if (container_bits == 4) {
    const int32_t nibble = (row[index >> 1] >> ((index & 1u) * 4u)) & 0xF;
    return (nibble ^ 0x8) - 0x8;
  }
  const int32_t crumb = (row[index >> 2] >> ((index & 3u) * 2u)) & 0x3;
  return (crumb ^ 0x2) - 0x2;
}

/* Stores `value` as the index-th weight of a packed row; other bits of the
 * byte are kept. REQUIRES: value fits container_bits as two's complement. */
static inline void qk_pack_weight(uint8_t* row, uint32_t index, int32_t container_bits, int32_t value) {
  if (container_bits == 8) {
    row[index] = (uint8_t)(value & 0xFF);
  } else if (container_bits == 4) {
    const uint32_t bit = (index & 1u) * 4u;
    row[index >> 1] = (uint8_t)((row[index >> 1] & ~(0xFu << bit)) | (((uint32_t)value & 0xFu) << bit));
  } else {
    const uint32_t bit = (index & 3u) * 2u;
    row[index >> 2] = (uint8_t)((row[index >> 2] & ~(0x3u << bit)) | (((uint32_t)value & 0x3u) << bit));
  }
}

/* ---- Parameters --------------------------------------------------------- */

typedef struct {
  int32_t height;
  int32_t width;
  int32_t channels;
} qk_dims;

/* Output clamp: fused ReLU / ReLU6 or the plain int8 range.
 * REQUIRES: -128 <= min <= max <= 127. */
typedef struct {
  int32_t min;
  int32_t max;
} qk_activation;

/* Packed weights as stored in a .qmodel. */
typedef struct {
  const uint8_t* data;
  int32_t bits; /* 2..8 */
} qk_packed_weights;

/* One Q0.31 multiplier and shift per output channel. */
typedef struct {
  const int32_t* multiplier;
  const int32_t* shift; /* QK_MIN_SHIFT..QK_MAX_SHIFT */
} qk_per_channel_quant;

typedef struct {
  int32_t input_offset;  /* -z_in, in -127..128 */
  int32_t output_offset; /* z_out, in -128..127 */
  qk_activation activation;
} qk_dense_params;

/* For conv2d and depthwise conv2d. Output size per axis is
 * (in + 2 * padding - kernel) / stride + 1. */
typedef struct {
  int32_t input_offset;  /* -z_in, in -127..128 */
  int32_t output_offset; /* z_out, in -128..127 */
  int32_t kernel_h;
  int32_t kernel_w;
  int32_t stride;
  int32_t padding; /* 0 <= padding < kernel */
  qk_activation activation;
} qk_conv_params;

/* Pools work on q directly: input and output share scale and zero point.
 * Padded positions are left out of the window (of the maximum, and of both
 * the sum and the divisor of the average), as TensorFlow Lite does. */
typedef struct {
  int32_t kernel_h;
  int32_t kernel_w;
  int32_t stride;
  int32_t padding; /* 0 <= padding < kernel */
  qk_activation activation;
} qk_pool_params;

/* out = z_out + requant(a + b, output) with
 * a = requant((q1 - z1) << left_shift, input1), b likewise; a + b saturates. */
typedef struct {
  int32_t input1_offset; /* -z1 */
  int32_t input2_offset; /* -z2 */
  int32_t left_shift;    /* 0..30; 20 in every exported model */
  int32_t input1_multiplier;
  int32_t input1_shift;
  int32_t input2_multiplier;
  int32_t input2_shift;
  int32_t output_multiplier;
  int32_t output_shift;
  int32_t output_offset; /* z_out */
  qk_activation activation;
} qk_add_params;

/* ---- Kernels (the build picks the reference or the DSP variant) ---------- */

/* in: (input_count) int8; weights: output_count packed rows of input_count;
 * bias: (output_count) int32 or NULL; out: (output_count) int8. */
qk_status qk_dense_s8(const qk_dense_params* params, const qk_per_channel_quant* quant, int32_t input_count,
                      const int8_t* input, const qk_packed_weights* weights, const int32_t* bias, int32_t output_count,
                      int8_t* output);

/* in: (H, W, C_in); weights: C_out packed rows of kh*kw*C_in;
 * bias: (C_out) or NULL; out: (H_out, W_out, C_out). */
qk_status qk_conv2d_s8(const qk_conv_params* params, const qk_per_channel_quant* quant, const qk_dims* input_dims,
                       const int8_t* input, const qk_packed_weights* weights, const int32_t* bias,
                       const qk_dims* output_dims, int8_t* output);

/* in: (H, W, C); weights: kh*kw packed rows of C; bias: (C) or NULL;
 * out: (H_out, W_out, C). */
qk_status qk_depthwise_conv2d_s8(const qk_conv_params* params, const qk_per_channel_quant* quant,
                                 const qk_dims* input_dims, const int8_t* input, const qk_packed_weights* weights,
                                 const int32_t* bias, const qk_dims* output_dims, int8_t* output);

qk_status qk_maxpool_s8(const qk_pool_params* params, const qk_dims* input_dims, const int8_t* input,
                        const qk_dims* output_dims, int8_t* output);

qk_status qk_avgpool_s8(const qk_pool_params* params, const qk_dims* input_dims, const int8_t* input,
                        const qk_dims* output_dims, int8_t* output);

/* in: (H, W, C); out: (C), the rounded mean over H*W. */
qk_status qk_global_avgpool_s8(const qk_activation* activation, const qk_dims* input_dims, const int8_t* input,
                               int8_t* output);

/* Element-wise over `count` values. */
qk_status qk_add_s8(const qk_add_params* params, int32_t count, const int8_t* input1, const int8_t* input2,
                    int8_t* output);

#ifdef __cplusplus
}
#endif

#endif /* QATLAB_KERNELS_KERNELS_H_ */
