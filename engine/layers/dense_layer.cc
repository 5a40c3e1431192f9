#include "engine/layers/dense_layer.h"

#include <algorithm>

#include "engine/float_kernels/affine_rows.h"
#include "engine/parallel.h"

namespace qatlab {

ImageShape DenseLayer::Setup(const ImageShape& input) {
  inputs_ = input.size();
  Allocate(static_cast<size_t>(units_) * inputs_, units_);
  return {1, 1, units_};
}

void DenseLayer::ChannelSpan(int channel, size_t* first, size_t* count, size_t* stride) const {
  *first = static_cast<size_t>(channel) * inputs_;
  *count = inputs_;
  *stride = 1;
}

void DenseLayer::ComputeForward(const float* w, const float* b, const Tensor& in, Tensor* out) {
  out->Resize(in.n, {1, 1, units_});
  RunInTwoParts([&](int part) {
    int begin, end;
    PartRange(in.n, part, &begin, &end);
    AffineRows(in.sample(begin), w, b, end - begin, inputs_, units_, out->sample(begin));
  });
}

void DenseLayer::ComputeBackward(const float* w, const Tensor& in, const Tensor& dout, Tensor* din, float* dw,
                                 float* db) {
  if (din != nullptr) din->Resize(in.n, in.shape);
  RunInTwoParts([&](int part) {
    int begin, end;
    PartRange(in.n, part, &begin, &end);
    std::fill(part_dw_[part].begin(), part_dw_[part].end(), 0.0f);
    float* part_w = part_dw_[part].data();
    AffineRowsBackward(in.sample(begin), w, dout.sample(begin), end - begin, inputs_, units_, part_w,
                       part_w + weight_.size(), din != nullptr ? din->sample(begin) : nullptr);
  });
  SumPartGradients(dw, db);
}

}  // namespace qatlab
