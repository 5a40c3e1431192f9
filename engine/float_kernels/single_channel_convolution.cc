#include "engine/float_kernels/single_channel_convolution.h"

#include <cstddef>

#include "engine/float_kernels/float_runs.h"

namespace qatlab {
namespace {

// Output pixels computed together: their sums are independent, so the
// multiply-adds of one do not wait for those of the previous one.
constexpr int kPixelBlock = 4;

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

}  // namespace

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

// Each tap's sum runs over kPixelBlock interleaved partial sums, added
// pairwise at the end.
// Each tap's sum runs over kPixelBlock interleaved partial sums, added
// pairwise at the end.
// Each tap's sum runs over kPixelBlock interleaved partial sums, added
// pairwise at the end.
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

void SingleChannelInputGradient(const float* dout, const float* w, const ConvGeometry& g, int filters, int padded_width,
                                float* padded_grad) {
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

}  // namespace qatlab
