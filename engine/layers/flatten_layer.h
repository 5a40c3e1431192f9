#pragma once

#include "engine/layers/layer.h"

namespace qatlab {

// NHWC flattening keeps the memory order: only the shape changes.
class FlattenLayer final : public Layer {
 public:
  LayerKind kind() const override { return LayerKind::kFlatten; }
  ImageShape Setup(const ImageShape& input) override { return {1, 1, input.size()}; }
  void Forward(const Tensor& in, Tensor* out, bool training) override;
  void Backward(const Tensor& in, const Tensor& out, const Tensor& dout, Tensor* din) override;
};

}  // namespace qatlab
