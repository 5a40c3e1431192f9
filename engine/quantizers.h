// Fake quantization (docs/quant-spec.md, "Training mirrors it"): the real
// value a quantized tensor would hold, computed in float, with the
// straight-through estimator in the backward pass. Two quantizers, each a
// forward/backward pair: ActivationQuantizer (with the observers that track
// activation ranges) and WeightQuantizer (per-channel weight scales); and the
// range choices used by post-training calibration.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "engine/tensor.h"

namespace qatlab {

// r = scale * (q - zero_point), q in [qmin, qmax].
struct QuantParams {
  float scale = 1.0f;
  int zero_point = 0;
  int qmin = -128;
  int qmax = 127;
};

// Round half away from zero, the rounding of the integer kernels.
inline float RoundHalfAway(float v) { return static_cast<float>(static_cast<int>(v + (v >= 0.0f ? 0.5f : -0.5f))); }

// s * (clamp(round(x / s) + z, qmin, qmax) - z)
inline float FakeQuantize(float x, const QuantParams& p) {
  const float low = static_cast<float>(p.qmin - p.zero_point);
  const float high = static_cast<float>(p.qmax - p.zero_point);
  float v = x / p.scale;
  // Clamping before rounding keeps the int conversion in range; the result
  // is the same as clamping q afterwards because the bounds are integers.
  v = v < low ? low : (v > high ? high : v);
  return p.scale * RoundHalfAway(v);
}

// Activation parameters for the range [min, max] (docs/quant-spec.md, "Values"):
// the range is widened to include 0; asymmetric: s = (max - min) / (2^b - 1),
// z = round(qmin - min / s) clamped; symmetric: z = 0, s = max|.| / (2^(b-1) - 1).
QuantParams ActivationParams(float min, float max, int bits, bool symmetric);

// The narrow symmetric weight range: q in [-qmax, qmax], qmax = 2^(b-1) - 1.
inline int WeightQmax(int bits) { return (1 << (bits - 1)) - 1; }

enum class RangeMethod { kMinMax, kPercentile, kMse };

// Chooses an activation range from calibration values. `values` is reordered.
// minmax: the extremes; percentile: the (100 - p)th and pth percentiles;
// mse: the shrink of the min-max range that minimises the quantization error
// over the values.
void ChooseActivationRange(std::vector<float>* values, RangeMethod method, double percentile, int bits, bool symmetric,
                           float* min, float* max);

// The symmetric scale for `count` weights read at w[i * stride]: minmax gives
// max|w| / qmax; mse searches clipping ratios for the least squared error
// (what makes 2- and 4-bit PTQ usable). percentile is treated as minmax for
// weights. Never returns less than 1e-8.
float ChooseWeightScale(const float* w, size_t count, size_t stride, int bits, RangeMethod method);

// How a weighted layer quantizes its (folded) weights.
struct WeightQuantization {
  int bits = 8;
  bool per_tensor = false;
  RangeMethod method = RangeMethod::kMinMax;
  // Scales are recomputed from the weights at every forward unless frozen
  // (PTQ) or learned (LSQ).
  bool frozen = false;
  bool learned = false;
};

// Quantizes one activation tensor in place: observe (training, not frozen),
// then fake-quantize; the backward pass passes gradients where the input was
// inside the representable range. With learned step size (LSQ) the scale is
// a trained parameter and its gradient follows Esser et al. (scaled by
// 1 / sqrt(N * qmax)).
class ActivationQuantizer {
 public:
  ActivationQuantizer(int bits, bool symmetric);

  // A quantizer with constant parameters (the model input).
  static ActivationQuantizer Fixed(const QuantParams& params);

  // Mirrors another quantizer's parameters instead of observing (average
  // pooling: the output shares the input's scale and zero point).
  // REQUIRES: source outlives this.
  void ShareParamsWith(const ActivationQuantizer* source) { shared_ = source; }

  void Forward(Tensor* x, bool training);
  void Backward(Tensor* grad);

  // Sets the range directly (PTQ calibration, tests).
  void SetRange(float min, float max);
  bool has_range() const { return initialized_ || fixed_ || shared_ != nullptr; }
  float range_min() const { return min_; }
  float range_max() const { return max_; }
  QuantParams params() const;

  // Observers stop updating (QAT freeze epoch).
  void set_frozen(bool frozen) { frozen_ = frozen; }
  // Exponential moving average constant of the observer (default 0.01).
  void set_averaging_constant(float c) { averaging_ = c; }

  // Calibration: while on, Forward only records values (no quantization);
  // EndCalibration sets the range by `method` and freezes.
  void BeginCalibration(int samples);
  void EndCalibration(RangeMethod method, double percentile);
  bool calibrating() const { return calibrating_; }

  // LSQ: from now on the scale (initialized from the current range) is
  // learned; the zero point stays fixed.
  void EnableLearnedStepSize();
  bool learned() const { return learned_; }
  float* learned_scale() { return &lsq_scale_; }
  float* learned_scale_grad() { return &lsq_grad_; }

 private:
  int bits_ = 8;
  bool symmetric_ = false;
  bool fixed_ = false;
  QuantParams fixed_params_;
  const ActivationQuantizer* shared_ = nullptr;
  bool initialized_ = false;
  bool frozen_ = false;
  float averaging_ = 0.01f;
  float min_ = 0.0f;
  float max_ = 0.0f;

  bool calibrating_ = false;
  int calibration_samples_ = 0;
  size_t calibration_stride_ = 0;
  size_t calibration_counter_ = 0;
  std::vector<float> calibration_values_;
  float calibration_min_ = 0.0f;
  float calibration_max_ = 0.0f;

  bool learned_ = false;
  float lsq_scale_ = 1.0f;
  float lsq_grad_ = 0.0f;
  int lsq_zero_point_ = 0;

  // Saved by Forward for Backward.
  bool quantized_last_forward_ = false;
  FloatBuffer pass_mask_;  // 1 inside the range, else 0 (float: vectorizes with the data)
  FloatBuffer lsq_term_;   // d x_hat / d s per element (LSQ only)
};

// Fake-quantizes a weighted layer's (folded) weights: symmetric, narrow range
// (q in [-qmax, qmax]), one scale per output channel or one for the tensor.
// Forward chooses the scales from the weights (unless frozen or learned) and
// writes w_hat = FakeQuantize(w); Backward is the straight-through estimator
// (the gradient passes where w / s was inside [-qmax, qmax]) and, with
// learned step size (LSQ), the scale gradient of Esser et al.:
//   dL/ds = g * sum over the channel of dL/dw_hat * (round(v) - v) inside,
//           +-qmax outside, with v = w / s and g = 1 / sqrt(N * qmax)
// (N: weights per scale; per-tensor scales share the channels' mean).
class WeightQuantizer {
 public:
  // The weights of one output channel: `count` of them at first + j * stride.
  struct ChannelSpan {
    size_t first = 0;
    size_t count = 0;
    size_t stride = 1;
  };

  // Sets the layout (one span per output channel, `weight_count` weights in
  // all), scales 1, and `settings` with frozen and learned off: scales then
  // follow the weights at every Forward.
  void Configure(const WeightQuantization& settings, std::vector<ChannelSpan> channels, size_t weight_count);

  // w_hat = FakeQuantize(w) per channel. Scales are first re-chosen from `w`
  // unless frozen or learned; MSE scales only every kMseRefreshInterval
  // training forwards (and never by evaluation forwards), since the search
  // costs a pass over every weight per candidate clipping.
  // w, w_hat: weight_count values.
  void Forward(const float* w, bool training, float* w_hat);
  // grad: dL/dw_hat in, dL/dw out (0 where w / s was outside the range).
  // With learned scales, also overwrites scale_gradients().
  // REQUIRES: Forward(w, ...) was the last forward.
  void Backward(const float* w, float* grad);

  // Scales stop following the weights (PTQ, end of QAT).
  void set_frozen(bool frozen) { settings_.frozen = frozen; }
  // LSQ: from now on the scales are trained parameters.
  void set_learned(bool learned) { settings_.learned = learned; }

  const WeightQuantization& settings() const { return settings_; }
  const FloatBuffer& scales() const { return scale_; }
  // The learned scales and their gradients, as parameters for the optimizer.
  FloatBuffer& mutable_scales() { return scale_; }
  FloatBuffer& scale_gradients() { return grad_scale_; }

  static constexpr int kMseRefreshInterval = 16;

 private:
  template <typename Fn>
  void ForEachInChannel(int c, Fn&& fn) const {
    const ChannelSpan& span = channels_[c];
    for (size_t j = 0; j < span.count; ++j) fn(span.first + j * span.stride);
  }

  WeightQuantization settings_;
  std::vector<ChannelSpan> channels_;
  size_t weight_count_ = 0;
  bool scales_valid_ = false;
  uint64_t refresh_count_ = 0;
  FloatBuffer scale_, grad_scale_;
};

}  // namespace qatlab
