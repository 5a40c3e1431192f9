#include "engine/quantizers.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "engine/parallel.h"

namespace qatlab {
namespace {

// Values kept per quantization point during calibration: enough for stable
// percentiles, small enough for the MSE search to stay fast.
constexpr size_t kCalibrationValues = 1 << 18;

double QuantError(const std::vector<float>& values, const QuantParams& p) {
  double error = 0;
  for (float v : values) {
    const double d = static_cast<double>(FakeQuantize(v, p)) - v;
    error += d * d;
  }
  return error;
}

// The element loops of ActivationQuantizer take everything by value: a loop
// that reads a lambda's by-reference captures must reload them after every
// store (the store might alias them), which keeps it scalar. One loop per
// case keeps each branch-free and vectorizable.

// The extremes of x[0, count), exact: eight interleaved running extremes
// vectorize, and a minimum does not depend on the order it is taken in (up
// to the sign of a zero, which the range arithmetic does not see).
void MinMaxOfRange(const float* x, int count, float* min, float* max) {
  constexpr int kLanes = 8;
  float lo[kLanes], hi[kLanes];
  for (int j = 0; j < kLanes; ++j) {
    lo[j] = std::numeric_limits<float>::infinity();
    hi[j] = -std::numeric_limits<float>::infinity();
  }
  int i = 0;
  for (; i + kLanes <= count; i += kLanes) {
    for (int j = 0; j < kLanes; ++j) {
      lo[j] = std::min(lo[j], x[i + j]);
      hi[j] = std::max(hi[j], x[i + j]);
    }
  }
  for (; i < count; ++i) {
    lo[0] = std::min(lo[0], x[i]);
    hi[0] = std::max(hi[0], x[i]);
  }
  *min = *std::min_element(lo, lo + kLanes);
  *max = *std::max_element(hi, hi + kLanes);
}

// x = FakeQuantize(x) with bounds low, high (qmin, qmax less the zero point).
void FakeQuantizeRange(float scale, float low, float high, int count, float* x) {
  for (int i = 0; i < count; ++i) {
    float v = x[i] / scale;
    v = v < low ? low : (v > high ? high : v);
    x[i] = scale * RoundHalfAway(v);
  }
}

// As FakeQuantizeRange, and mask = 1 where x was inside the range, else 0.
void FakeQuantizeRangeWithMask(float scale, float low, float high, int count, float* x, float* mask) {
  for (int i = 0; i < count; ++i) {
    const float v = x[i] / scale;
    mask[i] = (v >= low && v <= high) ? 1.0f : 0.0f;
    const float clamped = v < low ? low : (v > high ? high : v);
    x[i] = scale * RoundHalfAway(clamped);
  }
}

// As FakeQuantizeRangeWithMask, and term = d x_hat / d s: round(v) - v
// inside the range, the clamp bound outside.
void FakeQuantizeRangeWithLsqTerm(float scale, float low, float high, int count, float* x, float* mask, float* term) {
  for (int i = 0; i < count; ++i) {
    const float v = x[i] / scale;
    const bool inside = v >= low && v <= high;
    const float clamped = v < low ? low : (v > high ? high : v);
    const float rounded = RoundHalfAway(clamped);
    mask[i] = inside ? 1.0f : 0.0f;
    term[i] = inside ? rounded - v : clamped;
    x[i] = scale * rounded;
  }
}

// x *= factor elementwise.
void MultiplyRange(const float* factor, int count, float* x) {
  for (int i = 0; i < count; ++i) x[i] *= factor[i];
}

}  // namespace

QuantParams ActivationParams(float min, float max, int bits, bool symmetric) {
  min = std::min(min, 0.0f);
  max = std::max(max, 0.0f);
  QuantParams p;
  p.qmin = -(1 << (bits - 1));
  p.qmax = (1 << (bits - 1)) - 1;
  if (symmetric) {
    const float extent = std::max(-min, max);
    p.scale = std::max(extent / static_cast<float>(p.qmax), 1e-8f);
    p.zero_point = 0;
    return p;
  }
  p.scale = std::max((max - min) / static_cast<float>(p.qmax - p.qmin), 1e-8f);
  const long z = std::lround(static_cast<double>(p.qmin) - static_cast<double>(min) / p.scale);
  p.zero_point = static_cast<int>(std::clamp<long>(z, p.qmin, p.qmax));
  return p;
}

void ChooseActivationRange(std::vector<float>* values, RangeMethod method, double percentile, int bits, bool symmetric,
                           float* min, float* max) {
  if (values->empty()) {
    *min = 0.0f;
    *max = 0.0f;
    return;
  }
  const auto [lo_it, hi_it] = std::minmax_element(values->begin(), values->end());
  const float lo = *lo_it;
  const float hi = *hi_it;
  if (method == RangeMethod::kMinMax) {
    *min = lo;
    *max = hi;
    return;
  }
  if (method == RangeMethod::kPercentile) {
    const size_t n = values->size();
    auto at = [&](double fraction) {
      const size_t k = std::min(n - 1, static_cast<size_t>(fraction * static_cast<double>(n - 1) + 0.5));
      std::nth_element(values->begin(), values->begin() + static_cast<long>(k), values->end());
      return (*values)[k];
    };
    *max = at(percentile / 100.0);
    *min = at(1.0 - percentile / 100.0);
    return;
  }
  // MSE: shrink the min-max range by a common factor.
  double best_error = std::numeric_limits<double>::infinity();
  *min = lo;
  *max = hi;
  for (int step = 0; step <= 80; ++step) {
    const float ratio = 1.0f - 0.01f * static_cast<float>(step);
    const QuantParams p = ActivationParams(lo * ratio, hi * ratio, bits, symmetric);
    const double error = QuantError(*values, p);
    if (error < best_error) {
      best_error = error;
      *min = lo * ratio;
      *max = hi * ratio;
    }
  }
}

float ChooseWeightScale(const float* w, size_t count, size_t stride, int bits, RangeMethod method) {
  float extent = 0.0f;
  for (size_t i = 0; i < count; ++i) extent = std::max(extent, std::fabs(w[i * stride]));
  const int qmax = WeightQmax(bits);
  const float minmax_scale = std::max(extent / static_cast<float>(qmax), 1e-8f);
  if (method != RangeMethod::kMse || extent == 0.0f) return minmax_scale;
  QuantParams p;
  p.qmin = -qmax;
  p.qmax = qmax;
  auto error_at = [&](float ratio) {
    p.scale = std::max(extent * ratio / static_cast<float>(qmax), 1e-8f);
    double error = 0;
    for (size_t i = 0; i < count; ++i) {
      const double d = static_cast<double>(FakeQuantize(w[i * stride], p)) - w[i * stride];
      error += d * d;
    }
    return error;
  };
  // Coarse search over clipping ratios 1.0, 0.95, ..., 0.05, then refine
  // around the best in steps of 0.005.
  double best_error = std::numeric_limits<double>::infinity();
  float best_ratio = 1.0f;
  for (int step = 0; step < 20; ++step) {
    const float ratio = 1.0f - 0.05f * static_cast<float>(step);
    const double error = error_at(ratio);
    if (error < best_error) {
      best_error = error;
      best_ratio = ratio;
    }
  }
  const float center = best_ratio;
  for (int step = -9; step <= 9; ++step) {
    const float ratio = center + 0.005f * static_cast<float>(step);
    if (ratio <= 0.0f || ratio > 1.0f || step == 0) continue;
    const double error = error_at(ratio);
    if (error < best_error) {
      best_error = error;
      best_ratio = ratio;
    }
  }
  return std::max(extent * best_ratio / static_cast<float>(qmax), 1e-8f);
}

ActivationQuantizer::ActivationQuantizer(int bits, bool symmetric) : bits_(bits), symmetric_(symmetric) {}

ActivationQuantizer ActivationQuantizer::Fixed(const QuantParams& params) {
  ActivationQuantizer q(8, false);
  q.fixed_ = true;
  q.fixed_params_ = params;
  q.min_ = params.scale * static_cast<float>(params.qmin - params.zero_point);
  q.max_ = params.scale * static_cast<float>(params.qmax - params.zero_point);
  return q;
}

void ActivationQuantizer::SetRange(float min, float max) {
  min_ = min;
  max_ = max;
  initialized_ = true;
}

QuantParams ActivationQuantizer::params() const {
  if (fixed_) return fixed_params_;
  if (shared_ != nullptr) return shared_->params();
  if (learned_) {
    QuantParams p = ActivationParams(min_, max_, bits_, symmetric_);
    p.scale = lsq_scale_;
    p.zero_point = lsq_zero_point_;
    return p;
  }
  return ActivationParams(min_, max_, bits_, symmetric_);
}

void ActivationQuantizer::BeginCalibration(int samples) {
  calibrating_ = true;
  calibration_samples_ = samples;
  calibration_stride_ = 0;
  calibration_counter_ = 0;
  calibration_values_.clear();
  calibration_min_ = std::numeric_limits<float>::infinity();
  calibration_max_ = -std::numeric_limits<float>::infinity();
}

void ActivationQuantizer::EndCalibration(RangeMethod method, double percentile) {
  calibrating_ = false;
  if (fixed_ || shared_ != nullptr) return;
  float min = 0, max = 0;
  ChooseActivationRange(&calibration_values_, method, percentile, bits_, symmetric_, &min, &max);
  if (method == RangeMethod::kMinMax && calibration_min_ <= calibration_max_) {
    // Exact extremes, not those of the subsample.
    min = calibration_min_;
    max = calibration_max_;
  }
  SetRange(min, max);
  calibration_values_.clear();
  calibration_values_.shrink_to_fit();
}

void ActivationQuantizer::EnableLearnedStepSize() {
  if (fixed_ || shared_ != nullptr) return;
  const QuantParams p = ActivationParams(min_, max_, bits_, symmetric_);
  learned_ = true;
  lsq_scale_ = p.scale;
  lsq_zero_point_ = p.zero_point;
  lsq_grad_ = 0.0f;
}

void ActivationQuantizer::Forward(Tensor* x, bool training) {
  const size_t count = x->data.size();
  float* data = x->data.data();
  quantized_last_forward_ = false;
  if (calibrating_) {
    if (calibration_stride_ == 0) {
      const size_t expected = x->sample_size() * static_cast<size_t>(std::max(calibration_samples_, 1));
      calibration_stride_ = std::max<size_t>(1, expected / kCalibrationValues);
    }
    for (size_t i = 0; i < count; ++i) {
      calibration_min_ = std::min(calibration_min_, data[i]);
      calibration_max_ = std::max(calibration_max_, data[i]);
      if (calibration_counter_++ % calibration_stride_ == 0) calibration_values_.push_back(data[i]);
    }
    return;
  }
  if (training && !frozen_ && !fixed_ && shared_ == nullptr && !learned_) {
    // Minimum and maximum are exact, so the split changes nothing.
    float part_lo[2], part_hi[2];
    RunInTwoParts([&](int part) {
      int begin, end;
      PartRange(static_cast<int>(count), part, &begin, &end);
      MinMaxOfRange(data + begin, end - begin, &part_lo[part], &part_hi[part]);
    });
    const float lo = std::min(part_lo[0], part_lo[1]);
    const float hi = std::max(part_hi[0], part_hi[1]);
    if (!initialized_) {
      SetRange(lo, hi);
    } else {
      min_ += averaging_ * (lo - min_);
      max_ += averaging_ * (hi - max_);
    }
  }
  if (!has_range()) return;
  const QuantParams p = params();
  quantized_last_forward_ = true;
  if (training) {
    pass_mask_.resize(count);
    if (learned_) lsq_term_.resize(count);
  }
  const float low = static_cast<float>(p.qmin - p.zero_point);
  const float high = static_cast<float>(p.qmax - p.zero_point);
  const float scale = p.scale;
  float* mask = training ? pass_mask_.data() : nullptr;
  float* term = training && learned_ ? lsq_term_.data() : nullptr;
  RunInTwoParts([&](int part) {
    int begin, end;
    PartRange(static_cast<int>(count), part, &begin, &end);
    if (mask == nullptr) {
      FakeQuantizeRange(scale, low, high, end - begin, data + begin);
    } else if (term == nullptr) {
      FakeQuantizeRangeWithMask(scale, low, high, end - begin, data + begin, mask + begin);
    } else {
      FakeQuantizeRangeWithLsqTerm(scale, low, high, end - begin, data + begin, mask + begin, term + begin);
    }
  });
}

void ActivationQuantizer::Backward(Tensor* grad) {
  if (!quantized_last_forward_ || fixed_) return;
  const size_t count = grad->data.size();
  float* g = grad->data.data();
  if (learned_) {
    const QuantParams p = params();
    const double scale_factor = 1.0 / std::sqrt(static_cast<double>(count) * p.qmax);
    double sum = 0;
    for (size_t i = 0; i < count; ++i) sum += static_cast<double>(g[i]) * lsq_term_[i];
    lsq_grad_ += static_cast<float>(sum * scale_factor);
  }
  const float* mask = pass_mask_.data();
  RunInTwoParts([&](int part) {
    int begin, end;
    PartRange(static_cast<int>(count), part, &begin, &end);
    MultiplyRange(mask + begin, end - begin, g + begin);
  });
}

void WeightQuantizer::Configure(const WeightQuantization& settings, std::vector<ChannelSpan> channels,
                                size_t weight_count) {
  settings_ = settings;
  settings_.frozen = false;
  settings_.learned = false;
  channels_ = std::move(channels);
  weight_count_ = weight_count;
  scales_valid_ = false;
  refresh_count_ = 0;
  scale_.assign(channels_.size(), 1.0f);
  grad_scale_.assign(channels_.size(), 0.0f);
}

void WeightQuantizer::Forward(const float* w, bool training, float* w_hat) {
  const int channels = static_cast<int>(channels_.size());
  // Evaluation never moves MSE scales, so it sees the scales training last
  // used, whenever it runs; a small QAT learning rate barely notices the
  // refresh interval.
  const bool reuse_mse_scales = settings_.method == RangeMethod::kMse && scales_valid_ &&
                                (!training || (refresh_count_++ % kMseRefreshInterval) != 0);
  if (!settings_.frozen && !settings_.learned && !reuse_mse_scales) {
    scales_valid_ = true;
    if (settings_.per_tensor) {
      const float s = ChooseWeightScale(w, weight_count_, 1, settings_.bits, settings_.method);
      std::fill(scale_.begin(), scale_.end(), s);
    } else {
      for (int c = 0; c < channels; ++c) {
        const ChannelSpan& span = channels_[c];
        scale_[c] = ChooseWeightScale(w + span.first, span.count, span.stride, settings_.bits, settings_.method);
      }
    }
  }
  QuantParams p;
  p.qmax = WeightQmax(settings_.bits);
  p.qmin = -p.qmax;
  for (int c = 0; c < channels; ++c) {
    p.scale = scale_[c];
    ForEachInChannel(c, [&](size_t i) { w_hat[i] = FakeQuantize(w[i], p); });
  }
}

void WeightQuantizer::Backward(const float* w, float* grad) {
  const int channels = static_cast<int>(channels_.size());
  const bool learned = settings_.learned;
  const float qmax = static_cast<float>(WeightQmax(settings_.bits));
  std::vector<double> scale_sum;
  if (learned) scale_sum.assign(channels, 0.0);
  for (int c = 0; c < channels; ++c) {
    const float inverse_scale = 1.0f / scale_[c];
    double sum = 0;
    ForEachInChannel(c, [&](size_t i) {
      const float v = w[i] * inverse_scale;
      const bool inside = v >= -qmax && v <= qmax;
      if (learned) {
        const float term = inside ? RoundHalfAway(v) - v : (v < 0 ? -qmax : qmax);
        sum += static_cast<double>(grad[i]) * term;
      }
      if (!inside) grad[i] = 0.0f;
    });
    if (learned) scale_sum[c] = sum;
  }
  if (!learned) return;
  const double count = static_cast<double>(weight_count_);
  const double per_channel = count / channels;
  const double factor = 1.0 / std::sqrt((settings_.per_tensor ? count : per_channel) * qmax);
  if (settings_.per_tensor) {
    double total = 0;
    for (double s : scale_sum) total += s;
    std::fill(scale_sum.begin(), scale_sum.end(), total / channels);
  }
  for (int c = 0; c < channels; ++c) grad_scale_[c] = static_cast<float>(scale_sum[c] * factor);
}

}  // namespace qatlab
