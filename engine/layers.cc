#include "engine/layers.h"

#include <Eigen/Core>
#include <algorithm>
#include <cmath>
#include <cstring>
#if defined(__AVX__)
#include <immintrin.h>
#endif

#include "engine/parallel.h"

namespace qatlab {
namespace {

using RowMatrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using ConstMap = Eigen::Map<const RowMatrix>;
using MutableMap = Eigen::Map<RowMatrix>;
using ConstRow = Eigen::Map<const Eigen::RowVectorXf>;

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
// The product accumulates onto the bias: `y = x * W^T` would first zero y
// and then need another pass to add it.
void AffineRows(const float* in, const float* w, const float* b, int rows, int inputs, int outputs, float* out) {
  if (rows <= 0) return;
  ConstMap x(in, rows, inputs);
  ConstMap weights(w, outputs, inputs);
  MutableMap y(out, rows, outputs);
  y.rowwise() = ConstRow(b, outputs);
  y.noalias() += x * weights.transpose();
}

// dW_part += dY^T X, db_part += column sums of dY, dX = dY W (when dx).
void AffineRowsBackward(const float* in, const float* w, const float* dout, int rows, int inputs, int outputs,
                        float* dw, float* db, float* dx) {
  if (rows <= 0) return;
  MutableMap grad_w(dw, outputs, inputs);
  ConstMap x(in, rows, inputs);
  ConstMap dy(dout, rows, outputs);
  grad_w.noalias() += dy.transpose() * x;
  // Column sums in plain row order (Eigen's reduction order could depend on
  // alignment).
  for (int r = 0; r < rows; ++r) {
    const float* row = dout + static_cast<size_t>(r) * outputs;
    for (int c = 0; c < outputs; ++c) db[c] += row[c];
  }
  if (dx != nullptr) {
    MutableMap grad_x(dx, rows, inputs);
    grad_x.noalias() = dy * ConstMap(w, outputs, inputs);
  }
}

// The element loops below take everything by value: a loop that reads a
// lambda's by-reference captures must reload them after every store (the
// store might alias them), which keeps it scalar and branchy.

// y = min(max(x, 0), cap) over `count` elements.
void ClampRange(const float* x, float cap, int count, float* y) {
  for (int i = 0; i < count; ++i) y[i] = std::min(std::max(x[i], 0.0f), cap);
}

// dx = dy where 0 < x < cap, else 0.
void ClampBackwardRange(const float* x, const float* dy, float cap, int count, float* dx) {
  for (int i = 0; i < count; ++i) {
    const bool pass = (x[i] > 0.0f) & (x[i] < cap);
    dx[i] = pass ? dy[i] : 0.0f;
  }
}

// sum[c] += x and sum_sq[c] += x^2 over `positions` rows of `channels`, in
// double.
void AddChannelSums(const float* x, size_t positions, int channels, double* sum, double* sum_sq) {
  for (size_t p = 0; p < positions; ++p) {
    const float* row = x + p * channels;
    for (int c = 0; c < channels; ++c) {
      const double v = row[c];
      sum[c] += v;
      sum_sq[c] += v * v;
    }
  }
}

// Filters are processed eight at a time (one AVX register of floats); the
// single-channel convolution pads its filter count up to a multiple.
constexpr int kFilterBlock = 8;

// Eight floats as one vector register.
using EightFloats = Eigen::Array<float, kFilterBlock, 1>;

// dst = src and dst += src over `count` floats, for the short runs of
// im2col and col2im: eight at a time without the overlap checks a plain
// loop would make at every call.
void CopyFloats(const float* src, int count, float* dst) {
  int k = 0;
  for (; k + 8 <= count; k += 8) Eigen::Map<EightFloats>(dst + k) = Eigen::Map<const EightFloats>(src + k);
  for (; k < count; ++k) dst[k] = src[k];
}

void AddFloats(const float* src, int count, float* dst) {
  int k = 0;
  for (; k + 8 <= count; k += 8) Eigen::Map<EightFloats>(dst + k) += Eigen::Map<const EightFloats>(src + k);
  for (; k < count; ++k) dst[k] += src[k];
}

int RoundUpToFilterBlock(int filters) { return (filters + kFilterBlock - 1) / kFilterBlock * kFilterBlock; }

// Output pixels computed together: their sums are independent, so the
// multiply-adds of one do not wait for those of the previous one.
constexpr int kPixelBlock = 4;

// Eight filters' values.
using FilterBlock = EightFloats;
using ConstFilterBlockMap = Eigen::Map<const FilterBlock>;
using FilterBlockMap = Eigen::Map<FilterBlock>;

// kPixels consecutive output pixels of a single-channel convolution, all
// filters. x: the padded input at the first pixel's window; weight:
// [taps][blocked]; bias: [blocked]; out: kPixels x blocked. Each output is
// the bias plus the taps' products in row order.
template <int kPixels>
void ConvolvePixels(const float* x, int padded_width, const ConvGeometry& g, const float* weight, const float* bias,
                    int blocked, float* out) {
  for (int f0 = 0; f0 < blocked; f0 += kFilterBlock) {
    FilterBlock sum[kPixels];
    for (int p = 0; p < kPixels; ++p) sum[p] = ConstFilterBlockMap(bias + f0);
    for (int ky = 0; ky < g.kernel; ++ky) {
      for (int kx = 0; kx < g.kernel; ++kx) {
        const FilterBlock w = ConstFilterBlockMap(weight + (ky * g.kernel + kx) * blocked + f0);
        const float* in = x + ky * padded_width + kx;
        for (int p = 0; p < kPixels; ++p) sum[p] += in[p * g.stride] * w;
      }
    }
    for (int p = 0; p < kPixels; ++p) FilterBlockMap(out + p * blocked + f0) = sum[p];
  }
}

// out: (OH, OW, blocked) of one single-channel image, zero-padded to
// `padded_width` columns; `blocked` = filters rounded up to kFilterBlock.
void ConvolveSingleChannel(const float* padded, int padded_width, const ConvGeometry& g, const float* weight,
                           const float* bias, int blocked, float* out) {
  for (int oy = 0; oy < g.out.height; ++oy) {
    const float* row = padded + static_cast<size_t>(oy * g.stride) * padded_width;
    float* result = out + static_cast<size_t>(oy) * g.out.width * blocked;
    int ox = 0;
    for (; ox + kPixelBlock <= g.out.width; ox += kPixelBlock) {
      ConvolvePixels<kPixelBlock>(row + ox * g.stride, padded_width, g, weight, bias, blocked, result + ox * blocked);
    }
    for (; ox < g.out.width; ++ox) {
      ConvolvePixels<1>(row + ox * g.stride, padded_width, g, weight, bias, blocked, result + ox * blocked);
    }
  }
}

// The weight gradient of one sample added to dw ([taps][blocked]); dout:
// (OH, OW, blocked); geometry as ConvolveSingleChannel. Each tap's sum runs
// over kPixelBlock interleaved partial sums, added pairwise at the end.
void SingleChannelWeightGradient(const float* padded, int padded_width, const ConvGeometry& g, const float* dout,
                                 int blocked, float* dw) {
  static_assert(kPixelBlock == 4, "the partial sums are added pairwise");
  for (int ky = 0; ky < g.kernel; ++ky) {
    for (int kx = 0; kx < g.kernel; ++kx) {
      for (int f0 = 0; f0 < blocked; f0 += kFilterBlock) {
        FilterBlock sum[kPixelBlock];
        for (auto& partial : sum) partial.setZero();
        for (int oy = 0; oy < g.out.height; ++oy) {
          const float* x = padded + static_cast<size_t>(oy * g.stride + ky) * padded_width + kx;
          const float* grad = dout + static_cast<size_t>(oy) * g.out.width * blocked + f0;
          int ox = 0;
          for (; ox + kPixelBlock <= g.out.width; ox += kPixelBlock) {
            for (int p = 0; p < kPixelBlock; ++p) {
              sum[p] += x[(ox + p) * g.stride] * ConstFilterBlockMap(grad + (ox + p) * blocked);
            }
          }
          for (; ox < g.out.width; ++ox) sum[0] += x[ox * g.stride] * ConstFilterBlockMap(grad + ox * blocked);
        }
        FilterBlockMap(dw + (ky * g.kernel + kx) * blocked + f0) += (sum[0] + sum[1]) + (sum[2] + sum[3]);
      }
    }
  }
}

// The input gradient of one sample, added to the zero-padded `padded_grad`;
// w: [filters][taps] as the layer stores it.
void SingleChannelInputGradient(const float* dout, const float* w, const ConvGeometry& g, int filters,
                                int padded_width, float* padded_grad) {
  const int taps = g.kernel * g.kernel;
  for (int oy = 0; oy < g.out.height; ++oy) {
    for (int ox = 0; ox < g.out.width; ++ox) {
      float* window = padded_grad + static_cast<size_t>(oy * g.stride) * padded_width + ox * g.stride;
      const float* grad = dout + (static_cast<size_t>(oy) * g.out.width + ox) * filters;
      for (int ky = 0; ky < g.kernel; ++ky) {
        for (int kx = 0; kx < g.kernel; ++kx) {
          const int tap = ky * g.kernel + kx;
          float sum = 0.0f;
          for (int f = 0; f < filters; ++f) sum += grad[f] * w[f * taps + tap];
          window[ky * padded_width + kx] += sum;
        }
      }
    }
  }
}

// Pooling of one sample, window = stride = pool, no padding (PoolLayer).
// Each loops over the channels of one pixel innermost, the contiguous run
// that vectorizes. The max-pooling loops take eight channels at a time with
// AVX where the compiler targets it (bit-identical to the plain loops after
// them, which take the rest).

// y = the window maximum; ties and order as a row-order scan that replaces
// the running maximum only by a greater value (what _mm256_max_ps(v, m)
// computes: v > m ? v : m). When `winner` is not null it receives, per
// output, the window index (ky * pool + kx) of the maximum as a float: a
// quarter of the input's size for backward to read, instead of the input.
void MaxPoolSample(const float* x, const ImageShape& in, const ImageShape& out, int pool, float* y, float* winner) {
  const int channels = in.channels;
  for (int oy = 0; oy < out.height; ++oy) {
    for (int ox = 0; ox < out.width; ++ox) {
      const size_t o = (static_cast<size_t>(oy) * out.width + ox) * channels;
      const float* first = x + (static_cast<size_t>(oy * pool) * in.width + ox * pool) * channels;
      int c = 0;
#if defined(__AVX__)
      for (; c + 8 <= channels; c += 8) {
        __m256 top = _mm256_loadu_ps(first + c);
        __m256 index = _mm256_setzero_ps();
        for (int ky = 0; ky < pool; ++ky) {
          for (int kx = 0; kx < pool; ++kx) {
            if (ky == 0 && kx == 0) continue;
            const __m256 v = _mm256_loadu_ps(first + (static_cast<size_t>(ky) * in.width + kx) * channels + c);
            const __m256 greater = _mm256_cmp_ps(v, top, _CMP_GT_OQ);
            top = _mm256_max_ps(v, top);
            index = _mm256_blendv_ps(index, _mm256_set1_ps(static_cast<float>(ky * pool + kx)), greater);
          }
        }
        _mm256_storeu_ps(y + o + c, top);
        if (winner != nullptr) _mm256_storeu_ps(winner + o + c, index);
      }
#endif
      for (; c < channels; ++c) {
        float top = first[c];
        float index = 0.0f;
        for (int ky = 0; ky < pool; ++ky) {
          for (int kx = 0; kx < pool; ++kx) {
            const float v = first[(static_cast<size_t>(ky) * in.width + kx) * channels + c];
            const bool greater = v > top;
            top = greater ? v : top;
            index = greater ? static_cast<float>(ky * pool + kx) : index;
          }
        }
        y[o + c] = top;
        if (winner != nullptr) winner[o + c] = index;
      }
    }
  }
}

// The whole of dy goes to the input MaxPoolSample recorded in `winner`.
// Writes every covered element of dx.
void MaxPoolBackwardSample(const float* winner, const float* dy, const ImageShape& in, const ImageShape& out,
                           int pool, float* dx) {
  const int channels = in.channels;
  for (int oy = 0; oy < out.height; ++oy) {
    for (int ox = 0; ox < out.width; ++ox) {
      const size_t o = (static_cast<size_t>(oy) * out.width + ox) * channels;
      float* first = dx + (static_cast<size_t>(oy * pool) * in.width + ox * pool) * channels;
      int c = 0;
#if defined(__AVX__)
      for (; c + 8 <= channels; c += 8) {
        const __m256 index = _mm256_loadu_ps(winner + o + c);
        const __m256 grad = _mm256_loadu_ps(dy + o + c);
        for (int ky = 0; ky < pool; ++ky) {
          for (int kx = 0; kx < pool; ++kx) {
            const __m256 hit = _mm256_cmp_ps(index, _mm256_set1_ps(static_cast<float>(ky * pool + kx)), _CMP_EQ_OQ);
            _mm256_storeu_ps(first + (static_cast<size_t>(ky) * in.width + kx) * channels + c,
                             _mm256_and_ps(hit, grad));
          }
        }
      }
#endif
      for (; c < channels; ++c) {
        for (int ky = 0; ky < pool; ++ky) {
          for (int kx = 0; kx < pool; ++kx) {
            const bool hit = winner[o + c] == static_cast<float>(ky * pool + kx);
            first[(static_cast<size_t>(ky) * in.width + kx) * channels + c] = hit ? dy[o + c] : 0.0f;
          }
        }
      }
    }
  }
}

// y = the window mean (sum in row order, then times 1 / pool^2).
void AveragePoolSample(const float* x, const ImageShape& in, const ImageShape& out, int pool, float* y) {
  const int channels = in.channels;
  const float inverse_window = 1.0f / static_cast<float>(pool * pool);
  for (int oy = 0; oy < out.height; ++oy) {
    for (int ox = 0; ox < out.width; ++ox) {
      float* result = y + (static_cast<size_t>(oy) * out.width + ox) * channels;
      const float* first = x + (static_cast<size_t>(oy * pool) * in.width + ox * pool) * channels;
      for (int c = 0; c < channels; ++c) result[c] = first[c];
      for (int ky = 0; ky < pool; ++ky) {
        for (int kx = 0; kx < pool; ++kx) {
          if (ky == 0 && kx == 0) continue;
          const float* v = x + (static_cast<size_t>(oy * pool + ky) * in.width + ox * pool + kx) * channels;
          for (int c = 0; c < channels; ++c) result[c] += v[c];
        }
      }
      for (int c = 0; c < channels; ++c) result[c] *= inverse_window;
    }
  }
}

// Every element of a window gets dy / pool^2. Writes every covered element
// of dx.
void AveragePoolBackwardSample(const float* dy, const ImageShape& in, const ImageShape& out, int pool, float* dx) {
  const int channels = in.channels;
  const float inverse_window = 1.0f / static_cast<float>(pool * pool);
  for (int oy = 0; oy < out.height; ++oy) {
    for (int ox = 0; ox < out.width; ++ox) {
      const float* g = dy + (static_cast<size_t>(oy) * out.width + ox) * channels;
      for (int ky = 0; ky < pool; ++ky) {
        for (int kx = 0; kx < pool; ++kx) {
          float* d = dx + (static_cast<size_t>(oy * pool + ky) * in.width + ox * pool + kx) * channels;
          for (int c = 0; c < channels; ++c) d[c] = g[c] * inverse_window;
        }
      }
    }
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
  for (auto& part : part_dw_) part.assign(weight_count + out_channels, 0.0f);
}

void WeightedLayer::SumPartGradients(float* dw, float* db) const {
  const size_t n = weight_.size();
  for (size_t i = 0; i < n; ++i) dw[i] = part_dw_[0][i] + part_dw_[1][i];
  for (int c = 0; c < out_channels_; ++c) db[c] = part_dw_[0][n + c] + part_dw_[1][n + c];
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
  RefreshEffectiveWeights(false);
  if (quantization.frozen) FreezeWeightScales();
  if (quantization.learned) EnableLearnedWeightScales();
}

void WeightedLayer::FreezeWeightScales() {
  // Keeps the scales the weights were last computed with (MSE scales are not
  // searched again: the final weights were trained against these, and a
  // fresh search can pick a different clipping and re-round every weight).
  quantization_.frozen = false;
  RefreshEffectiveWeights(false);
  quantization_.frozen = true;
}

void WeightedLayer::EnableLearnedWeightScales() {
  RefreshEffectiveWeights(false);
  quantization_.learned = true;
}

void WeightedLayer::RefreshEffectiveWeights(bool training) {
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
  // kMseRefreshInterval training forwards) they are kept, which a small QAT
  // learning rate barely notices. Evaluation never moves them, so it sees the
  // scales training last used, whenever it runs.
  const bool reuse_mse_scales = quantization_.method == RangeMethod::kMse && scales_valid_ &&
                                (!training || (refresh_count_++ % kMseRefreshInterval) != 0);
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
  RefreshEffectiveWeights(training);
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
  // Sums per half batch, then part 0's plus part 1's (engine/parallel.h).
  std::vector<double> part_sums[2];
  RunInTwoParts([&](int part) {
    int begin, end;
    PartRange(out.n, part, &begin, &end);
    std::vector<double>& sums = part_sums[part];
    sums.assign(2 * static_cast<size_t>(channels), 0.0);
    AddChannelSums(out.data.data() + static_cast<size_t>(begin) * out.sample_size(),
                   static_cast<size_t>(end - begin) * out.sample_size() / channels, channels, sums.data(),
                   sums.data() + channels);
  });
  std::vector<double> sum(channels), sum_sq(channels);
  for (int c = 0; c < channels; ++c) {
    sum[c] = part_sums[0][c] + part_sums[1][c];
    sum_sq[c] = part_sums[0][channels + c] + part_sums[1][channels + c];
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
    std::fill(part_dw_[part].begin(), part_dw_[part].end(), 0.0f);
    float* part_w = part_dw_[part].data();
    AffineRowsBackward(in.sample(begin), w, dout.sample(begin), end - begin, inputs_, units_, part_w,
                       part_w + weight_.size(), din != nullptr ? din->sample(begin) : nullptr);
  });
  SumPartGradients(dw, db);
}

// ---------------------------------------------------------------- conv2d

Conv2DLayer::Conv2DLayer(int filters, int kernel, int stride, int padding)
    : filters_(filters), geometry_{kernel, stride, padding, {}, {}} {}

ImageShape Conv2DLayer::Setup(const ImageShape& input) {
  geometry_.SetInput(input, filters_);
  patch_ = geometry_.kernel * geometry_.kernel * input.channels;
  Allocate(static_cast<size_t>(filters_) * patch_, filters_);
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
            CopyFloats(src, run, dst);
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
            AddFloats(src, run, dst);
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

void Conv2DLayer::ArrangeTapMajor(const float* w, const float* b) {
  const int taps = geometry_.kernel * geometry_.kernel;
  const int blocked = RoundUpToFilterBlock(filters_);
  tap_major_weight_.assign(static_cast<size_t>(taps) * blocked, 0.0f);
  for (int f = 0; f < filters_; ++f) {
    for (int t = 0; t < taps; ++t) tap_major_weight_[t * blocked + f] = w[f * taps + t];
  }
  blocked_bias_.assign(blocked, 0.0f);
  std::copy(b, b + filters_, blocked_bias_.begin());
}

void Conv2DLayer::SingleChannelForward(const float* w, const float* b, const Tensor& in, Tensor* out) {
  const ConvGeometry& g = geometry_;
  ArrangeTapMajor(w, b);
  const int blocked = RoundUpToFilterBlock(filters_);
  const int padded_width = g.in.width + 2 * g.padding;
  const size_t padded_size = static_cast<size_t>(g.in.height + 2 * g.padding) * padded_width;
  const size_t pixels = static_cast<size_t>(g.out.height) * g.out.width;
  RunInTwoParts([&](int part) {
    int begin, end;
    PartRange(in.n, part, &begin, &end);
    // The border stays zero; each sample overwrites the interior.
    FloatBuffer& padded = padded_[part];
    padded.assign(padded_size, 0.0f);
    FloatBuffer& blocked_out = blocked_rows_[part];
    if (blocked != filters_) blocked_out.resize(pixels * blocked);
    for (int n = begin; n < end; ++n) {
      const float* image = in.sample(n);
      for (int y = 0; y < g.in.height; ++y) {
        std::copy(image + static_cast<size_t>(y) * g.in.width, image + static_cast<size_t>(y + 1) * g.in.width,
                  padded.begin() + static_cast<size_t>(y + g.padding) * padded_width + g.padding);
      }
      float* result = blocked == filters_ ? out->sample(n) : blocked_out.data();
      ConvolveSingleChannel(padded.data(), padded_width, g, tap_major_weight_.data(), blocked_bias_.data(), blocked,
                            result);
      if (blocked != filters_) {
        for (size_t p = 0; p < pixels; ++p) {
          std::copy(result + p * blocked, result + p * blocked + filters_, out->sample(n) + p * filters_);
        }
      }
    }
  });
}

void Conv2DLayer::SingleChannelBackward(const float* w, const Tensor& in, const Tensor& dout, Tensor* din, float* dw,
                                        float* db) {
  const ConvGeometry& g = geometry_;
  const int taps = g.kernel * g.kernel;
  const int blocked = RoundUpToFilterBlock(filters_);
  const int padded_width = g.in.width + 2 * g.padding;
  const size_t padded_size = static_cast<size_t>(g.in.height + 2 * g.padding) * padded_width;
  const size_t pixels = static_cast<size_t>(g.out.height) * g.out.width;
  const size_t weights = weight_.size();
  if (din != nullptr) din->Resize(in.n, in.shape);
  RunInTwoParts([&](int part) {
    int begin, end;
    PartRange(in.n, part, &begin, &end);
    FloatBuffer& padded = padded_[part];
    FloatBuffer& padded_grad = padded_grad_[part];
    FloatBuffer& blocked_grad = blocked_rows_[part];
    FloatBuffer& part_dw = tap_major_dw_[part];
    padded.assign(padded_size, 0.0f);
    if (blocked != filters_) blocked_grad.assign(pixels * blocked, 0.0f);
    part_dw.assign(static_cast<size_t>(taps) * blocked, 0.0f);
    FloatBuffer bias_sum(blocked, 0.0f);
    for (int n = begin; n < end; ++n) {
      const float* image = in.sample(n);
      for (int y = 0; y < g.in.height; ++y) {
        std::copy(image + static_cast<size_t>(y) * g.in.width, image + static_cast<size_t>(y + 1) * g.in.width,
                  padded.begin() + static_cast<size_t>(y + g.padding) * padded_width + g.padding);
      }
      const float* grad = dout.sample(n);
      if (blocked != filters_) {
        for (size_t p = 0; p < pixels; ++p) {
          std::copy(grad + p * filters_, grad + (p + 1) * filters_, blocked_grad.begin() + p * blocked);
        }
      }
      const float* rows = blocked == filters_ ? grad : blocked_grad.data();
      // Bias gradient: column sums in plain row order (a block of columns at
      // a time, each still summed row after row).
      for (size_t p = 0; p < pixels; ++p) {
        for (int f0 = 0; f0 < blocked; f0 += kFilterBlock) {
          FilterBlockMap(bias_sum.data() + f0) += ConstFilterBlockMap(rows + p * blocked + f0);
        }
      }
      SingleChannelWeightGradient(padded.data(), padded_width, g, rows, blocked, part_dw.data());
      if (din != nullptr) {
        padded_grad.assign(padded_size, 0.0f);
        SingleChannelInputGradient(grad, w, g, filters_, padded_width, padded_grad.data());
        float* grad_in = din->sample(n);
        for (int y = 0; y < g.in.height; ++y) {
          const auto row = padded_grad.begin() + static_cast<size_t>(y + g.padding) * padded_width + g.padding;
          std::copy(row, row + g.in.width, grad_in + static_cast<size_t>(y) * g.in.width);
        }
      }
    }
    float* part_w = part_dw_[part].data();
    for (int f = 0; f < filters_; ++f) {
      for (int t = 0; t < taps; ++t) part_w[f * taps + t] = part_dw[t * blocked + f];
    }
    std::copy(bias_sum.begin(), bias_sum.begin() + filters_, part_w + weights);
  });
  SumPartGradients(dw, db);
}

int Conv2DLayer::SamplesPerChunk() const {
  const size_t sample_col = static_cast<size_t>(geometry_.out.height) * geometry_.out.width * patch_;
  return static_cast<int>(std::max<size_t>(1, kChunkColFloats / std::max<size_t>(1, sample_col)));
}

void Conv2DLayer::ComputeForward(const float* w, const float* b, const Tensor& in, Tensor* out) {
  out->Resize(in.n, geometry_.out);
  if (single_channel()) {
    SingleChannelForward(w, b, in, out);
    return;
  }
  const int positions = geometry_.out.height * geometry_.out.width;
  const int chunk = SamplesPerChunk();
  RunInTwoParts([&](int part) {
    int begin, end;
    PartRange(in.n, part, &begin, &end);
    if (direct()) {
      AffineRows(in.sample(begin), w, b, (end - begin) * positions, patch_, filters_, out->sample(begin));
      return;
    }
    FloatBuffer& col = col_[part];
    col.resize(static_cast<size_t>(chunk) * positions * patch_);
    for (int first = begin; first < end; first += chunk) {
      const int last = std::min(end, first + chunk);
      Im2Col(in, first, last, col.data());
      AffineRows(col.data(), w, b, (last - first) * positions, patch_, filters_, out->sample(first));
    }
  });
}

void Conv2DLayer::ComputeBackward(const float* w, const Tensor& in, const Tensor& dout, Tensor* din, float* dw,
                                  float* db) {
  if (single_channel()) {
    SingleChannelBackward(w, in, dout, din, dw, db);
    return;
  }
  if (din != nullptr) din->Resize(in.n, in.shape);
  const int positions = geometry_.out.height * geometry_.out.width;
  const int chunk = direct() ? in.n : SamplesPerChunk();
  RunInTwoParts([&](int part) {
    int begin, end;
    PartRange(in.n, part, &begin, &end);
    std::fill(part_dw_[part].begin(), part_dw_[part].end(), 0.0f);
    float* part_w = part_dw_[part].data();
    if (!direct()) {
      col_[part].resize(static_cast<size_t>(chunk) * positions * patch_);
      if (din != nullptr) dcol_[part].resize(col_[part].size());
    }
    // Chunk by chunk, the columns are rebuilt rather than kept from forward:
    // a chunk's stay in cache between the products that read them.
    for (int first = begin; first < end; first += chunk) {
      const int last = std::min(end, first + chunk);
      const int rows = (last - first) * positions;
      const float* col = in.sample(first);
      float* dcol = din != nullptr ? din->sample(first) : nullptr;
      if (!direct()) {
        Im2Col(in, first, last, col_[part].data());
        col = col_[part].data();
        if (din != nullptr) dcol = dcol_[part].data();
      }
      AffineRowsBackward(col, w, dout.sample(first), rows, patch_, filters_, part_w, part_w + weight_.size(), dcol);
      if (din != nullptr && !direct()) Col2Im(dcol, first, last, din);
    }
  });
  SumPartGradients(dw, db);
}

// ---------------------------------------------------------------- depthwise

DepthwiseConv2DLayer::DepthwiseConv2DLayer(int kernel, int stride, int padding)
    : geometry_{kernel, stride, padding, {}, {}} {}

ImageShape DepthwiseConv2DLayer::Setup(const ImageShape& input) {
  geometry_.SetInput(input, input.channels);
  Allocate(static_cast<size_t>(geometry_.kernel) * geometry_.kernel * input.channels, input.channels);
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
  SumPartGradients(dw, db);
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
    ClampRange(x + begin, cap, end - begin, y + begin);
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
    ClampBackwardRange(x + begin, dy + begin, cap, end - begin, dx + begin);
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
  const bool record = max_ && training;
  if (record) winner_.resize(out->data.size());
  RunInTwoParts([&](int part) {
    int begin, end;
    PartRange(in.n, part, &begin, &end);
    for (int n = begin; n < end; ++n) {
      if (max_) {
        float* winner = record ? winner_.data() + n * out->sample_size() : nullptr;
        MaxPoolSample(in.sample(n), in_, out_, pool_, out->sample(n), winner);
      } else {
        AveragePoolSample(in.sample(n), in_, out_, pool_, out->sample(n));
      }
    }
  });
}

void PoolLayer::Backward(const Tensor& in, const Tensor&, const Tensor& dout, Tensor* din) {
  if (din == nullptr) return;
  din->Resize(in.n, in.shape);
  // Windows tile the input unless the size is not a multiple of the pool;
  // the uncovered border then gets no gradient.
  const bool tiled = in_.height == out_.height * pool_ && in_.width == out_.width * pool_;
  RunInTwoParts([&](int part) {
    int begin, end;
    PartRange(in.n, part, &begin, &end);
    if (!tiled && end > begin) {
      std::memset(din->sample(begin), 0, sizeof(float) * din->sample_size() * (end - begin));
    }
    for (int n = begin; n < end; ++n) {
      if (max_) {
        MaxPoolBackwardSample(winner_.data() + n * dout.sample_size(), dout.sample(n), in_, out_, pool_,
                              din->sample(n));
      } else {
        AveragePoolBackwardSample(dout.sample(n), in_, out_, pool_, din->sample(n));
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
