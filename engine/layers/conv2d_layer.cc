#include "engine/layers/conv2d_layer.h"

#include <algorithm>
#include <cstring>

#include "engine/float_kernels/affine_rows.h"
#include "engine/float_kernels/float_runs.h"
#include "engine/float_kernels/single_channel_convolution.h"
#include "engine/parallel.h"

namespace qatlab {

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

}  // namespace qatlab
