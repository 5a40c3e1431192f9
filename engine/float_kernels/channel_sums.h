// Per-channel sums of an NHWC activation (batch-norm statistics).
#pragma once

#include <cstddef>

namespace qatlab {

// sum[c] += x and sum_sq[c] += x^2 over `positions` rows of `channels`, in
// double.
void AddChannelSums(const float* x, size_t positions, int channels, double* sum, double* sum_sq);

}  // namespace qatlab
