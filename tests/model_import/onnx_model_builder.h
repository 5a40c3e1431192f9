// Small ONNX models for the import tests, built with the ONNX classes: a
// float input, nodes with attributes, initializers with seeded random
// values, one output. Shapes of intermediate tensors are left to shape
// inference, as exporters leave them.
#pragma once

#include <onnx/onnx_pb.h>

#include <cstdint>
#include <random>
#include <string>
#include <vector>

namespace qatlab::test_support {

class OnnxModelBuilder {
 public:
  // `input_dims` may use -1 for a symbolic dimension (named "N" at 0, else
  // "d<i>").
  OnnxModelBuilder(int64_t opset, const std::vector<int64_t>& input_dims, uint32_t seed = 7);

  // An initializer of `dims` holding uniform random values in [low, high).
  std::string Random(const std::string& name, const std::vector<int64_t>& dims, float low = -0.5f, float high = 0.5f);
  std::string Floats(const std::string& name, const std::vector<int64_t>& dims, const std::vector<float>& values);
  std::string Int64s(const std::string& name, const std::vector<int64_t>& values);

  // Adds a node; returns it so attributes can be added. Its name is `name`.
  onnx::NodeProto* Node(const std::string& op, const std::string& name, const std::vector<std::string>& inputs,
                        const std::vector<std::string>& outputs);
  static void SetInts(onnx::NodeProto* node, const std::string& name, const std::vector<int64_t>& values);
  static void SetInt(onnx::NodeProto* node, const std::string& name, int64_t value);
  static void SetFloat(onnx::NodeProto* node, const std::string& name, float value);
  static void SetString(onnx::NodeProto* node, const std::string& name, const std::string& value);

  // Conv (+ random weights and bias) and its usual attributes.
  std::string Conv(const std::string& name, const std::string& input, int64_t in_channels, int64_t out_channels,
                   int64_t kernel, int64_t stride, int64_t pad, int64_t group = 1, bool bias = true);
  // BatchNormalization with random statistics.
  std::string BatchNorm(const std::string& name, const std::string& input, int64_t channels, float epsilon);
  std::string Unary(const std::string& op, const std::string& name, const std::string& input);
  std::string Pool(const std::string& op, const std::string& name, const std::string& input, int64_t window);
  // Gemm with transB as given (weights [out, in] when trans_b, else [in, out]).
  std::string Gemm(const std::string& name, const std::string& input, int64_t in, int64_t out, bool trans_b);

  // Finishes the model with `output` (of `dims`, -1 for the batch "N") as
  // its only output and serializes it.
  std::string Serialize(const std::string& output, const std::vector<int64_t>& dims = {-1, 10});
  onnx::ModelProto& model() { return model_; }

  static constexpr const char* kInput = "image";

 private:
  onnx::ModelProto model_;
  std::mt19937 random_;
};

}  // namespace qatlab::test_support
