/* Raw inputs to a model's int8 input: 8-bit pixels or float features,
 * quantized with the input tensor's scale and zero point. The one
 * implementation of the conversion: the host engine calls these too, so a
 * firmware that converts its sensor data here feeds the model exactly what
 * qatlab fed it when it measured the model's accuracy.
 *
 * Unlike the kernels, these use floating point (the scale is a float): on a
 * core without an FPU they pull in the compiler's soft-float helpers, and on
 * every core they need IEEE-754 arithmetic as C defines it (no -ffast-math).
 * For pixels, qk_input_from_u8 into a 256-entry table once, then a lookup per
 * pixel, avoids the arithmetic in a loop. */
#ifndef QATLAB_KERNELS_INPUT_CONVERSION_H_
#define QATLAB_KERNELS_INPUT_CONVERSION_H_

#include <stdint.h>

#include "qatlab_kernels/qmodel.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Pixels to int8, the real value of a pixel being pixel / 255:
 *   q = clamp(round_half_even(pixel / 255 / scale) + zero_point, -128, 127),
 * computed in double. For scale 1/255 and zero point -128 (the MNIST input)
 * this is exactly pixel - 128.
 * REQUIRES: scale > 0, -128 <= zero_point <= 127; `out` holds `count` values
 * (it may be `pixels` reinterpreted: each value is read before it is
 * written). */
void qk_input_from_u8(const uint8_t* pixels, uint32_t count, float scale, int32_t zero_point, int8_t* out);

/* Float features (for images: values in [0, 1]) to int8, in float:
 *   q = clamp(round_half_away(value / scale) + zero_point, -128, 127).
 * A NaN becomes the zero point.
 * REQUIRES: as qk_input_from_u8. */
void qk_input_from_f32(const float* values, uint32_t count, float scale, int32_t zero_point, int8_t* out);

/* The input scale of an opened model (the header keeps its IEEE-754 bits). */
float qk_model_input_scale(const qk_model* model);

/* qk_input_from_u8 / qk_input_from_f32 with the model's input scale and zero
 * point over its whole input (model->input_bytes values). */
void qk_model_input_from_u8(const qk_model* model, const uint8_t* pixels, int8_t* input);
void qk_model_input_from_f32(const qk_model* model, const float* values, int8_t* input);

#ifdef __cplusplus
}
#endif

#endif /* QATLAB_KERNELS_INPUT_CONVERSION_H_ */
