#include "engine/layers/pool_layer.h"

#include <cstring>

#include "engine/float_kernels/pooling.h"
#include "engine/parallel.h"

namespace qatlab {

ImageShape PoolLayer::Setup(const ImageShape& input) {
  in_ = input;
  out_ = {input.height / pool_, input.width / pool_, input.channels};
  return out_;
}

void PoolLayer::Forward(const Tensor& in, Tensor* out, bool training) {
  out->Resize(in.n, out_);
  const bool record = max_ && training;
  if (record) winner_.resize(out->data.size());
  RunInTwoParts([&](int part) {
    int begin, end;
    PartRange(in.n, part, &begin, &end);
    for (int n = begin; n < end; ++n) {
      if (max_) {
        float* winner = record ? winner_.data() + n * out->sample_size() : nullptr;
        MaxPoolSample(in.sample(n), in_, out_, pool_, out->sample(n), winner);
      } else {
        AveragePoolSample(in.sample(n), in_, out_, pool_, out->sample(n));
      }
    }
  });
}

void PoolLayer::Backward(const Tensor& in, const Tensor&, const Tensor& dout, Tensor* din) {
  if (din == nullptr) return;
  din->Resize(in.n, in.shape);
  // Windows tile the input unless the size is not a multiple of the pool;
  // the uncovered border then gets no gradient.
  const bool tiled = in_.height == out_.height * pool_ && in_.width == out_.width * pool_;
  RunInTwoParts([&](int part) {
    int begin, end;
    PartRange(in.n, part, &begin, &end);
    if (!tiled && end > begin) {
      std::memset(din->sample(begin), 0, sizeof(float) * din->sample_size() * (end - begin));
    }
    for (int n = begin; n < end; ++n) {
      if (max_) {
        MaxPoolBackwardSample(winner_.data() + n * dout.sample_size(), dout.sample(n), in_, out_, pool_,
                              din->sample(n));
      } else {
        AveragePoolBackwardSample(dout.sample(n), in_, out_, pool_, din->sample(n));
      }
    }
  });
}

}  // namespace qatlab
