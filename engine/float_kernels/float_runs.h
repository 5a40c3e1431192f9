// Eight floats as one vector register, and copies and sums of the short runs
// of im2col and col2im. Inline: they are called once per kernel row.
#pragma once

#include <Eigen/Core>

namespace qatlab {

// Filters are processed eight at a time (one AVX register of floats); the
// single-channel convolution pads its filter count up to a multiple.
constexpr int kFilterBlock = 8;

// Eight floats as one vector register.
using EightFloats = Eigen::Array<float, kFilterBlock, 1>;

// dst = src and dst += src over `count` floats, for the short runs of
// im2col and col2im: eight at a time without the overlap checks a plain
// loop would make at every call.
inline void CopyFloats(const float* src, int count, float* dst) {
  int k = 0;
  for (; k + 8 <= count; k += 8) Eigen::Map<EightFloats>(dst + k) = Eigen::Map<const EightFloats>(src + k);
  for (; k < count; ++k) dst[k] = src[k];
}

inline void AddFloats(const float* src, int count, float* dst) {
  int k = 0;
  for (; k + 8 <= count; k += 8) Eigen::Map<EightFloats>(dst + k) += Eigen::Map<const EightFloats>(src + k);
  for (; k < count; ++k) dst[k] += src[k];
}

inline int RoundUpToFilterBlock(int filters) { return (filters + kFilterBlock - 1) / kFilterBlock * kFilterBlock; }

// Eight filters' values.
using FilterBlock = EightFloats;
using ConstFilterBlockMap = Eigen::Map<const FilterBlock>;
using FilterBlockMap = Eigen::Map<FilterBlock>;

}  // namespace qatlab
