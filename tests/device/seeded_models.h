// Integer models with seeded random weights, shaped like the presets, for the
// device tests and benchmarks: the board must reproduce the host kernels bit
// for bit whatever the weights are, and cycle counts depend on the shapes,
// not on what the weights learned. Same seed, same model, same bytes.
#pragma once

#include <cstdint>
#include <vector>

#include "engine/integer_model.h"

namespace qatlab {

// A multilayer perceptron over a flat int8 input: widths {784, 128, 64, 10}
// gives dense 784→128 (ReLU), 128→64 (ReLU), 64→10.
IntegerModel SeededDenseModel(const std::vector<int>& widths, uint32_t seed);

// The preset CNN on 28×28×1: conv3×3 c8 (pad 1, ReLU) → maxpool 2 → conv3×3
// c16 (pad 1, ReLU) → maxpool 2 → dense 784→10. The BatchNorm variant of the
// preset folds into the same integer model.
IntegerModel SeededCnnModel(uint32_t seed);

// A depthwise-separable CNN in the spirit of MLPerf Tiny's DS-CNN, on a
// 49×10×1 input: conv 3×3 stride 2 c`channels` → 2 × (depthwise 3×3 +
// pointwise 1×1 c`channels`) → global average pool → dense →10.
IntegerModel SeededDsCnnModel(int channels, uint32_t seed);

// `count` inputs of `bytes` int8 values each, uniform over -128..127.
std::vector<std::vector<int8_t>> SeededInputs(int count, int bytes, uint32_t seed);

}  // namespace qatlab
