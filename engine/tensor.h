// A batch of activations: N samples, each H x W x C in HWC order (channel
// fastest), the layout the integer model uses, so flattening needs no
// reordering at export.
#pragma once

#include <cstddef>
#include <new>
#include <vector>

#include "engine/shape.h"

namespace qatlab {

// 64-byte aligned storage. Vectorized code (Eigen's and the compiler's) may
// treat a misaligned head differently, which changes the order of float
// additions; with every buffer aligned, results do not depend on where the
// allocator happened to put it (e.g. in another thread's arena).
template <typename T>
struct AlignedAllocator {
  using value_type = T;
  static constexpr std::align_val_t kAlignment{64};
  AlignedAllocator() = default;
  template <typename U>
  AlignedAllocator(const AlignedAllocator<U>&) {}  // NOLINT
  T* allocate(size_t n) { return static_cast<T*>(::operator new(n * sizeof(T), kAlignment)); }
  void deallocate(T* p, size_t) { ::operator delete(p, kAlignment); }
  template <typename U>
  bool operator==(const AlignedAllocator<U>&) const {
    return true;
  }
};

using FloatBuffer = std::vector<float, AlignedAllocator<float>>;

struct Tensor {
  int n = 0;
  ImageShape shape;
  FloatBuffer data;  // n * shape.size() values

  // Keeps the allocation when it is large enough (buffers are reused batch
  // after batch). Contents are unspecified afterwards.
  void Resize(int batch, const ImageShape& s) {
    n = batch;
    shape = s;
    data.resize(static_cast<size_t>(batch) * s.size());
  }
  size_t sample_size() const { return static_cast<size_t>(shape.size()); }
  float* sample(int i) { return data.data() + i * sample_size(); }
  const float* sample(int i) const { return data.data() + i * sample_size(); }
};

}  // namespace qatlab
