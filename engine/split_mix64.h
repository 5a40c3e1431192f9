// SplitMix64: the engine's one pseudo-random stream (weight initialisation,
// shuffling, the Hessian probes). Tiny, well mixed, and the same sequence on
// every platform and compiler, which the engine's determinism rests on: a
// job's models are byte-identical wherever it runs.
#pragma once

#include <cstdint>

namespace qatlab {

struct SplitMix64 {
  uint64_t state;

  uint64_t Next() {
    uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }

  // Uniform in [-bound, bound).
  float Uniform(float bound) {
    const double unit = static_cast<double>(Next() >> 11) * (1.0 / 9007199254740992.0);
    return static_cast<float>((2.0 * unit - 1.0) * bound);
  }
};

}  // namespace qatlab
