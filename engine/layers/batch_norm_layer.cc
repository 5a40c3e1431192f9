#include "engine/layers/batch_norm_layer.h"

#include <algorithm>
#include <cmath>
#include <vector>

namespace qatlab {

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
  for (int c = 0; c < channels; ++c) inverse_std_[c] = 1.0f / std::sqrt(var[c] + epsilon_);
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
      dx[c] = static_cast<float>(gamma[c] * inverse_std_[c] * (dy[c] - sum_dy[c] / m - xhat[c] * sum_dy_xhat[c] / m));
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

}  // namespace qatlab
