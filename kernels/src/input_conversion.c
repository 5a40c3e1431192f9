/* The input conversion (qatlab_kernels/input_conversion.h). Both functions
 * reproduce, operation for operation, what the engine computed before this
 * file existed (engine/integer_runner.cc, engine/integer_export.cc), so that
 * no stored accuracy and no .qmodel byte moved when the engine switched to
 * them. No libm: the rounding is spelled out so a firmware links without it. */
#include "qatlab_kernels/input_conversion.h"

#include <string.h>

/* Beyond this magnitude a rounded value plus any int8 zero point is outside
 * -128..127 whichever way it rounds, so the result is a clamp; below it the
 * value converts to int32 safely. */
#define QK_INPUT_SATURATION 512

static int8_t qk_clamp_to_s8(int32_t value) { return (int8_t)(value < -128 ? -128 : (value > 127 ? 127 : value)); }

/* nearbyint(v) under the default rounding mode (ties to even) plus the zero
 * point, clamped; a NaN clamps to -128 as fmax(-128, NaN) does. */
static int8_t qk_round_half_even_s8(double v, int32_t zero_point) {
  if (v != v) return -128;
  if (v >= QK_INPUT_SATURATION) return 127;
  if (v <= -QK_INPUT_SATURATION) return -128;
  int32_t whole = (int32_t)v;                /* toward zero */
  if ((double)whole > v) --whole;            /* floor */
  const double fraction = v - (double)whole; /* exact: |v| < 2^9 */
  if (fraction > 0.5 || (fraction == 0.5 && (whole & 1) != 0)) ++whole;
  return qk_clamp_to_s8(whole + zero_point);
}

void qk_input_from_u8(const uint8_t* pixels, uint32_t count, float scale, int32_t zero_point, int8_t* out) {
  if (scale == 1.0f / 255.0f && zero_point == -128) {
    /* The common MNIST input: exact in integers, no float rounding doubts. */
    for (uint32_t i = 0; i < count; ++i) out[i] = (int8_t)((int32_t)pixels[i] - 128);
    return;
  }
  for (uint32_t i = 0; i < count; ++i) {
    out[i] = qk_round_half_even_s8((double)pixels[i] / 255.0 / (double)scale, zero_point);
  }
}

void qk_input_from_f32(const float* values, uint32_t count, float scale, int32_t zero_point, int8_t* out) {
  for (uint32_t i = 0; i < count; ++i) {
    const float v = values[i] / scale;
    if (v != v) {
      out[i] = qk_clamp_to_s8(zero_point);
    } else if (v >= (float)QK_INPUT_SATURATION) {
      out[i] = 127;
    } else if (v <= -(float)QK_INPUT_SATURATION) {
      out[i] = -128;
    } else {
      /* Round half away from zero as the engine's RoundHalfAway does: the
       * addition happens in float, then truncation. */
      const float rounded = (float)(int32_t)(v + (v >= 0.0f ? 0.5f : -0.5f));
      const float q = rounded + (float)zero_point;
      out[i] = (int8_t)(q < -128.0f ? -128 : (q > 127.0f ? 127 : (int32_t)q));
    }
  }
}

float qk_model_input_scale(const qk_model* model) {
  float scale;
  memcpy(&scale, &model->input_scale_bits, sizeof scale);
  return scale;
}

void qk_model_input_from_u8(const qk_model* model, const uint8_t* pixels, int8_t* input) {
  qk_input_from_u8(pixels, model->input_bytes, qk_model_input_scale(model), model->input_zero_point, input);
}

void qk_model_input_from_f32(const qk_model* model, const float* values, int8_t* input) {
  qk_input_from_f32(values, model->input_bytes, qk_model_input_scale(model), model->input_zero_point, input);
}
