// A fully connected layer.
#pragma once

#include "engine/layers/weighted_layer.h"

namespace qatlab {

// in: (N, H, W, C) read as (N, H*W*C); out: (N, 1, 1, units); w: [units][in].
class DenseLayer final : public WeightedLayer {
 public:
  explicit DenseLayer(int units) : units_(units) {}
  LayerKind kind() const override { return LayerKind::kDense; }
  ImageShape Setup(const ImageShape& input) override;

 protected:
  void ComputeForward(const float* w, const float* b, const Tensor& in, Tensor* out) override;
  void ComputeBackward(const float* w, const Tensor& in, const Tensor& dout, Tensor* din, float* dw,
                       float* db) override;
  void ChannelSpan(int channel, size_t* first, size_t* count, size_t* stride) const override;
  int fan_in() const override { return inputs_; }

 private:
  int units_;
  int inputs_ = 0;
};

}  // namespace qatlab
