// A network of one of the built-in presets, for the engine tests.
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "engine/job_spec.h"
#include "engine/network.h"

namespace qatlab {

// The layers of `preset` (a failed test and no layers when unknown).
inline std::vector<v1::LayerSpec> PresetLayerSpecs(const std::string& preset) {
  v1::ModelSpec model;
  model.set_preset(preset);
  auto layers = ResolveModelLayers(model);
  EXPECT_TRUE(layers.ok()) << preset << ": " << layers.status().ToString();
  return layers.ok() ? *layers : std::vector<v1::LayerSpec>{};
}

// `preset` built for `input` with `seed`, or nullptr (and a failed test).
inline std::unique_ptr<Network> PresetNetwork(const std::string& preset, const ImageShape& input, uint64_t seed) {
  auto net = Network::Create(PresetLayerSpecs(preset), input, seed);
  EXPECT_TRUE(net.ok()) << preset << ": " << net.status().ToString();
  return net.ok() ? std::move(*net) : nullptr;
}

}  // namespace qatlab
