/* Residual add: both inputs rescaled to a common scale with the fixed-point
 * routines, summed, rescaled to the output (docs/quant-spec.md). */
#include "argument_checks.h"
#include "qatlab_kernels/kernels.h"

static int qk_add_shifts_ok(const qk_add_params* params) {
  const int32_t shifts[3] = {params->input1_shift, params->input2_shift, params->output_shift};
  return qk_shifts_ok(shifts, 3);
}

qk_status qk_add_s8(const qk_add_params* params, int32_t count, const int8_t* input1, const int8_t* input2,
                    int8_t* output) {
  if (!params || !input1 || !input2 || !output || count < 1 || !qk_activation_ok(&params->activation) ||
      !qk_input_offset_ok(params->input1_offset) || !qk_input_offset_ok(params->input2_offset) ||
      !qk_output_offset_ok(params->output_offset) || params->left_shift < 0 || params->left_shift > 30 ||
      !qk_add_shifts_ok(params)) {
    return QK_ERR_ARGUMENT;
  }
  for (int32_t i = 0; i < count; ++i) {
    /* (q - z) << left_shift fits int32 only for left_shift <= 22; larger
     * ones saturate rather than overflow. */
    const int64_t unit = (int64_t)1 << params->left_shift;
    const int32_t scaled1 = qk_requantize(qk_saturate_to_s32((input1[i] + params->input1_offset) * unit),
                                          params->input1_multiplier, params->input1_shift);
    const int32_t scaled2 = qk_requantize(qk_saturate_to_s32((input2[i] + params->input2_offset) * unit),
                                          params->input2_multiplier, params->input2_shift);
    const int32_t sum = qk_saturate_to_s32((int64_t)scaled1 + scaled2);
    /* Saturating, as in qk_output_s8: the requantized sum may be INT32_MAX. */
    const int32_t value = qk_saturate_to_s32(
        (int64_t)qk_requantize(sum, params->output_multiplier, params->output_shift) + params->output_offset);
    output[i] = (int8_t)qk_clamp_s32(value, params->activation.min, params->activation.max);
  }
  return QK_OK;
}
