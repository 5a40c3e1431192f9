// The comparison the ONNX export tests share: a .qmodel exported to QDQ ONNX,
// checked by onnx::checker, run in onnxruntime-node (all optimizations) on a
// batch of images, and compared with the integer kernels on the same images.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace qatlab {

struct OnnxComparison {
  int images = 0;
  int same_class = 0;  // onnxruntime's argmax is the kernels'
  int logits = 0;
  int same_logit = 0;      // onnxruntime's logit, requantized, equals the kernels' int8 logit
  int within_one_lsb = 0;  // ... or is one LSB off
  int max_lsb_difference = 0;
  // Images whose top int8 logit from the kernels leads the runner-up by more
  // than 4 LSB (so logits a couple of LSB off cannot change the class), and
  // of those the ones onnxruntime classifies the same.
  int decisive = 0;
  int decisive_same_class = 0;
  std::map<std::string, int> op_counts;  // the graph onnxruntime runs, by op type

  double class_agreement_percent() const { return images == 0 ? 0 : 100.0 * same_class / images; }
  // "QGemm x3, QuantizeLinear x1, ..."
  std::string OpList() const;
  // The optimized graph's operators of onnxruntime's integer kernels, and
  // those of float matrix products (Conv, Gemm, MatMul and their fused forms).
  int IntegerOps() const;
  std::vector<std::string> FloatMatrixOps() const;
};

// Exports `qmodel` with ExportModel(kOnnx, name), checks it and runs it on
// `count` images of `pixels` (each the model's H·W·C bytes, HWC, 0..255; the
// ONNX input is pixels / 255 in NCHW) in one onnxruntime run; fills *result.
// Problems are gtest failures (use ASSERT_NO_FATAL_FAILURE).
void CompareOnnxWithKernels(const std::vector<uint8_t>& qmodel, const std::string& name, const uint8_t* pixels,
                            int count, OnnxComparison* result);

}  // namespace qatlab
