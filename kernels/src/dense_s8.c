/* Fully connected, reference variant: one plain loop per output. */
#include "argument_checks.h"
#include "qatlab_kernels/kernel_variants.h"

qk_status qk_dense_s8_reference(const qk_dense_params* params, const qk_per_channel_quant* quant, int32_t input_count,
                                const int8_t* input, const qk_packed_weights* weights, const int32_t* bias,
                                int32_t output_count, int8_t* output) {
  if (!qk_dense_args_ok(params, quant, input_count, input, weights, output_count, output)) {
    return QK_ERR_ARGUMENT;
  }
  const int32_t container = qk_weight_container_bits(weights->bits);
  const uint32_t row_bytes = qk_packed_row_bytes((uint32_t)input_count, weights->bits);
  for (int32_t out = 0; out < output_count; ++out) {
    const uint8_t* row = weights->data + (uint32_t)out * row_bytes;
    uint32_t acc = bias ? (uint32_t)bias[out] : 0u;
    for (int32_t in = 0; in < input_count; ++in) {
      acc += (uint32_t)((input[in] + params->input_offset) * qk_unpack_weight(row, (uint32_t)in, container));
    }
    output[out] = qk_output_s8((int32_t)acc, quant->multiplier[out], quant->shift[out], params->output_offset,
                               &params->activation);
  }
  return QK_OK;
}
