#include "engine/float_kernels/channel_sums.h"

namespace qatlab {

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

}  // namespace qatlab
