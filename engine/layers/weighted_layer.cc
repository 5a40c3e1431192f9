#include "engine/layers/weighted_layer.h"

#include <algorithm>
#include <cmath>

#include "engine/float_kernels/channel_sums.h"
#include "engine/layers/batch_norm_layer.h"
#include "engine/parallel.h"
#include "engine/split_mix64.h"

namespace qatlab {

void WeightedLayer::Allocate(size_t weight_count, int out_channels) {
  out_channels_ = out_channels;
  weight_.assign(weight_count, 0.0f);
  grad_weight_.assign(weight_count, 0.0f);
  bias_.assign(out_channels, 0.0f);
  grad_bias_.assign(out_channels, 0.0f);
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
  std::vector<WeightQuantizer::ChannelSpan> channels(out_channels_);
  for (int c = 0; c < out_channels_; ++c) ChannelSpan(c, &channels[c].first, &channels[c].count, &channels[c].stride);
  quantizer_.Configure(quantization, std::move(channels), weight_.size());
  RefreshEffectiveWeights(false);
  if (quantization.frozen) FreezeWeightScales();
  if (quantization.learned) EnableLearnedWeightScales();
}

void WeightedLayer::FreezeWeightScales() {
  // Keeps the scales the weights were last computed with (MSE scales are not
  // searched again: the final weights were trained against these, and a
  // fresh search can pick a different clipping and re-round every weight).
  quantizer_.set_frozen(false);
  RefreshEffectiveWeights(false);
  quantizer_.set_frozen(true);
}

void WeightedLayer::EnableLearnedWeightScales() {
  RefreshEffectiveWeights(false);
  quantizer_.set_learned(true);
}

void WeightedLayer::RefreshEffectiveWeights(bool training) {
  const size_t count = weight_.size();
  folded_weight_.resize(count);
  effective_weight_.resize(count);
  effective_bias_.resize(out_channels_);
  if (bn_ != nullptr) {
    fold_factor_.resize(out_channels_);
    for (int c = 0; c < out_channels_; ++c) {
      fold_factor_[c] = bn_->gamma[c] / std::sqrt(bn_->running_var[c] + bn_->epsilon());
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
  quantizer_.Forward(folded_weight_.data(), training, effective_weight_.data());
  const FloatBuffer& scales = quantizer_.scales();
  if (input_scale_ > 0.0f) {
    // Gradients pass straight through the bias rounding.
    for (int c = 0; c < out_channels_; ++c) {
      const double bias_scale = static_cast<double>(input_scale_) * scales[c];
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
  ComputeBackward(effective_weight_.data(), in, dout, din, grad_effective_weight_.data(), grad_effective_bias_.data());
  // The straight-through estimator (and the LSQ scale gradients).
  FloatBuffer& grad_folded = grad_effective_weight_;
  if (quantized_) quantizer_.Backward(folded_weight_.data(), grad_folded.data());
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
      const double inverse_sigma = 1.0 / std::sqrt(static_cast<double>(bn_->running_var[c]) + bn_->epsilon());
      grad_gamma[c] =
          grad_gamma[c] * inverse_sigma + grad_effective_bias_[c] * (bias_[c] - bn_->running_mean[c]) * inverse_sigma;
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
  if (quantized_ && quantizer_.settings().learned) {
    FloatBuffer& scales = quantizer_.mutable_scales();
    params->push_back({scales.data(), quantizer_.scale_gradients().data(), scales.size(), false, 1e-8f});
  }
}

void WeightedLayer::State(std::vector<FloatBuffer*>* state) {
  state->push_back(&weight_);
  state->push_back(&bias_);
}

}  // namespace qatlab
