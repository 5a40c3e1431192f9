// The per-sample shape of an image or activation (HWC) and the window
// arithmetic every convolution and pooling layer shares.
#pragma once

namespace qatlab {

// Per-sample shape of an image or activation, HWC.
struct ImageShape {
  int height = 0;
  int width = 0;
  int channels = 0;
  int size() const { return height * width * channels; }
  bool operator==(const ImageShape&) const = default;
};

// Output size along one axis of a convolution window: (in + 2 * padding -
// kernel) / stride + 1. REQUIRES: kernel <= in + 2 * padding, stride >= 1.
inline int WindowOutputSize(int in, int kernel, int stride, int padding) {
  return (in + 2 * padding - kernel) / stride + 1;
}

}  // namespace qatlab
