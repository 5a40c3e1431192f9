/* Argument checks shared by the kernels (internal). Each returns nonzero when
 * the arguments are acceptable. */
#ifndef QATLAB_KERNELS_SRC_ARGUMENT_CHECKS_H_
#define QATLAB_KERNELS_SRC_ARGUMENT_CHECKS_H_

#include <stdint.h>

#include "qatlab_kernels/fixed_point.h"
#include "qatlab_kernels/kernels.h"

static inline int qk_activation_ok(const qk_activation* activation) {
  return activation->min >= -128 && activation->min <= activation->max && activation->max <= 127;
}

static inline int qk_input_offset_ok(int32_t input_offset) { return input_offset >= -127 && input_offset <= 128; }

static inline int qk_output_offset_ok(int32_t output_offset) { return output_offset >= -128 && output_offset <= 127; }

static inline int qk_dims_ok(const qk_dims* dims) {
  return dims->height >= 1 && dims->width >= 1 && dims->channels >= 1 &&
         (int64_t)dims->height * dims->width * dims->channels <= INT32_MAX;
}

static inline int qk_bits_ok(int32_t bits) { return bits >= 2 && bits <= 8; }

/* One axis of a window op: 1 <= kernel <= 65535, 0 <= padding < kernel,
 * stride >= 1, the padded input holds a window and
 * out = (in + 2p - k) / s + 1. 32-bit arithmetic only (no libgcc division). */
static inline int qk_window_axis_ok(int32_t in, int32_t kernel, int32_t stride, int32_t padding, int32_t out) {
  if (in < 1 || kernel < 1 || kernel > 65535 || stride < 1 || padding < 0 || padding >= kernel) return 0;
  const uint32_t padded = (uint32_t)in + 2u * (uint32_t)padding;
  if (padded < (uint32_t)kernel) return 0;
  return (uint32_t)out == (padded - (uint32_t)kernel) / (uint32_t)stride + 1u;
}

/* Every shift of `count` channels within QK_MIN_SHIFT..QK_MAX_SHIFT. */
static inline int qk_shifts_ok(const int32_t* shift, int32_t count) {
  for (int32_t i = 0; i < count; ++i) {
    if (shift[i] < QK_MIN_SHIFT || shift[i] > QK_MAX_SHIFT) return 0;
  }
  return 1;
}

static inline int32_t qk_saturate_to_s32(int64_t value) {
  return value > INT32_MAX ? INT32_MAX : (value < INT32_MIN ? INT32_MIN : (int32_t)value);
}

/* qk_requantize for shift <= -2 (right shift 31 - shift >= 33, every layer
 * of a trained model), in 32-bit steps: with t = x·M0 - (x·M0 < 0) and
 * q = t >> (30 - shift) (only the high word of t moves), the value rounded
 * once, halves away from zero, is (q + 1) >> 1, and |q| < 2^30 needs no
 * saturation. Same results as qk_requantize (fixed_point_test.cc checks),
 * a quarter of its instructions on a Cortex-M4. */
static inline int32_t qk_requantize_high_word(int32_t x, int32_t multiplier, int32_t shift) {
  const int64_t product = (int64_t)x * (int64_t)multiplier;
  const int64_t toward_floor = product - (product < 0 ? 1 : 0);
  const int32_t q = (int32_t)((uint64_t)toward_floor >> 32) >> (-2 - shift);
  return (q + 1) >> 1;
}

/* z_out + requant(x) with the 64-bit form, out of line: shifts above -2 are
 * rare (a layer scale near or above 1/4), and inlined into every kernel loop
 * it costs registers the common path needs. The sum saturates: a requantized
 * value near INT32_MAX (a large scale on a valid model) plus the zero point
 * would overflow int32 (found by fuzz/qmodel_fuzzer.cc). */
__attribute__((noinline, cold, unused)) static int32_t qk_requantize_out_of_line(int32_t x, int32_t multiplier,
                                                                                 int32_t shift, int32_t output_offset) {
  return qk_saturate_to_s32((int64_t)qk_requantize(x, multiplier, shift) + output_offset);
}

/* acc -> z_out + requant(acc), clamped. The 32-bit form needs no saturation:
 * its |requant| < 2^29, plus |z_out| <= 128. */
static inline int8_t qk_output_s8(int32_t acc, int32_t multiplier, int32_t shift, int32_t output_offset,
                                  const qk_activation* activation) {
  const int32_t value = shift <= -2 ? qk_requantize_high_word(acc, multiplier, shift) + output_offset
                                    : qk_requantize_out_of_line(acc, multiplier, shift, output_offset);
  return (int8_t)qk_clamp_s32(value, activation->min, activation->max);
}

/* A sliding window along one axis at output index o: tap k reads input
 * origin + k, and the taps [first, last) are those inside the input. */
typedef struct {
  int32_t origin;
  int32_t first;
  int32_t last;
} qk_window_axis;

/* The window of `kernel` taps at output index o on an input axis of `size`. */
static inline qk_window_axis qk_window_on_axis(int32_t o, int32_t stride, int32_t padding, int32_t kernel,
                                               int32_t size) {
  qk_window_axis axis;
  axis.origin = o * stride - padding;
  axis.first = axis.origin < 0 ? -axis.origin : 0;
  axis.last = size - axis.origin < kernel ? size - axis.origin : kernel;
  return axis;
}

/* The arguments of qk_dense_s8 (every variant): pointers present, counts
 * positive, a supported bit width, quantization in range. */
static inline int qk_dense_args_ok(const qk_dense_params* params, const qk_per_channel_quant* quant,
                                   int32_t input_count, const int8_t* input, const qk_packed_weights* weights,
                                   int32_t output_count, const int8_t* output) {
  return params && quant && quant->multiplier && quant->shift && input && weights && weights->data && output &&
         input_count >= 1 && output_count >= 1 && qk_bits_ok(weights->bits) && qk_activation_ok(&params->activation) &&
         qk_input_offset_ok(params->input_offset) && qk_output_offset_ok(params->output_offset) &&
         qk_shifts_ok(quant->shift, output_count);
}

/* The arguments of qk_conv2d_s8 (every variant): pointers present, shapes
 * that chain with the window, a supported bit width, quantization in range. */
static inline int qk_conv2d_args_ok(const qk_conv_params* params, const qk_per_channel_quant* quant,
                                    const qk_dims* input_dims, const int8_t* input, const qk_packed_weights* weights,
                                    const qk_dims* output_dims, const int8_t* output) {
  return params && quant && quant->multiplier && quant->shift && input_dims && input && weights && weights->data &&
         output_dims && output && qk_dims_ok(input_dims) && qk_dims_ok(output_dims) && qk_bits_ok(weights->bits) &&
         qk_activation_ok(&params->activation) && qk_input_offset_ok(params->input_offset) &&
         qk_output_offset_ok(params->output_offset) &&
         qk_window_axis_ok(input_dims->height, params->kernel_h, params->stride, params->padding,
                           output_dims->height) &&
         qk_window_axis_ok(input_dims->width, params->kernel_w, params->stride, params->padding, output_dims->width) &&
         qk_shifts_ok(quant->shift, output_dims->channels);
}

/* The arguments of qk_depthwise_conv2d_s8 (every variant): those of a
 * convolution, with channel multiplier 1. */
static inline int qk_depthwise_conv2d_args_ok(const qk_conv_params* params, const qk_per_channel_quant* quant,
                                              const qk_dims* input_dims, const int8_t* input,
                                              const qk_packed_weights* weights, const qk_dims* output_dims,
                                              const int8_t* output) {
  return qk_conv2d_args_ok(params, quant, input_dims, input, weights, output_dims, output) &&
         input_dims->channels == output_dims->channels;
}

#endif /* QATLAB_KERNELS_SRC_ARGUMENT_CHECKS_H_ */
