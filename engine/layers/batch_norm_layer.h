#pragma once

#include <vector>

#include "engine/layers/layer.h"

namespace qatlab {

// Batch normalization over N, H, W per channel. Training forwards use the
// batch statistics and update the running ones (momentum 0.1, unbiased
// variance, as PyTorch); evaluation uses the running ones. When folded into
// the preceding weighted layer it passes its input through.
class BatchNormLayer final : public Layer {
 public:
  explicit BatchNormLayer(float epsilon = kEpsilon) : epsilon_(epsilon) {}
  LayerKind kind() const override { return LayerKind::kBatchNorm; }
  ImageShape Setup(const ImageShape& input) override;
  void Forward(const Tensor& in, Tensor* out, bool training) override;
  void Backward(const Tensor& in, const Tensor& out, const Tensor& dout, Tensor* din) override;
  void Parameters(std::vector<ParameterRef>* params) override;
  void State(std::vector<FloatBuffer*>* state) override;

  void set_folded(bool folded) { folded_ = folded; }
  bool folded() const { return folded_; }
  // Running statistics stop updating (QAT freeze epoch).
  void set_frozen(bool frozen) { frozen_ = frozen; }
  bool frozen() const { return frozen_; }

  // PyTorch's; an imported model brings its own (BatchNormSettings).
  static constexpr float kEpsilon = 1e-5f;
  float epsilon() const { return epsilon_; }
  static constexpr float kMomentum = 0.1f;
  FloatBuffer gamma, beta, running_mean, running_var, grad_gamma, grad_beta;

 private:
  float epsilon_;
  bool folded_ = false;
  bool frozen_ = false;
  FloatBuffer normalized_, inverse_std_;
};

}  // namespace qatlab
