#include "engine/layers/relu_layer.h"

#include "engine/float_kernels/clamp.h"
#include "engine/parallel.h"

namespace qatlab {

void ReluLayer::Forward(const Tensor& in, Tensor* out, bool) {
  out->Resize(in.n, in.shape);
  const float* x = in.data.data();
  float* y = out->data.data();
  const float cap = cap_ > 0 ? cap_ : 3.4e38f;
  RunInTwoParts([&](int part) {
    int begin, end;
    PartRange(static_cast<int>(in.data.size()), part, &begin, &end);
    ClampRange(x + begin, cap, end - begin, y + begin);
  });
}

void ReluLayer::Backward(const Tensor& in, const Tensor&, const Tensor& dout, Tensor* din) {
  if (din == nullptr) return;
  din->Resize(in.n, in.shape);
  const float* x = in.data.data();
  const float* dy = dout.data.data();
  float* dx = din->data.data();
  const float cap = cap_ > 0 ? cap_ : 3.4e38f;
  RunInTwoParts([&](int part) {
    int begin, end;
    PartRange(static_cast<int>(in.data.size()), part, &begin, &end);
    ClampBackwardRange(x + begin, dy + begin, cap, end - begin, dx + begin);
  });
}

}  // namespace qatlab
