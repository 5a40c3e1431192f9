// The .qmodel as a QDQ ONNX model: QuantizeLinear/DequantizeLinear around
// float operators, per-channel weight scales on axis 0 and int32 biases,
// laid out so that onnxruntime fuses it into integer kernels (Reshape, not
// Flatten, before Gemm). onnx::checker accepts every model it writes.
#pragma once

#include <string>
#include <string_view>

#include "status/status.h"

namespace qatlab {

// The serialized ModelProto. Errors: InvalidArgument when `qmodel` does not
// open (the reader's reason).
StatusOr<std::string> QmodelToQdqOnnx(std::string_view qmodel, std::string_view model_name);

}  // namespace qatlab
