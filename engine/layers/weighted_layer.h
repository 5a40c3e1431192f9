// The common part of the layers with weights: BN folding, weight fake
// quantization and the per-part gradient sums.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "engine/layers/layer.h"
#include "engine/quantizers.h"

namespace qatlab {

class BatchNormLayer;

// Dense, Conv2D and DepthwiseConv2D: weights and a bias per output channel,
// optionally with a following batch norm folded in and the folded weights
// fake-quantized (docs/quant-spec.md, "Training mirrors it").
class WeightedLayer : public Layer {
 public:
  // Deterministic PyTorch-style initialization: U(-1/sqrt(fan_in), +) for
  // weights and bias.
  void Initialize(uint64_t seed);

  // Folds `bn` into this layer: forward uses w * k, beta + (b - mean) * k
  // with k = gamma / sqrt(var + eps); bn then passes its input through.
  // While `bn` is not frozen, training forwards update its running
  // statistics from the batch.
  void FoldBatchNorm(BatchNormLayer* bn);
  // Fake-quantizes the (folded) weights from now on.
  void QuantizeWeights(const WeightQuantization& quantization);
  // Freezes weight scales at their current values (PTQ); LSQ starts from them.
  void FreezeWeightScales();
  void EnableLearnedWeightScales();
  // The scale of this layer's (quantized) input. When set (> 0) with
  // quantized weights, the bias is fake-quantized as the integer model
  // stores it: int32 with scale input_scale * weight_scale[c].
  void set_input_scale(float scale) { input_scale_ = scale; }

  // The weights and bias the layer computes with (folded, fake-quantized),
  // and the per-channel weight scales; valid after Forward or
  // RefreshEffectiveWeights. Only training forwards move MSE-chosen scales.
  void RefreshEffectiveWeights(bool training);
  const FloatBuffer& effective_weights() const { return effective_weight_; }
  const FloatBuffer& effective_bias() const { return effective_bias_; }
  const FloatBuffer& weight_scales() const { return quantizer_.scales(); }
  bool weights_quantized() const { return quantized_; }
  const WeightQuantization& weight_quantization() const { return quantizer_.settings(); }
  BatchNormLayer* folded_batch_norm() const { return bn_; }

  int out_channels() const { return out_channels_; }
  FloatBuffer& weights() { return weight_; }
  FloatBuffer& bias() { return bias_; }

  void Forward(const Tensor& in, Tensor* out, bool training) final;
  void Backward(const Tensor& in, const Tensor& out, const Tensor& dout, Tensor* din) final;
  void Parameters(std::vector<ParameterRef>* params) override;
  void State(std::vector<FloatBuffer*>* state) override;

 protected:
  // The layer's arithmetic with the given weights (layout of weight_).
  virtual void ComputeForward(const float* w, const float* b, const Tensor& in, Tensor* out) = 0;
  // dw (size of weight_) and db (out_channels) are overwritten.
  virtual void ComputeBackward(const float* w, const Tensor& in, const Tensor& dout, Tensor* din, float* dw,
                               float* db) = 0;
  // Weight elements of one channel: `count` of them at first + j * stride.
  virtual void ChannelSpan(int channel, size_t* first, size_t* count, size_t* stride) const = 0;
  virtual int fan_in() const = 0;

  // Sizes the parameters, their gradients and the per-part gradient sums.
  void Allocate(size_t weight_count, int out_channels);
  // dw = part 0 + part 1 of part_dw_ (weights), db likewise (the biases that
  // follow the weights in each part): a fixed order, whatever the threads.
  void SumPartGradients(float* dw, float* db) const;

  // Calls fn(i) for every weight index i of output channel c, in order.
  template <typename Fn>
  void ForEachInChannel(int c, Fn&& fn) const {
    size_t first, count, stride;
    ChannelSpan(c, &first, &count, &stride);
    for (size_t j = 0; j < count; ++j) fn(first + j * stride);
  }

  FloatBuffer weight_, bias_, grad_weight_, grad_bias_;
  int out_channels_ = 0;
  // Per half batch: weight gradients, then bias gradients.
  FloatBuffer part_dw_[2];

 private:
  void UpdateBatchNormStatistics(const Tensor& out);

  BatchNormLayer* bn_ = nullptr;
  bool quantized_ = false;
  float input_scale_ = 0.0f;
  WeightQuantizer quantizer_;  // configured by QuantizeWeights
  FloatBuffer fold_factor_;    // gamma / sqrt(var + eps) per channel
  FloatBuffer folded_weight_;  // before quantization
  FloatBuffer effective_weight_, effective_bias_;
  FloatBuffer grad_effective_weight_, grad_effective_bias_;
};

}  // namespace qatlab
