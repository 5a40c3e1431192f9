// The training loss.
#pragma once

#include <cstdint>

#include "engine/tensor.h"

namespace qatlab {

// Mean softmax cross-entropy over the batch; writes dL/dlogits.
// logits: (N, classes).
double SoftmaxCrossEntropy(const Tensor& logits, const int32_t* labels, Tensor* grad);

}  // namespace qatlab
