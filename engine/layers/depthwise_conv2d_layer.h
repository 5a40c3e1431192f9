// A depthwise 2-D convolution (channel multiplier 1).
#pragma once

#include "engine/layers/weighted_layer.h"

namespace qatlab {

// in: (N, H, W, C); out: (N, OH, OW, C); w: [kh][kw][C] (multiplier 1).
class DepthwiseConv2DLayer final : public WeightedLayer {
 public:
  DepthwiseConv2DLayer(int kernel, int stride, int padding);
  LayerKind kind() const override { return LayerKind::kDepthwiseConv2D; }
  ImageShape Setup(const ImageShape& input) override;
  const ConvGeometry& geometry() const { return geometry_; }

 protected:
  void ComputeForward(const float* w, const float* b, const Tensor& in, Tensor* out) override;
  void ComputeBackward(const float* w, const Tensor& in, const Tensor& dout, Tensor* din, float* dw,
                       float* db) override;
  void ChannelSpan(int channel, size_t* first, size_t* count, size_t* stride) const override;
  int fan_in() const override { return geometry_.kernel * geometry_.kernel; }

 private:
  ConvGeometry geometry_;
};

}  // namespace qatlab
