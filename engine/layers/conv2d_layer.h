// A 2-D convolution.
#pragma once

#include <cstddef>

#include "engine/layers/weighted_layer.h"

namespace qatlab {

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
  LayerKind kind() const override { return LayerKind::kConv2D; }
  ImageShape Setup(const ImageShape& input) override;
  const ConvGeometry& geometry() const { return geometry_; }

 protected:
  void ComputeForward(const float* w, const float* b, const Tensor& in, Tensor* out) override;
  void ComputeBackward(const float* w, const Tensor& in, const Tensor& dout, Tensor* din, float* dw,
                       float* db) override;
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
  void SingleChannelBackward(const float* w, const Tensor& in, const Tensor& dout, Tensor* din, float* dw, float* db);
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

}  // namespace qatlab
