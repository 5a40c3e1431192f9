// Average over all positions per channel.
#pragma once

#include "engine/layers/layer.h"

namespace qatlab {

class GlobalAvgPoolLayer final : public Layer {
 public:
  LayerKind kind() const override { return LayerKind::kGlobalAvgPool; }
  ImageShape Setup(const ImageShape& input) override;
  void Forward(const Tensor& in, Tensor* out, bool training) override;
  void Backward(const Tensor& in, const Tensor& out, const Tensor& dout, Tensor* din) override;

 private:
  ImageShape in_;
};

}  // namespace qatlab
