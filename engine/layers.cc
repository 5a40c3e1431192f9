#include "engine/layers.h"

#include <Eigen/Core>
#include <algorithm>
#include <cmath>
#include <cstring>

#include "engine/parallel.h"

namespace qatlab {
namespace {

using RowMatrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using ConstMap = Eigen::Map<const RowMatrix>;
using MutableMap = Eigen::Map<RowMatrix>;
using ConstRow = Eigen::Map<const Eigen::RowVectorXf>;
using MutableRow = Eigen::Map<Eigen::RowVectorXf>;

// SplitMix64: a tiny, well-mixed generator; the same on every platform.
struct SplitMix64 {
  uint64_t state;
  uint64_t Next() {
    uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
  // Uniform in [-bound, bound).
  float Uniform(float bound) {
    const double unit = static_cast<double>(Next() >> 11) * (1.0 / 9007199254740992.0);
    return static_cast<float>((2.0 * unit - 1.0) * bound);
  }
};

// out_part = in_part * W^T + b over rows [begin, end) of row width `inputs`.
void AffineRows(const float* in, const float* w, const float* b, int rows, int inputs, int outputs, float* out) {
  if (rows <= 0) return;
  ConstMap x(in, rows, inputs);
  ConstMap weights(w, outputs, inputs);
  MutableMap y(out, rows, outputs);
  y.noalias() = x * weights.transpose();
  y.rowwise() += ConstRow(b, outputs);
}

// dW_part = dY^T X, db_part = column sums of dY, dX = dY W (when dx).
void AffineRowsBackward(const float* in, const float* w, const float* dout, int rows, int inputs, int outputs,
                        float* dw, float* db, float* dx) {
  MutableMap grad_w(dw, outputs, inputs);
  MutableRow grad_b(db, outputs);
  if (rows <= 0) {
    grad_w.setZero();
    grad_b.setZero();
    return;
  }
  ConstMap x(in, rows, inputs);
  ConstMap dy(dout, rows, outputs);
  grad_w.noalias() = dy.transpose() * x;
  // Column sums in plain row order (Eigen's reduction order could depend on
  // alignment).
  grad_b.setZero();
  for (int r = 0; r < rows; ++r) {
    const float* row = dout + static_cast<size_t>(r) * outputs;
    for (int c = 0; c < outputs; ++c) db[c] += row[c];
  }
  if (dx != nullptr) {
    MutableMap grad_x(dx, rows, inputs);
    grad_x.noalias() = dy * ConstMap(w, outputs, inputs);
  }
}

}  // namespace

// ---------------------------------------------------------------- weighted

void WeightedLayer::Allocate(size_t weight_count, int out_channels) {
  out_channels_ = out_channels;
  weight_.assign(weight_count, 0.0f);
  grad_weight_.assign(weight_count, 0.0f);
  bias_.assign(out_channels, 0.0f);
  grad_bias_.assign(out_channels, 0.0f);
  scale_.assign(out_channels, 1.0f);
  grad_scale_.assign(out_channels, 0.0f);
}

void WeightedLayer::Initialize(uint64_t seed) {
  SplitMix64 random{seed};
  const float bound = 1.0f / std::sqrt(static_cast<float>(fan_in()));
  for (float& w : weight_) w = random.Uniform(bound);
  for (float& b : bias_) b = random.Uniform(bound);
}

void WeightedLayer::FoldBatchNorm(BatchNormLayer* bn) {
  bn_ = bn;
  bn_->set_folded(true);
}

void WeightedLayer::QuantizeWeights(const WeightQuantization& quantization) {
  quantized_ = true;
  quantization_ = quantization;
  quantization_.frozen = false;
  quantization_.learned = false;
  RefreshEffectiveWeights();
  if (quantization.frozen) FreezeWeightScales();
  if (quantization.learned) EnableLearnedWeightScales();
}

void WeightedLayer::FreezeWeightScales() {
  quantization_.frozen = false;
  scales_valid_ = false;  // a fresh search, also for MSE scales
  RefreshEffectiveWeights();
  quantization_.frozen = true;
}

void WeightedLayer::EnableLearnedWeightScales() {
  RefreshEffectiveWeights();
  quantization_.learned = true;
}

void WeightedLayer::RefreshEffectiveWeights() {
  const size_t count = weight_.size();
  folded_weight_.resize(count);
  effective_weight_.resize(count);
  effective_bias_.resize(out_channels_);
  if (bn_ != nullptr) {
    fold_factor_.resize(out_channels_);
    for (int c = 0; c < out_channels_; ++c) {
      fold_factor_[c] = bn_->gamma[c] / std::sqrt(bn_->running_var[c] + BatchNormLayer::kEpsilon);
      effective_bias_[c] = bn_->beta[c] + (bias_[c] - bn_->running_mean[c]) * fold_factor_[c];
      ForEachInChannel(c, [&](size_t i) { folded_weight_[i] = weight_[i] * fold_factor_[c]; });
    }
  } else {
    folded_weight_ = weight_;
    effective_bias_ = bias_;
  }
  if (!quantized_) {
    effective_weight_ = folded_weight_;
    return;
  }
  // MSE scales cost a search over every weight; between refreshes (every
  // kMseRefreshInterval calls) they are kept, which a small QAT learning
  // rate barely notices.
  const bool reuse_mse_scales = quantization_.method == RangeMethod::kMse && scales_valid_ &&
                                (refresh_count_++ % kMseRefreshInterval) != 0;
  if (!quantization_.frozen && !quantization_.learned && !reuse_mse_scales) {
    scales_valid_ = true;
    if (quantization_.per_tensor) {
      const float s = ChooseWeightScale(folded_weight_.data(), count, 1, quantization_.bits, quantization_.method);
      std::fill(scale_.begin(), scale_.end(), s);
    } else {
      for (int c = 0; c < out_channels_; ++c) {
        size_t first, n, stride;
        ChannelSpan(c, &first, &n, &stride);
        scale_[c] = ChooseWeightScale(folded_weight_.data() + first, n, stride, quantization_.bits,
                                      quantization_.method);
      }
    }
  }
  QuantParams p;
  p.qmax = WeightQmax(quantization_.bits);
  p.qmin = -p.qmax;
  for (int c = 0; c < out_channels_; ++c) {
    p.scale = scale_[c];
    ForEachInChannel(c, [&](size_t i) { effective_weight_[i] = FakeQuantize(folded_weight_[i], p); });
  }
  if (input_scale_ > 0.0f) {
    // Gradients pass straight through the bias rounding.
    for (int c = 0; c < out_channels_; ++c) {
      const double bias_scale = static_cast<double>(input_scale_) * scale_[c];
      effective_bias_[c] = static_cast<float>(std::round(effective_bias_[c] / bias_scale) * bias_scale);
    }
  }
}

void WeightedLayer::Forward(const Tensor& in, Tensor* out, bool training) {
  RefreshEffectiveWeights();
  ComputeForward(effective_weight_.data(), effective_bias_.data(), in, out);
  if (bn_ != nullptr && training && !bn_->frozen()) UpdateBatchNormStatistics(*out);
}

void WeightedLayer::UpdateBatchNormStatistics(const Tensor& out) {
  // out = k * conv(x, w) + beta + (b - mean) * k, so the raw layer output
  // y = conv(x, w) + b has mean (mean(out) - b_eff) / k + b and variance
  // var(out) / k^2 (up to weight quantization).
  const int channels = out_channels_;
  const size_t positions = out.data.size() / channels;
  if (positions < 2) return;
  std::vector<double> sum(channels, 0.0), sum_sq(channels, 0.0);
  for (size_t p = 0; p < positions; ++p) {
    const float* row = out.data.data() + p * channels;
    for (int c = 0; c < channels; ++c) {
      sum[c] += row[c];
      sum_sq[c] += static_cast<double>(row[c]) * row[c];
    }
  }
  for (int c = 0; c < channels; ++c) {
    const double k = fold_factor_[c];
    if (std::fabs(k) < 1e-12) continue;
    const double mean = sum[c] / positions;
    const double var = std::max(0.0, sum_sq[c] / positions - mean * mean);
    const double raw_mean = (mean - effective_bias_[c]) / k + bias_[c];
    const double raw_var = var / (k * k) * positions / (positions - 1);
    bn_->running_mean[c] += BatchNormLayer::kMomentum * static_cast<float>(raw_mean - bn_->running_mean[c]);
    bn_->running_var[c] += BatchNormLayer::kMomentum * static_cast<float>(raw_var - bn_->running_var[c]);
  }
}

void WeightedLayer::Backward(const Tensor& in, const Tensor&, const Tensor& dout, Tensor* din) {
  const size_t count = weight_.size();
  grad_effective_weight_.resize(count);
  grad_effective_bias_.resize(out_channels_);
  ComputeBackward(effective_weight_.data(), in, dout, din, grad_effective_weight_.data(),
                  grad_effective_bias_.data());
  // Straight-through estimator: d w_hat / d w_folded = 1 inside the range.
  FloatBuffer& grad_folded = grad_effective_weight_;
  if (quantized_) {
    const float qmax = static_cast<float>(WeightQmax(quantization_.bits));
    std::vector<double> scale_sum;
    if (quantization_.learned) scale_sum.assign(out_channels_, 0.0);
    for (int c = 0; c < out_channels_; ++c) {
      const float inverse_scale = 1.0f / scale_[c];
      double sum = 0;
      ForEachInChannel(c, [&](size_t i) {
        const float v = folded_weight_[i] * inverse_scale;
        const bool inside = v >= -qmax && v <= qmax;
        if (quantization_.learned) {
          const float term = inside ? RoundHalfAway(v) - v : (v < 0 ? -qmax : qmax);
          sum += static_cast<double>(grad_folded[i]) * term;
        }
        if (!inside) grad_folded[i] = 0.0f;
      });
      if (quantization_.learned) scale_sum[c] = sum;
    }
    if (quantization_.learned) {
      const double per_channel = static_cast<double>(count) / out_channels_;
      const double factor = 1.0 / std::sqrt((quantization_.per_tensor ? count : per_channel) * qmax);
      if (quantization_.per_tensor) {
        double total = 0;
        for (double s : scale_sum) total += s;
        std::fill(scale_sum.begin(), scale_sum.end(), total / out_channels_);
      }
      for (int c = 0; c < out_channels_; ++c) grad_scale_[c] = static_cast<float>(scale_sum[c] * factor);
    }
  }
  if (bn_ != nullptr) {
    std::vector<double> grad_gamma(out_channels_, 0.0);
    for (int c = 0; c < out_channels_; ++c) {
      double sum = 0;
      ForEachInChannel(c, [&](size_t i) {
        grad_weight_[i] = grad_folded[i] * fold_factor_[c];
        sum += static_cast<double>(grad_folded[i]) * weight_[i];
      });
      grad_gamma[c] = sum;
    }
    for (int c = 0; c < out_channels_; ++c) {
      const double inverse_sigma = 1.0 / std::sqrt(static_cast<double>(bn_->running_var[c]) + BatchNormLayer::kEpsilon);
      grad_gamma[c] = grad_gamma[c] * inverse_sigma +
                      grad_effective_bias_[c] * (bias_[c] - bn_->running_mean[c]) * inverse_sigma;
      bn_->grad_gamma[c] = static_cast<float>(grad_gamma[c]);
      bn_->grad_beta[c] = grad_effective_bias_[c];
      grad_bias_[c] = grad_effective_bias_[c] * fold_factor_[c];
    }
  } else {
    std::copy(grad_folded.begin(), grad_folded.end(), grad_weight_.begin());
    std::copy(grad_effective_bias_.begin(), grad_effective_bias_.end(), grad_bias_.begin());
  }
}

void WeightedLayer::Parameters(std::vector<ParameterRef>* params) {
  params->push_back({weight_.data(), grad_weight_.data(), weight_.size(), true});
  params->push_back({bias_.data(), grad_bias_.data(), bias_.size(), false});
  if (quantized_ && quantization_.learned) {
    params->push_back({scale_.data(), grad_scale_.data(), scale_.size(), false, 1e-8f});
  }
}

void WeightedLayer::State(std::vector<FloatBuffer*>* state) {
  state->push_back(&weight_);
  state->push_back(&bias_);
}

// ---------------------------------------------------------------- dense

ImageShape DenseLayer::Setup(const ImageShape& input) {
  inputs_ = input.size();
  Allocate(static_cast<size_t>(units_) * inputs_, units_);
  for (auto& dw : part_dw_) dw.assign(weight_.size() + units_, 0.0f);
  return {1, 1, units_};
}

void DenseLayer::ChannelSpan(int channel, size_t* first, size_t* count, size_t* stride) const {
  *first = static_cast<size_t>(channel) * inputs_;
  *count = inputs_;
  *stride = 1;
}

void DenseLayer::ComputeForward(const float* w, const float* b, const Tensor& in, Tensor* out) {
  out->Resize(in.n, {1, 1, units_});
  RunInTwoParts([&](int part) {
    int begin, end;
    PartRange(in.n, part, &begin, &end);
    AffineRows(in.sample(begin), w, b, end - begin, inputs_, units_, out->sample(begin));
  });
}

void DenseLayer::ComputeBackward(const float* w, const Tensor& in, const Tensor& dout, Tensor* din, float* dw,
                                 float* db) {
  if (din != nullptr) din->Resize(in.n, in.shape);
  RunInTwoParts([&](int part) {
    int begin, end;
    PartRange(in.n, part, &begin, &end);
    float* part_w = part_dw_[part].data();
    AffineRowsBackward(in.sample(begin), w, dout.sample(begin), end - begin, inputs_, units_, part_w,
                       part_w + weight_.size(), din != nullptr ? din->sample(begin) : nullptr);
  });
  const size_t n = weight_.size();
  for (size_t i = 0; i < n; ++i) dw[i] = part_dw_[0][i] + part_dw_[1][i];
  for (int c = 0; c < units_; ++c) db[c] = part_dw_[0][n + c] + part_dw_[1][n + c];
}

// ---------------------------------------------------------------- conv2d

Conv2DLayer::Conv2DLayer(int filters, int kernel, int stride, int padding) : filters_(filters) {
  geometry_.kernel = kernel;
  geometry_.stride = stride;
  geometry_.padding = padding;
}

ImageShape Conv2DLayer::Setup(const ImageShape& input) {
  geometry_.in = input;
  geometry_.out = {(input.height + 2 * geometry_.padding - geometry_.kernel) / geometry_.stride + 1,
                   (input.width + 2 * geometry_.padding - geometry_.kernel) / geometry_.stride + 1, filters_};
  patch_ = geometry_.kernel * geometry_.kernel * input.channels;
  Allocate(static_cast<size_t>(filters_) * patch_, filters_);
  for (auto& dw : part_dw_) dw.assign(weight_.size() + filters_, 0.0f);
  return geometry_.out;
}

void Conv2DLayer::ChannelSpan(int channel, size_t* first, size_t* count, size_t* stride) const {
  *first = static_cast<size_t>(channel) * patch_;
  *count = patch_;
  *stride = 1;
}

void Conv2DLayer::Im2Col(const Tensor& in, int begin, int end, float* col) const {
  // For a fixed kernel row, the kernel's columns read kernel * cin
  // consecutive input floats; copy them as one run when the window is inside
  // the image (plain loops: the runs are too short for memcpy calls).
  const ConvGeometry& g = geometry_;
  const int cin = g.in.channels;
  const int run = g.kernel * cin;
  float* row = col;
  for (int n = begin; n < end; ++n) {
    const float* image = in.sample(n);
    for (int oy = 0; oy < g.out.height; ++oy) {
      for (int ox = 0; ox < g.out.width; ++ox, row += patch_) {
        const int ix0 = ox * g.stride - g.padding;
        const bool columns_inside = ix0 >= 0 && ix0 + g.kernel <= g.in.width;
        for (int ky = 0; ky < g.kernel; ++ky) {
          float* dst = row + ky * run;
          const int iy = oy * g.stride - g.padding + ky;
          if (iy < 0 || iy >= g.in.height) {
            for (int k = 0; k < run; ++k) dst[k] = 0.0f;
            continue;
          }
          const float* src_row = image + static_cast<size_t>(iy) * g.in.width * cin;
          if (columns_inside) {
            const float* src = src_row + static_cast<size_t>(ix0) * cin;
            for (int k = 0; k < run; ++k) dst[k] = src[k];
            continue;
          }
          for (int kx = 0; kx < g.kernel; ++kx) {
            const int ix = ix0 + kx;
            float* d = dst + kx * cin;
            if (ix < 0 || ix >= g.in.width) {
              for (int c = 0; c < cin; ++c) d[c] = 0.0f;
            } else {
              const float* src = src_row + static_cast<size_t>(ix) * cin;
              for (int c = 0; c < cin; ++c) d[c] = src[c];
            }
          }
        }
      }
    }
  }
}

void Conv2DLayer::Col2Im(const float* col, int begin, int end, Tensor* din) const {
  const ConvGeometry& g = geometry_;
  const int cin = g.in.channels;
  const int run = g.kernel * cin;
  std::memset(din->sample(begin), 0, sizeof(float) * din->sample_size() * (end - begin));
  const float* row = col;
  for (int n = begin; n < end; ++n) {
    float* image = din->sample(n);
    for (int oy = 0; oy < g.out.height; ++oy) {
      for (int ox = 0; ox < g.out.width; ++ox, row += patch_) {
        const int ix0 = ox * g.stride - g.padding;
        const bool columns_inside = ix0 >= 0 && ix0 + g.kernel <= g.in.width;
        for (int ky = 0; ky < g.kernel; ++ky) {
          const int iy = oy * g.stride - g.padding + ky;
          if (iy < 0 || iy >= g.in.height) continue;
          const float* src = row + ky * run;
          float* dst_row = image + static_cast<size_t>(iy) * g.in.width * cin;
          if (columns_inside) {
            float* dst = dst_row + static_cast<size_t>(ix0) * cin;
            for (int k = 0; k < run; ++k) dst[k] += src[k];
            continue;
          }
          for (int kx = 0; kx < g.kernel; ++kx) {
            const int ix = ix0 + kx;
            if (ix < 0 || ix >= g.in.width) continue;
            float* dst = dst_row + static_cast<size_t>(ix) * cin;
            const float* s = src + kx * cin;
            for (int c = 0; c < cin; ++c) dst[c] += s[c];
          }
        }
      }
    }
  }
}

void Conv2DLayer::ComputeForward(const float* w, const float* b, const Tensor& in, Tensor* out) {
  out->Resize(in.n, geometry_.out);
  const int positions = geometry_.out.height * geometry_.out.width;
  RunInTwoParts([&](int part) {
    int begin, end;
    PartRange(in.n, part, &begin, &end);
    if (end <= begin) return;
    const float* col = in.sample(begin);
    if (!direct()) {
      col_[part].resize(static_cast<size_t>(end - begin) * positions * patch_);
      Im2Col(in, begin, end, col_[part].data());
      col = col_[part].data();
    }
    AffineRows(col, w, b, (end - begin) * positions, patch_, filters_, out->sample(begin));
  });
}

void Conv2DLayer::ComputeBackward(const float* w, const Tensor& in, const Tensor& dout, Tensor* din, float* dw,
                                  float* db) {
  if (din != nullptr) din->Resize(in.n, in.shape);
  const int positions = geometry_.out.height * geometry_.out.width;
  RunInTwoParts([&](int part) {
    int begin, end;
    PartRange(in.n, part, &begin, &end);
    const int rows = (end - begin) * positions;
    float* part_w = part_dw_[part].data();
    const float* col = direct() ? in.sample(std::min(begin, in.n - 1)) : col_[part].data();
    float* dcol = nullptr;
    if (din != nullptr && rows > 0) {
      if (direct()) {
        dcol = din->sample(begin);
      } else {
        dcol_[part].resize(static_cast<size_t>(rows) * patch_);
        dcol = dcol_[part].data();
      }
    }
    AffineRowsBackward(col, w, dout.data.data() + static_cast<size_t>(begin) * positions * filters_, rows, patch_,
                       filters_, part_w, part_w + weight_.size(), dcol);
    if (din != nullptr && rows > 0 && !direct()) Col2Im(dcol, begin, end, din);
  });
  const size_t n = weight_.size();
  for (size_t i = 0; i < n; ++i) dw[i] = part_dw_[0][i] + part_dw_[1][i];
  for (int c = 0; c < filters_; ++c) db[c] = part_dw_[0][n + c] + part_dw_[1][n + c];
}

// ---------------------------------------------------------------- depthwise

DepthwiseConv2DLayer::DepthwiseConv2DLayer(int kernel, int stride, int padding) {
  geometry_.kernel = kernel;
  geometry_.stride = stride;
  geometry_.padding = padding;
}

ImageShape DepthwiseConv2DLayer::Setup(const ImageShape& input) {
  geometry_.in = input;
  geometry_.out = {(input.height + 2 * geometry_.padding - geometry_.kernel) / geometry_.stride + 1,
                   (input.width + 2 * geometry_.padding - geometry_.kernel) / geometry_.stride + 1, input.channels};
  Allocate(static_cast<size_t>(geometry_.kernel) * geometry_.kernel * input.channels, input.channels);
  for (auto& dw : part_dw_) dw.assign(weight_.size() + input.channels, 0.0f);
  return geometry_.out;
}

void DepthwiseConv2DLayer::ChannelSpan(int channel, size_t* first, size_t* count, size_t* stride) const {
  *first = channel;
  *count = static_cast<size_t>(geometry_.kernel) * geometry_.kernel;
  *stride = geometry_.in.channels;
}

void DepthwiseConv2DLayer::ComputeForward(const float* w, const float* b, const Tensor& in, Tensor* out) {
  const ConvGeometry& g = geometry_;
  out->Resize(in.n, g.out);
  const int channels = g.in.channels;
  RunInTwoParts([&](int part) {
    int begin, end;
    PartRange(in.n, part, &begin, &end);
    for (int n = begin; n < end; ++n) {
      const float* image = in.sample(n);
      float* result = out->sample(n);
      for (int oy = 0; oy < g.out.height; ++oy) {
        for (int ox = 0; ox < g.out.width; ++ox) {
          float* o = result + (static_cast<size_t>(oy) * g.out.width + ox) * channels;
          for (int c = 0; c < channels; ++c) o[c] = b[c];
          for (int ky = 0; ky < g.kernel; ++ky) {
            const int iy = oy * g.stride - g.padding + ky;
            if (iy < 0 || iy >= g.in.height) continue;
            for (int kx = 0; kx < g.kernel; ++kx) {
              const int ix = ox * g.stride - g.padding + kx;
              if (ix < 0 || ix >= g.in.width) continue;
              const float* x = image + (static_cast<size_t>(iy) * g.in.width + ix) * channels;
              const float* k = w + (static_cast<size_t>(ky) * g.kernel + kx) * channels;
              for (int c = 0; c < channels; ++c) o[c] += x[c] * k[c];
            }
          }
        }
      }
    }
  });
}

void DepthwiseConv2DLayer::ComputeBackward(const float* w, const Tensor& in, const Tensor& dout, Tensor* din,
                                           float* dw, float* db) {
  const ConvGeometry& g = geometry_;
  if (din != nullptr) din->Resize(in.n, in.shape);
  const int channels = g.in.channels;
  const size_t weights = weight_.size();
  RunInTwoParts([&](int part) {
    int begin, end;
    PartRange(in.n, part, &begin, &end);
    float* part_w = part_dw_[part].data();
    std::fill(part_dw_[part].begin(), part_dw_[part].end(), 0.0f);
    float* part_b = part_w + weights;
    for (int n = begin; n < end; ++n) {
      const float* image = in.sample(n);
      const float* grad = dout.sample(n);
      float* grad_in = din != nullptr ? din->sample(n) : nullptr;
      if (grad_in != nullptr) std::memset(grad_in, 0, sizeof(float) * din->sample_size());
      for (int oy = 0; oy < g.out.height; ++oy) {
        for (int ox = 0; ox < g.out.width; ++ox) {
          const float* go = grad + (static_cast<size_t>(oy) * g.out.width + ox) * channels;
          for (int c = 0; c < channels; ++c) part_b[c] += go[c];
          for (int ky = 0; ky < g.kernel; ++ky) {
            const int iy = oy * g.stride - g.padding + ky;
            if (iy < 0 || iy >= g.in.height) continue;
            for (int kx = 0; kx < g.kernel; ++kx) {
              const int ix = ox * g.stride - g.padding + kx;
              if (ix < 0 || ix >= g.in.width) continue;
              const size_t offset = (static_cast<size_t>(iy) * g.in.width + ix) * channels;
              const size_t k = (static_cast<size_t>(ky) * g.kernel + kx) * channels;
              const float* x = image + offset;
              for (int c = 0; c < channels; ++c) part_w[k + c] += go[c] * x[c];
              if (grad_in != nullptr) {
                float* gi = grad_in + offset;
                for (int c = 0; c < channels; ++c) gi[c] += go[c] * w[k + c];
              }
            }
          }
        }
      }
    }
  });
  for (size_t i = 0; i < weights; ++i) dw[i] = part_dw_[0][i] + part_dw_[1][i];
  for (int c = 0; c < channels; ++c) db[c] = part_dw_[0][weights + c] + part_dw_[1][weights + c];
}

// ---------------------------------------------------------------- batchnorm

ImageShape BatchNormLayer::Setup(const ImageShape& input) {
  const int c = input.channels;
  gamma.assign(c, 1.0f);
  beta.assign(c, 0.0f);
  running_mean.assign(c, 0.0f);
  running_var.assign(c, 1.0f);
  grad_gamma.assign(c, 0.0f);
  grad_beta.assign(c, 0.0f);
  return input;
}

void BatchNormLayer::Forward(const Tensor& in, Tensor* out, bool training) {
  out->Resize(in.n, in.shape);
  if (folded_) {
    std::copy(in.data.begin(), in.data.end(), out->data.begin());
    return;
  }
  const int channels = in.shape.channels;
  const size_t positions = in.data.size() / channels;
  inverse_std_.resize(channels);
  FloatBuffer mean(running_mean), var(running_var);
  if (training) {
    std::vector<double> sum(channels, 0.0), sum_sq(channels, 0.0);
    for (size_t p = 0; p < positions; ++p) {
      const float* x = in.data.data() + p * channels;
      for (int c = 0; c < channels; ++c) sum[c] += x[c];
    }
    for (int c = 0; c < channels; ++c) mean[c] = static_cast<float>(sum[c] / positions);
    for (size_t p = 0; p < positions; ++p) {
      const float* x = in.data.data() + p * channels;
      for (int c = 0; c < channels; ++c) {
        const double d = x[c] - mean[c];
        sum_sq[c] += d * d;
      }
    }
    for (int c = 0; c < channels; ++c) {
      var[c] = static_cast<float>(sum_sq[c] / positions);
      if (!frozen_) {
        const double unbiased = positions > 1 ? sum_sq[c] / (positions - 1) : sum_sq[c];
        running_mean[c] += kMomentum * (mean[c] - running_mean[c]);
        running_var[c] += kMomentum * (static_cast<float>(unbiased) - running_var[c]);
      }
    }
    normalized_.resize(in.data.size());
  }
  for (int c = 0; c < channels; ++c) inverse_std_[c] = 1.0f / std::sqrt(var[c] + kEpsilon);
  for (size_t p = 0; p < positions; ++p) {
    const float* x = in.data.data() + p * channels;
    float* y = out->data.data() + p * channels;
    for (int c = 0; c < channels; ++c) {
      const float normalized = (x[c] - mean[c]) * inverse_std_[c];
      if (training) normalized_[p * channels + c] = normalized;
      y[c] = gamma[c] * normalized + beta[c];
    }
  }
}

void BatchNormLayer::Backward(const Tensor& in, const Tensor&, const Tensor& dout, Tensor* din) {
  if (folded_) {
    // gamma and beta gradients are written by the layer BN is folded into.
    if (din != nullptr) {
      din->Resize(in.n, in.shape);
      std::copy(dout.data.begin(), dout.data.end(), din->data.begin());
    }
    return;
  }
  const int channels = in.shape.channels;
  const size_t positions = in.data.size() / channels;
  std::vector<double> sum_dy(channels, 0.0), sum_dy_xhat(channels, 0.0);
  for (size_t p = 0; p < positions; ++p) {
    const float* dy = dout.data.data() + p * channels;
    const float* xhat = normalized_.data() + p * channels;
    for (int c = 0; c < channels; ++c) {
      sum_dy[c] += dy[c];
      sum_dy_xhat[c] += static_cast<double>(dy[c]) * xhat[c];
    }
  }
  for (int c = 0; c < channels; ++c) {
    grad_beta[c] = static_cast<float>(sum_dy[c]);
    grad_gamma[c] = static_cast<float>(sum_dy_xhat[c]);
  }
  if (din == nullptr) return;
  din->Resize(in.n, in.shape);
  const double m = static_cast<double>(positions);
  for (size_t p = 0; p < positions; ++p) {
    const float* dy = dout.data.data() + p * channels;
    const float* xhat = normalized_.data() + p * channels;
    float* dx = din->data.data() + p * channels;
    for (int c = 0; c < channels; ++c) {
      dx[c] = static_cast<float>(gamma[c] * inverse_std_[c] *
                                 (dy[c] - sum_dy[c] / m - xhat[c] * sum_dy_xhat[c] / m));
    }
  }
}

void BatchNormLayer::Parameters(std::vector<ParameterRef>* params) {
  params->push_back({gamma.data(), grad_gamma.data(), gamma.size(), false});
  params->push_back({beta.data(), grad_beta.data(), beta.size(), false});
}

void BatchNormLayer::State(std::vector<FloatBuffer*>* state) {
  state->push_back(&gamma);
  state->push_back(&beta);
  state->push_back(&running_mean);
  state->push_back(&running_var);
}

// ---------------------------------------------------------------- relu

void ReluLayer::Forward(const Tensor& in, Tensor* out, bool) {
  out->Resize(in.n, in.shape);
  const float* x = in.data.data();
  float* y = out->data.data();
  const float cap = cap_ > 0 ? cap_ : 3.4e38f;
  RunInTwoParts([&](int part) {
    int begin, end;
    PartRange(static_cast<int>(in.data.size()), part, &begin, &end);
    for (int i = begin; i < end; ++i) y[i] = std::min(std::max(x[i], 0.0f), cap);
  });
}

void ReluLayer::Backward(const Tensor& in, const Tensor&, const Tensor& dout, Tensor* din) {
  if (din == nullptr) return;
  din->Resize(in.n, in.shape);
  const float* x = in.data.data();
  const float* dy = dout.data.data();
  float* dx = din->data.data();
  const float cap = cap_ > 0 ? cap_ : 3.4e38f;
  RunInTwoParts([&](int part) {
    int begin, end;
    PartRange(static_cast<int>(in.data.size()), part, &begin, &end);
    for (int i = begin; i < end; ++i) dx[i] = (x[i] > 0.0f && x[i] < cap) ? dy[i] : 0.0f;
  });
}

// ---------------------------------------------------------------- pooling

ImageShape PoolLayer::Setup(const ImageShape& input) {
  in_ = input;
  out_ = {input.height / pool_, input.width / pool_, input.channels};
  return out_;
}

void PoolLayer::Forward(const Tensor& in, Tensor* out, bool training) {
  out->Resize(in.n, out_);
  const int channels = in_.channels;
  if (max_ && training) argmax_.resize(out->data.size());
  const float inverse_window = 1.0f / static_cast<float>(pool_ * pool_);
  RunInTwoParts([&](int part) {
    int begin, end;
    PartRange(in.n, part, &begin, &end);
    for (int n = begin; n < end; ++n) {
      const float* x = in.sample(n);
      float* y = out->sample(n);
      int32_t* arg = max_ && training ? argmax_.data() + n * out->sample_size() : nullptr;
      for (int oy = 0; oy < out_.height; ++oy) {
        for (int ox = 0; ox < out_.width; ++ox) {
          const size_t o = (static_cast<size_t>(oy) * out_.width + ox) * channels;
          float* result = y + o;
          // Window elements in row order; the first maximum wins ties.
          const int32_t first = ((oy * pool_) * in_.width + ox * pool_) * channels;
          for (int c = 0; c < channels; ++c) result[c] = x[first + c];
          if (arg != nullptr) {
            for (int c = 0; c < channels; ++c) arg[o + c] = first + c;
          }
          for (int ky = 0; ky < pool_; ++ky) {
            for (int kx = 0; kx < pool_; ++kx) {
              if (ky == 0 && kx == 0) continue;
              const int32_t i = ((oy * pool_ + ky) * in_.width + ox * pool_ + kx) * channels;
              const float* v = x + i;
              if (!max_) {
                for (int c = 0; c < channels; ++c) result[c] += v[c];
              } else if (arg != nullptr) {
                int32_t* a = arg + o;
                for (int c = 0; c < channels; ++c) {
                  // Branch-free so the loop vectorizes.
                  const bool greater = v[c] > result[c];
                  result[c] = greater ? v[c] : result[c];
                  a[c] = greater ? i + c : a[c];
                }
              } else {
                for (int c = 0; c < channels; ++c) result[c] = v[c] > result[c] ? v[c] : result[c];
              }
            }
          }
          if (!max_) {
            for (int c = 0; c < channels; ++c) result[c] *= inverse_window;
          }
        }
      }
    }
  });
}

void PoolLayer::Backward(const Tensor& in, const Tensor&, const Tensor& dout, Tensor* din) {
  if (din == nullptr) return;
  din->Resize(in.n, in.shape);
  const int channels = in_.channels;
  const float inverse_window = 1.0f / static_cast<float>(pool_ * pool_);
  const size_t out_size = dout.sample_size();
  RunInTwoParts([&](int part) {
  int first, last;
  PartRange(in.n, part, &first, &last);
  if (last > first) std::memset(din->sample(first), 0, sizeof(float) * din->sample_size() * (last - first));
  for (int n = first; n < last; ++n) {
    const float* dy = dout.sample(n);
    float* dx = din->sample(n);
    if (max_) {
      const int32_t* arg = argmax_.data() + n * out_size;
      for (size_t o = 0; o < out_size; ++o) dx[arg[o]] += dy[o];
      continue;
    }
    for (int oy = 0; oy < out_.height; ++oy) {
      for (int ox = 0; ox < out_.width; ++ox) {
        for (int c = 0; c < channels; ++c) {
          const float g = dy[(static_cast<size_t>(oy) * out_.width + ox) * channels + c] * inverse_window;
          for (int ky = 0; ky < pool_; ++ky) {
            for (int kx = 0; kx < pool_; ++kx) {
              dx[((oy * pool_ + ky) * in_.width + ox * pool_ + kx) * channels + c] += g;
            }
          }
        }
      }
    }
  }
  });
}

ImageShape GlobalAvgPoolLayer::Setup(const ImageShape& input) {
  in_ = input;
  return {1, 1, input.channels};
}

void GlobalAvgPoolLayer::Forward(const Tensor& in, Tensor* out, bool) {
  out->Resize(in.n, {1, 1, in_.channels});
  const int channels = in_.channels;
  const int positions = in_.height * in_.width;
  const float inverse = 1.0f / static_cast<float>(positions);
  for (int n = 0; n < in.n; ++n) {
    const float* x = in.sample(n);
    float* y = out->sample(n);
    for (int c = 0; c < channels; ++c) y[c] = 0.0f;
    for (int p = 0; p < positions; ++p) {
      for (int c = 0; c < channels; ++c) y[c] += x[p * channels + c];
    }
    for (int c = 0; c < channels; ++c) y[c] *= inverse;
  }
}

void GlobalAvgPoolLayer::Backward(const Tensor& in, const Tensor&, const Tensor& dout, Tensor* din) {
  if (din == nullptr) return;
  din->Resize(in.n, in.shape);
  const int channels = in_.channels;
  const int positions = in_.height * in_.width;
  const float inverse = 1.0f / static_cast<float>(positions);
  for (int n = 0; n < in.n; ++n) {
    const float* dy = dout.sample(n);
    float* dx = din->sample(n);
    for (int p = 0; p < positions; ++p) {
      for (int c = 0; c < channels; ++c) dx[p * channels + c] = dy[c] * inverse;
    }
  }
}

void FlattenLayer::Forward(const Tensor& in, Tensor* out, bool) {
  out->Resize(in.n, {1, 1, in.shape.size()});
  std::copy(in.data.begin(), in.data.end(), out->data.begin());
}

void FlattenLayer::Backward(const Tensor& in, const Tensor&, const Tensor& dout, Tensor* din) {
  if (din == nullptr) return;
  din->Resize(in.n, in.shape);
  std::copy(dout.data.begin(), dout.data.end(), din->data.begin());
}

double SoftmaxCrossEntropy(const Tensor& logits, const int32_t* labels, Tensor* grad) {
  const int classes = logits.shape.size();
  if (grad != nullptr) grad->Resize(logits.n, logits.shape);
  double loss = 0;
  const float inverse_batch = 1.0f / static_cast<float>(logits.n);
  for (int n = 0; n < logits.n; ++n) {
    const float* z = logits.sample(n);
    const float top = *std::max_element(z, z + classes);
    double sum = 0;
    for (int c = 0; c < classes; ++c) sum += std::exp(static_cast<double>(z[c] - top));
    loss += std::log(sum) - (z[labels[n]] - top);
    if (grad != nullptr) {
      float* g = grad->sample(n);
      for (int c = 0; c < classes; ++c) {
        const double p = std::exp(static_cast<double>(z[c] - top)) / sum;
        g[c] = static_cast<float>(p - (c == labels[n] ? 1.0 : 0.0)) * inverse_batch;
      }
    }
  }
  return loss / logits.n;
}

}  // namespace qatlab
