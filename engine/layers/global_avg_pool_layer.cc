#include "engine/layers/global_avg_pool_layer.h"

namespace qatlab {

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

}  // namespace qatlab
