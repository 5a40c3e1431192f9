// Trained values for a model's layers, in the engine's own layouts: what a
// model brought in from elsewhere (model_import/) hands to
// Network::LoadWeights.
#pragma once

#include <vector>

namespace qatlab {

// One layer's values. Only those of the layer's kind are set; layers without
// parameters have none.
struct LayerWeights {
  // Dense, Conv2D, DepthwiseConv2D: the layouts of engine/layers/*.h
  // (dense [units][inputs], inputs in HWC order; conv2d
  // [filters][kh][kw][Cin]; depthwise [kh][kw][C]) and one bias per output
  // channel.
  std::vector<float> weights;
  std::vector<float> bias;
  // BatchNorm: one value per channel each (the epsilon is the layer's
  // LayerConfig).
  std::vector<float> gamma, beta, running_mean, running_var;
};

}  // namespace qatlab
