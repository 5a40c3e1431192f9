// The .qmodel as a QDQ ONNX model: QuantizeLinear/DequantizeLinear around
// float operators, per-channel weight scales on axis 0 and int32 biases,
// laid out so that onnxruntime fuses it into integer kernels (Reshape, not
// Flatten, before Gemm). onnx::checker accepts every model it writes. The
// layout and the choices behind it are in docs/export.md ("ONNX (QDQ)").
//
// The model (opset 13, IR version 7):
//   input   "input": float [N, C, H, W], the real input value (pixels / 255
//           for images), quantized by the first node with the .qmodel's
//           input scale and zero point.
//   output  "logits": float [N, classes], the dequantized int8 logits.
// Activations are uint8 (the .qmodel's int8 value + 128, zero point + 128:
// the same real values), weights int8 in NCHW order (the .qmodel's HWC
// weights permuted, dense columns included), biases int32.
#pragma once

#include <string>
#include <string_view>

#include "status/status.h"

namespace qatlab {

// The serialized ModelProto; `model_name` names the graph. Works from the
// .qmodel bytes alone. Errors: InvalidArgument "not a valid .qmodel: <the
// reader's reason>" when `qmodel` does not open (truncated, bad magic, CRC
// mismatch, malformed, ...); InvalidArgument naming the op when ONNX cannot
// hold the model as laid out here (a convolution or pool after a dense op);
// Internal if onnx::checker refuses the result (a bug here).
StatusOr<std::string> QmodelToQdqOnnx(std::string_view qmodel, std::string_view model_name);

}  // namespace qatlab
