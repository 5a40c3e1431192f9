/* Fully connected, Cortex-M DSP variant. Up to QK_DSP_PATCH_MAX inputs, the
 * input is widened once into a patch (patch_dsp.h) that serves every output
 * row, two rows per pass, for every weight width. Longer inputs: 8-bit
 * containers two rows per pass with qk_dot2_s8_dsp, 4-bit containers (3- and
 * 4-bit weights) qk_dot_s8s4_dsp, 2-bit weights the reference path. */
#include "argument_checks.h"
#include "patch_dsp.h"
#include "qatlab_kernels/kernel_variants.h"

qk_status qk_dense_s8_dsp(const qk_dense_params* params, const qk_per_channel_quant* quant, int32_t input_count,
                          const int8_t* input, const qk_packed_weights* weights, const int32_t* bias,
                          int32_t output_count, int8_t* output) {
  const int32_t container = weights && qk_bits_ok(weights->bits) ? qk_weight_container_bits(weights->bits) : 0;
  if (container != 0 && input_count >= 1 && input_count <= QK_DSP_PATCH_MAX) {
    if (!qk_dense_args_ok(params, quant, input_count, input, weights, output_count, output)) {
      return QK_ERR_ARGUMENT;
    }
    qk_patch patch;
    qk_patch_widen(&patch, input, input_count, params->input_offset, 0, container);
    const qk_output_quant output_quant =
        qk_output_quant_for_layer(bias, quant, output_count, params->output_offset, params->activation);
    qk_patch_outputs(&patch, weights->data, output_count, &output_quant, output);
    return QK_OK;
  }
  if (container != 8 && !(container == 4 && input_count <= QK_DSP_MAX_S4_RUN)) {
    return qk_dense_s8_reference(params, quant, input_count, input, weights, bias, output_count, output);
  }
  if (!qk_dense_args_ok(params, quant, input_count, input, weights, output_count, output)) {
    return QK_ERR_ARGUMENT;
  }
  if (container == 4) {
    const uint32_t row_bytes = qk_packed_row_bytes((uint32_t)input_count, weights->bits);
    for (int32_t out = 0; out < output_count; ++out) {
      const uint8_t* row = weights->data + (uint32_t)out * row_bytes;
      const uint32_t dot = (uint32_t)qk_dot_s8s4_dsp(input, row, 0u, input_count, params->input_offset);
      const uint32_t acc = (bias ? (uint32_t)bias[out] : 0u) + dot;
      output[out] = qk_output_s8((int32_t)acc, quant->multiplier[out], quant->shift[out], params->output_offset,
                                 &params->activation);
    }
    return QK_OK;
  }
  const int8_t* rows = (const int8_t*)weights->data;
  int32_t out = 0;
  for (; out + 2 <= output_count; out += 2) {
    int32_t dot0, dot1;
    qk_dot2_s8_dsp(input, rows + out * input_count, rows + (out + 1) * input_count, input_count, params->input_offset,
                   &dot0, &dot1);
    const uint32_t acc0 = (bias ? (uint32_t)bias[out] : 0u) + (uint32_t)dot0;
    const uint32_t acc1 = (bias ? (uint32_t)bias[out + 1] : 0u) + (uint32_t)dot1;
    output[out] = qk_output_s8((int32_t)acc0, quant->multiplier[out], quant->shift[out], params->output_offset,
                               &params->activation);
    output[out + 1] = qk_output_s8((int32_t)acc1, quant->multiplier[out + 1], quant->shift[out + 1],
                                   params->output_offset, &params->activation);
  }
  if (out < output_count) {
    const uint32_t dot = (uint32_t)qk_dot_s8_dsp(input, rows + out * input_count, input_count, params->input_offset);
    const uint32_t acc = (bias ? (uint32_t)bias[out] : 0u) + dot;
    output[out] = qk_output_s8((int32_t)acc, quant->multiplier[out], quant->shift[out], params->output_offset,
                               &params->activation);
  }
  return QK_OK;
}
