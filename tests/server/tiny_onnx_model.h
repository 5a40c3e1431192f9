// Small float ONNX models built in the tests with Debian's ONNX classes, for
// the paths that carry a model through the service (upload, submission, the
// worker's fetch). What the importer does with every supported operator is
// tested beside the importer; these only need to be models it accepts.
#pragma once

#include <string>

namespace qatlab::testing {

// Flatten -> Gemm (transB = 1, as torch.onnx exports nn.Linear), opset 13:
// one NCHW input "input" [1, channels, height, width], one output "logits"
// [1, classes]. Weights are a fixed function of their index, so the same
// arguments give the same bytes.
std::string TinyOnnxLinearModel(int classes = 10, int height = 28, int width = 28, int channels = 1);

}  // namespace qatlab::testing
