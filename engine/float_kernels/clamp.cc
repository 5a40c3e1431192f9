#include "engine/float_kernels/clamp.h"

#include <algorithm>

namespace qatlab {

void ClampRange(const float* x, float cap, int count, float* y) {
  for (int i = 0; i < count; ++i) y[i] = std::min(std::max(x[i], 0.0f), cap);
}

void ClampBackwardRange(const float* x, const float* dy, float cap, int count, float* dx) {
  for (int i = 0; i < count; ++i) {
    const bool pass = (x[i] > 0.0f) & (x[i] < cap);
    dx[i] = pass ? dy[i] : 0.0f;
  }
}

}  // namespace qatlab
