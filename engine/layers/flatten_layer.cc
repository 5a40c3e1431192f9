#include "engine/layers/flatten_layer.h"

#include <algorithm>

namespace qatlab {

void FlattenLayer::Forward(const Tensor& in, Tensor* out, bool) {
  out->Resize(in.n, {1, 1, in.shape.size()});
  std::copy(in.data.begin(), in.data.end(), out->data.begin());
}

void FlattenLayer::Backward(const Tensor& in, const Tensor&, const Tensor& dout, Tensor* din) {
  if (din == nullptr) return;
  din->Resize(in.n, in.shape);
  std::copy(dout.data.begin(), dout.data.end(), din->data.begin());
}

}  // namespace qatlab
