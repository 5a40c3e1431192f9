// Pooling of one NHWC sample, window = stride = pool, no padding. Each loops
// over the channels of one pixel innermost, the contiguous run that
// vectorizes. The max-pooling loops take eight channels at a time with AVX
// where the compiler targets it (bit-identical to the plain loops after
// them, which take the rest).
#pragma once

#include "engine/shape.h"

namespace qatlab {

// y = the window maximum; ties and order as a row-order scan that replaces
// the running maximum only by a greater value (what _mm256_max_ps(v, m)
// computes: v > m ? v : m). When `winner` is not null it receives, per
// output, the window index (ky * pool + kx) of the maximum as a float: a
// quarter of the input's size for backward to read, instead of the input.
void MaxPoolSample(const float* x, const ImageShape& in, const ImageShape& out, int pool, float* y, float* winner);

// The whole of dy goes to the input MaxPoolSample recorded in `winner`.
// Writes every covered element of dx.
void MaxPoolBackwardSample(const float* winner, const float* dy, const ImageShape& in, const ImageShape& out, int pool,
                           float* dx);

// y = the window mean (sum in row order, then times 1 / pool^2).
void AveragePoolSample(const float* x, const ImageShape& in, const ImageShape& out, int pool, float* y);

// Every element of a window gets dy / pool^2. Writes every covered element
// of dx.
void AveragePoolBackwardSample(const float* dy, const ImageShape& in, const ImageShape& out, int pool, float* dx);

}  // namespace qatlab
