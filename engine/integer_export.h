// Export of a quantized Network to the integer model the kernels run
// (engine/integer_model.h): every scale resolved into int32 multipliers and
// shifts, biases into int32, ReLU/ReLU6 into the output clamp, batch norm
// already folded into the weights (docs/quant-spec.md).
#pragma once

#include <string>

#include "engine/integer_model.h"
#include "engine/network.h"
#include "status/status.h"

namespace qatlab {

// M = M0 * 2^(shift - 31) with M0 in [2^30, 2^31) (0 and 0 for M == 0).
// REQUIRES: 0 <= M < 2^31.
void QuantizeMultiplier(double real_multiplier, int32_t* multiplier, int32_t* shift);

// REQUIRES: net->quantized(), activations 8-bit. Errors: FailedPrecondition
// when the network is not quantized for export, InvalidArgument when a
// multiplier does not fit (naming the layer).
StatusOr<IntegerModel> ExportIntegerModel(const Network& net, const std::string& name);

// Quantizes float images in [0, 1] to the model input (input quantizer of
// `net`): q = clamp(round(x / s) + z). The kernels' qk_input_from_f32
// (qatlab_kernels/input_conversion.h), which a firmware calls too.
void QuantizeFloatImage(const float* image, size_t count, float scale, int32_t zero_point, int8_t* out);

}  // namespace qatlab
