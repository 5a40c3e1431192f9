#pragma once

#include "engine/layers/layer.h"

namespace qatlab {

// ReLU (cap 0) or ReLU6: y = min(max(x, 0), cap).
class ReluLayer final : public Layer {
 public:
  // cap: 0 for ReLU, 6 for ReLU6.
  explicit ReluLayer(float cap) : cap_(cap) {}
  LayerKind kind() const override { return cap_ > 0 ? LayerKind::kRelu6 : LayerKind::kRelu; }
  float cap() const { return cap_; }
  ImageShape Setup(const ImageShape& input) override { return input; }
  void Forward(const Tensor& in, Tensor* out, bool training) override;
  void Backward(const Tensor& in, const Tensor& out, const Tensor& dout, Tensor* din) override;

 private:
  float cap_;
};

}  // namespace qatlab
