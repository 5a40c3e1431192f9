#include "engine/layers/softmax_cross_entropy.h"

#include <algorithm>
#include <cmath>

namespace qatlab {

double SoftmaxCrossEntropy(const Tensor& logits, const int32_t* labels, Tensor* grad) {
  const int classes = logits.shape.size();
  if (grad != nullptr) grad->Resize(logits.n, logits.shape);
  double loss = 0;
  const float inverse_batch = 1.0f / static_cast<float>(logits.n);
  for (int n = 0; n < logits.n; ++n) {
    const float* z = logits.sample(n);
    const float top = *std::max_element(z, z + classes);
    double sum = 0;
    for (int c = 0; c < classes; ++c) sum += std::exp(static_cast<double>(z[c] - top));
    loss += std::log(sum) - (z[labels[n]] - top);
    if (grad != nullptr) {
      float* g = grad->sample(n);
      for (int c = 0; c < classes; ++c) {
        const double p = std::exp(static_cast<double>(z[c] - top)) / sum;
        g[c] = static_cast<float>(p - (c == labels[n] ? 1.0 : 0.0)) * inverse_batch;
      }
    }
  }
  return loss / logits.n;
}

}  // namespace qatlab
