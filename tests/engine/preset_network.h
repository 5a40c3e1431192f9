// A network of one of the built-in presets, for the engine tests.
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <utility>
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

// `layers` as the engine reads them (a failed test and no layers when they
// do not translate).
inline std::vector<LayerConfig> EngineLayers(const std::vector<v1::LayerSpec>& layers) {
  auto configs = TranslateLayers(layers);
  EXPECT_TRUE(configs.ok()) << configs.status().ToString();
  return configs.ok() ? *configs : std::vector<LayerConfig>{};
}

// The engine's layers of `preset`.
inline std::vector<LayerConfig> PresetLayerConfigs(const std::string& preset) {
  return EngineLayers(PresetLayerSpecs(preset));
}

// `preset` built for `input` with `seed`, or nullptr (and a failed test).
inline std::unique_ptr<Network> PresetNetwork(const std::string& preset, const ImageShape& input, uint64_t seed) {
  auto net = Network::Create(PresetLayerConfigs(preset), input, seed);
  EXPECT_TRUE(net.ok()) << preset << ": " << net.status().ToString();
  return net.ok() ? std::move(*net) : nullptr;
}

// `preset` built for 28x28x1 inputs with seed 1 and quantization enabled:
// `weight_bits` per weighted layer, the other settings default; or nullptr
// (and a failed test).
inline std::unique_ptr<Network> QuantizedPresetNetwork(const std::string& preset, std::vector<int> weight_bits) {
  auto net = PresetNetwork(preset, {28, 28, 1}, 1);
  if (net == nullptr) return nullptr;
  QuantizationSettings settings;
  settings.weight_bits = std::move(weight_bits);
  net->EnableQuantization(settings);
  return net;
}

}  // namespace qatlab
