// onnxruntime, the reference runtime the ONNX import and export are checked
// against, run as a child process: the npm package onnxruntime-node (its CPU
// binaries ship inside the package; installed once with --ignore-scripts into
// the data cache) driven by tests/onnxruntime/run_model.cjs.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "status/status.h"

namespace qatlab::test_support {

// The directory holding node_modules/onnxruntime-node, installed through
// npm on first use into $QATLAB_DATA_CACHE (or ~/.cache/qatlab). Safe to call
// from tests running in parallel (an flock serialises the install).
StatusOr<std::string> OnnxruntimeNodeDir();

struct OnnxruntimeRun {
  std::vector<float> output;  // the model's first output, converted to float
  std::vector<int64_t> output_dims;
};

struct OnnxruntimeRequest {
  std::string model_path;
  // The raw input values and their ONNX element type: "float32", "int8" or
  // "uint8" (input_bytes holds them little-endian).
  std::string input_type = "float32";
  std::string input_bytes;
  std::vector<int64_t> dims;
  // When set, onnxruntime writes the graph it runs after optimising it here.
  std::string optimized_model_path;
  std::string optimization = "all";  // "all" | "basic" | "disabled"
};

// Runs one request; `work_dir` receives the request and output files.
StatusOr<OnnxruntimeRun> RunOnnxruntime(const OnnxruntimeRequest& request, const std::string& work_dir);

// Convenience for float inputs.
StatusOr<OnnxruntimeRun> RunOnnxruntime(const std::string& model_path, const std::vector<float>& input,
                                        const std::vector<int64_t>& dims, const std::string& work_dir);

}  // namespace qatlab::test_support
