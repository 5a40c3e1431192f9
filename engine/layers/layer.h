// A layer of a trainable model: its parameters plus a forward/backward pair
// over NHWC batches (engine/tensor.h):
//   Forward(in, out, training)          out = f(in); saves what backward needs
//   Backward(in, out, dout, din)        din = dL/din (when din != nullptr) and
//                                       the parameters' gradients (written,
//                                       not accumulated)
// Weight layouts are those of the integer model (engine/integer_model.h), so
// export copies them without reordering.
#pragma once

#include <cstddef>
#include <vector>

#include "engine/model_config.h"
#include "engine/tensor.h"

namespace qatlab {

// A trainable array and its gradient.
struct ParameterRef {
  float* value = nullptr;
  float* grad = nullptr;
  size_t size = 0;
  bool decay = true;         // weight decay applies (not to biases, BN, scales)
  float min_value = -1e30f;  // learned scales stay positive
};

class Layer {
 public:
  virtual ~Layer() = default;
  virtual LayerKind kind() const = 0;

  // Per-sample output shape for a per-sample input shape; sizes buffers.
  // REQUIRES: the shape chains (see InferLayerShapes).
  virtual ImageShape Setup(const ImageShape& input) = 0;

  virtual void Forward(const Tensor& in, Tensor* out, bool training) = 0;
  // REQUIRES: Forward(in, out, true) was the last forward call.
  virtual void Backward(const Tensor& in, const Tensor& out, const Tensor& dout, Tensor* din) = 0;

  virtual void Parameters(std::vector<ParameterRef>*) {}
  // Every array that defines the layer (parameters and statistics), for
  // copying one model into another of the same structure.
  virtual void State(std::vector<FloatBuffer*>*) {}
};

}  // namespace qatlab
