// The second step of an import: a checked ONNX graph (onnx_model_reader.h)
// to the engine's chain of layers and their weights.
//
// The engine runs its layers in one chain (layer i reads layer i - 1's
// output) where only an add reaches back to an earlier tensor, and it fuses
// batchnorm and relu/relu6 into the layer before them. So the translation
// walks the nodes in their (topological) order and keeps, for every tensor
// the engine computes, which engine activation holds it and in what layout:
// ONNX is NCHW, the engine HWC. Convolution weights are permuted from OIHW,
// and a Flatten/Reshape of an NCHW tensor records the order its features
// take (CHW) so the dense layer after it gets its weight columns permuted to
// the engine's HWC order.
#pragma once

#include "model_import/onnx_import.h"
#include "model_import/onnx_model_reader.h"
#include "status/status.h"

namespace qatlab {

// Errors: InvalidArgument naming the node (index, name when it has one, op
// type) and what about it the engine cannot represent; or the input or
// output when they are what is wrong (a dynamic input shape, more than one
// input or output).
StatusOr<ImportedModel> TranslateOnnxGraph(const CheckedOnnxModel& model);

}  // namespace qatlab
