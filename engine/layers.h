// The layers of a trainable model. Each layer is its parameters plus a
// forward/backward pair over NHWC batches (engine/tensor.h):
//   Forward(in, out, training)          out = f(in); saves what backward needs
//   Backward(in, out, dout, din)        din = dL/din (when din != nullptr) and
//                                       the parameters' gradients (written,
//                                       not accumulated)
// Weight layouts are those of the integer model (engine/integer_model.h), so
// export copies them without reordering.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "engine/quantizers.h"
#include "engine/tensor.h"

namespace qatlab {

// A trainable array and its gradient.
struct ParameterRef {
  float* value = nullptr;
  float* grad = nullptr;
  size_t size = 0;
  bool decay = true;  // weight decay applies (not to biases, BN, scales)
  float min_value = -1e30f;  // learned scales stay positive
};

class Layer {
 public:
  virtual ~Layer() = default;
  virtual std::string type() const = 0;

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

class BatchNormLayer;

// Dense, Conv2D and DepthwiseConv2D: weights and a bias per output channel,
// optionally with a following batch norm folded in and the folded weights
// fake-quantized (QUANT_SPEC.md).
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
  const FloatBuffer& weight_scales() const { return scale_; }
  bool weights_quantized() const { return quantized_; }
  const WeightQuantization& weight_quantization() const { return quantization_; }
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
  // Index of the output channel of weight element i.
  virtual int ChannelOf(size_t i) const = 0;
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
  static constexpr int kMseRefreshInterval = 16;
  bool quantized_ = false;
  bool scales_valid_ = false;
  uint64_t refresh_count_ = 0;
  float input_scale_ = 0.0f;
  WeightQuantization quantization_;
  FloatBuffer scale_, grad_scale_;
  FloatBuffer fold_factor_;     // gamma / sqrt(var + eps) per channel
  FloatBuffer folded_weight_;   // before quantization
  FloatBuffer effective_weight_, effective_bias_;
  FloatBuffer grad_effective_weight_, grad_effective_bias_;
};

// in: (N, H, W, C) read as (N, H*W*C); out: (N, 1, 1, units); w: [units][in].
class DenseLayer final : public WeightedLayer {
 public:
  explicit DenseLayer(int units) : units_(units) {}
  std::string type() const override { return "dense"; }
  ImageShape Setup(const ImageShape& input) override;

 protected:
  void ComputeForward(const float* w, const float* b, const Tensor& in, Tensor* out) override;
  void ComputeBackward(const float* w, const Tensor& in, const Tensor& dout, Tensor* din, float* dw,
                       float* db) override;
  int ChannelOf(size_t i) const override { return static_cast<int>(i / inputs_); }
  void ChannelSpan(int channel, size_t* first, size_t* count, size_t* stride) const override;
  int fan_in() const override { return inputs_; }

 private:
  int units_;
  int inputs_ = 0;
};

// Convolution geometry shared by Conv2D and DepthwiseConv2D.
struct ConvGeometry {
  int kernel = 1, stride = 1, padding = 0;
  ImageShape in, out;

  // Sets `in` and `out` (with `out_channels`) for a per-sample input.
  // REQUIRES: the window fits (InferLayerShapes checked it).
  void SetInput(const ImageShape& input, int out_channels) {
    in = input;
    out = {WindowOutputSize(input.height, kernel, stride, padding),
           WindowOutputSize(input.width, kernel, stride, padding), out_channels};
  }
};

// in: (N, H, W, Cin); out: (N, OH, OW, filters); w: [filters][kh][kw][Cin].
// im2col + matrix products over chunks of a few samples, so the columns stay
// in cache (backward rebuilds them rather than keep forward's); 1x1
// stride-1 unpadded convolutions read the input directly. Single-channel
// inputs (the first layer on MNIST) are convolved directly from a
// zero-padded copy: their patches are too short for im2col and a matrix
// product to pay off.
class Conv2DLayer final : public WeightedLayer {
 public:
  Conv2DLayer(int filters, int kernel, int stride, int padding);
  std::string type() const override { return "conv2d"; }
  ImageShape Setup(const ImageShape& input) override;
  const ConvGeometry& geometry() const { return geometry_; }

 protected:
  void ComputeForward(const float* w, const float* b, const Tensor& in, Tensor* out) override;
  void ComputeBackward(const float* w, const Tensor& in, const Tensor& dout, Tensor* din, float* dw,
                       float* db) override;
  int ChannelOf(size_t i) const override { return static_cast<int>(i / patch_); }
  void ChannelSpan(int channel, size_t* first, size_t* count, size_t* stride) const override;
  int fan_in() const override { return patch_; }

 private:
  bool direct() const { return geometry_.kernel == 1 && geometry_.stride == 1 && geometry_.padding == 0; }
  bool single_channel() const { return geometry_.in.channels == 1 && !direct(); }
  // Samples whose im2col columns fit in about kChunkColFloats (at least 1).
  int SamplesPerChunk() const;
  static constexpr size_t kChunkColFloats = 16384;  // 64 KiB
  void Im2Col(const Tensor& in, int begin, int end, float* col) const;
  void Col2Im(const float* col, int begin, int end, Tensor* din) const;
  // The single-channel path (single_channel()).
  void SingleChannelForward(const float* w, const float* b, const Tensor& in, Tensor* out);
  void SingleChannelBackward(const float* w, const Tensor& in, const Tensor& dout, Tensor* din, float* dw,
                             float* db);
  // Copies w ([filters][taps]) to tap_major_weight_ ([taps][filters
  // rounded up to the block], zero-padded) and b to blocked_bias_.
  void ArrangeTapMajor(const float* w, const float* b);

  int filters_;
  ConvGeometry geometry_;
  int patch_ = 0;  // kh * kw * Cin
  FloatBuffer col_[2], dcol_[2];
  // Single-channel path, per part: the padded input and its gradient, rows
  // of filters rounded up to the block (when filters is not a multiple),
  // and the weight gradient.
  FloatBuffer padded_[2], padded_grad_[2], blocked_rows_[2], tap_major_dw_[2];
  FloatBuffer tap_major_weight_, blocked_bias_;
};

// in: (N, H, W, C); out: (N, OH, OW, C); w: [kh][kw][C] (multiplier 1).
class DepthwiseConv2DLayer final : public WeightedLayer {
 public:
  DepthwiseConv2DLayer(int kernel, int stride, int padding);
  std::string type() const override { return "depthwise_conv2d"; }
  ImageShape Setup(const ImageShape& input) override;
  const ConvGeometry& geometry() const { return geometry_; }

 protected:
  void ComputeForward(const float* w, const float* b, const Tensor& in, Tensor* out) override;
  void ComputeBackward(const float* w, const Tensor& in, const Tensor& dout, Tensor* din, float* dw,
                       float* db) override;
  int ChannelOf(size_t i) const override { return static_cast<int>(i % geometry_.in.channels); }
  void ChannelSpan(int channel, size_t* first, size_t* count, size_t* stride) const override;
  int fan_in() const override { return geometry_.kernel * geometry_.kernel; }

 private:
  ConvGeometry geometry_;
};

// Batch normalization over N, H, W per channel. Training forwards use the
// batch statistics and update the running ones (momentum 0.1, unbiased
// variance, as PyTorch); evaluation uses the running ones. When folded into
// the preceding weighted layer it passes its input through.
class BatchNormLayer final : public Layer {
 public:
  std::string type() const override { return "batchnorm"; }
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

  static constexpr float kEpsilon = 1e-5f;
  static constexpr float kMomentum = 0.1f;
  FloatBuffer gamma, beta, running_mean, running_var, grad_gamma, grad_beta;

 private:
  bool folded_ = false;
  bool frozen_ = false;
  FloatBuffer normalized_, inverse_std_;
};

class ReluLayer final : public Layer {
 public:
  // cap: 0 for ReLU, 6 for ReLU6.
  explicit ReluLayer(float cap) : cap_(cap) {}
  std::string type() const override { return cap_ > 0 ? "relu6" : "relu"; }
  float cap() const { return cap_; }
  ImageShape Setup(const ImageShape& input) override { return input; }
  void Forward(const Tensor& in, Tensor* out, bool training) override;
  void Backward(const Tensor& in, const Tensor& out, const Tensor& dout, Tensor* din) override;

 private:
  float cap_;
};

// Max or average pooling with window = stride = pool, no padding; output
// size floor(H / pool).
class PoolLayer final : public Layer {
 public:
  PoolLayer(bool max, int pool) : max_(max), pool_(pool) {}
  std::string type() const override { return max_ ? "maxpool" : "avgpool"; }
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

class GlobalAvgPoolLayer final : public Layer {
 public:
  std::string type() const override { return "global_avgpool"; }
  ImageShape Setup(const ImageShape& input) override;
  void Forward(const Tensor& in, Tensor* out, bool training) override;
  void Backward(const Tensor& in, const Tensor& out, const Tensor& dout, Tensor* din) override;

 private:
  ImageShape in_;
};

// NHWC flattening keeps the memory order: only the shape changes.
class FlattenLayer final : public Layer {
 public:
  std::string type() const override { return "flatten"; }
  ImageShape Setup(const ImageShape& input) override { return {1, 1, input.size()}; }
  void Forward(const Tensor& in, Tensor* out, bool training) override;
  void Backward(const Tensor& in, const Tensor& out, const Tensor& dout, Tensor* din) override;
};

// Mean softmax cross-entropy over the batch; writes dL/dlogits.
// logits: (N, classes).
double SoftmaxCrossEntropy(const Tensor& logits, const int32_t* labels, Tensor* grad);

}  // namespace qatlab
