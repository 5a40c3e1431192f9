// The per-sample shape of an image or activation (HWC) and the window
// arithmetic every convolution layer shares.
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

// Convolution geometry shared by Conv2D and DepthwiseConv2D.
struct ConvGeometry {
  int kernel = 1, stride = 1, padding = 0;
  ImageShape in, out;

  // Sets `in` and `out` (with `out_channels`) for a per-sample input.
  // REQUIRES: the window fits (InferLayerShapes checked it).
  void SetInput(const ImageShape& input, int out_channels) {
    in = input;
    out = {WindowOutputSize(input.height, kernel, stride, padding),
           WindowOutputSize(input.width, kernel, stride, padding), out_channels};
  }
};

}  // namespace qatlab
