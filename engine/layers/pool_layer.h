#pragma once

#include "engine/layers/layer.h"

namespace qatlab {

// Max or average pooling with window = stride = pool, no padding; output
// size floor(H / pool).
class PoolLayer final : public Layer {
 public:
  PoolLayer(bool max, int pool) : max_(max), pool_(pool) {}
  LayerKind kind() const override { return max_ ? LayerKind::kMaxPool : LayerKind::kAvgPool; }
  int pool() const { return pool_; }
  bool is_max() const { return max_; }
  ImageShape Setup(const ImageShape& input) override;
  void Forward(const Tensor& in, Tensor* out, bool training) override;
  void Backward(const Tensor& in, const Tensor& out, const Tensor& dout, Tensor* din) override;

 private:
  bool max_;
  int pool_;
  ImageShape in_, out_;
  // Max pooling: the window index of each output's maximum (as a float, to
  // compare in the same vector registers as the values).
  FloatBuffer winner_;
};

}  // namespace qatlab
