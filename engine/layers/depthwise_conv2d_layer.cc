#include "engine/layers/depthwise_conv2d_layer.h"

#include <algorithm>
#include <cstring>

#include "engine/parallel.h"

namespace qatlab {
namespace {

// Calls tap(offset, k) for each kernel tap of output pixel (oy, ox) that
// falls inside the input (taps on the padding contribute nothing): offset is
// the tap's pixel in a sample, k its row of w, both in floats to channel 0.
// Forward and backward visit the taps in the same order.
template <typename Tap>
void ForEachTapInside(const ConvGeometry& g, int oy, int ox, Tap tap) {
  const int channels = g.in.channels;
  for (int ky = 0; ky < g.kernel; ++ky) {
    const int iy = oy * g.stride - g.padding + ky;
    if (iy < 0 || iy >= g.in.height) continue;
    for (int kx = 0; kx < g.kernel; ++kx) {
      const int ix = ox * g.stride - g.padding + kx;
      if (ix < 0 || ix >= g.in.width) continue;
      tap((static_cast<size_t>(iy) * g.in.width + ix) * channels, (static_cast<size_t>(ky) * g.kernel + kx) * channels);
    }
  }
}

}  // namespace

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
          ForEachTapInside(g, oy, ox, [&](size_t offset, size_t k) {
            const float* x = image + offset;
            for (int c = 0; c < channels; ++c) o[c] += x[c] * w[k + c];
          });
        }
      }
    }
  });
}

void DepthwiseConv2DLayer::ComputeBackward(const float* w, const Tensor& in, const Tensor& dout, Tensor* din, float* dw,
                                           float* db) {
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
          ForEachTapInside(g, oy, ox, [&](size_t offset, size_t k) {
            const float* x = image + offset;
            for (int c = 0; c < channels; ++c) part_w[k + c] += go[c] * x[c];
            if (grad_in != nullptr) {
              float* gi = grad_in + offset;
              for (int c = 0; c < channels; ++c) gi[c] += go[c] * w[k + c];
            }
          });
        }
      }
    }
  });
  SumPartGradients(dw, db);
}

}  // namespace qatlab
