#include "search/reachable_budgets.h"

#include <algorithm>
#include <iterator>
#include <memory>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "data/dataset.h"
#include "engine/integer_export.h"
#include "engine/network.h"
#include "engine/qmodel_writer.h"
#include "engine/trainer.h"
#include "search/probe_plan.h"

namespace qatlab::search {
namespace {

// Calibration images: enough varied pixels that no activation range is
// degenerate by chance. Their values only set scales, which the sizes do
// not depend on.
constexpr int kCalibrationImages = 8;
constexpr uint64_t kSeed = 1;

// Deterministic pseudo-random pixels (a 64-bit LCG's high byte).
Dataset SyntheticImages(const ImageShape& input) {
  Dataset images;
  images.height = input.height;
  images.width = input.width;
  images.channels = input.channels;
  images.num_classes = 1;
  images.pixels.resize(static_cast<size_t>(kCalibrationImages) * images.sample_size());
  uint64_t state = kSeed;
  for (uint8_t& pixel : images.pixels) {
    state = state * 6364136223846793005ULL + 1442695040888963407ULL;
    pixel = static_cast<uint8_t>(state >> 56);
  }
  images.labels.assign(kCalibrationImages, 0);
  return images;
}

}  // namespace

StatusOr<SmallestFootprint> ComputeSmallestFootprint(const std::vector<LayerConfig>& layers, const ImageShape& input) {
  QATLAB_ASSIGN_OR_RETURN(std::unique_ptr<Network> net, Network::Create(layers, input, kSeed));
  const int narrowest = *std::min_element(std::begin(kSearchWidths), std::end(kSearchWidths));
  QuantizationSettings settings;
  settings.weight_bits.assign(net->weighted_layer_count(), narrowest);
  settings.activation_bits = 8;
  settings.freeze_weight_scales = true;
  net->EnableQuantization(settings);
  // The forward passes also compute the quantized weights the export reads.
  Calibrate(net.get(), SyntheticImages(input), kCalibrationImages, RangeMethod::kMinMax, 100.0);
  StatusOr<IntegerModel> model = ExportIntegerModel(*net, "smallest");
  if (!model.ok()) return model.status().WithContext("exporting the model at " + std::to_string(narrowest) + " bits");
  QATLAB_ASSIGN_OR_RETURN(const ModelFootprint footprint, ComputeFootprint(*model));
  SmallestFootprint smallest;
  smallest.weight_bits = narrowest;
  smallest.flash_bytes = footprint.flash_bytes;
  smallest.ram_bytes = footprint.arena_bytes;
  return smallest;
}

Status CheckReachable(const v1::SearchBudgets& budgets, const SmallestFootprint& smallest) {
  std::vector<std::string> unreachable;
  if (budgets.has_max_flash_bytes() && budgets.max_flash_bytes() < smallest.flash_bytes) {
    unreachable.push_back(fmt::format(
        "budgets.max_flash_bytes: {} is below the smallest flash this model can reach ({} bytes, every weighted "
        "layer at {} bits)",
        budgets.max_flash_bytes(), smallest.flash_bytes, smallest.weight_bits));
  }
  if (budgets.has_max_ram_bytes() && budgets.max_ram_bytes() < smallest.ram_bytes) {
    unreachable.push_back(
        fmt::format("budgets.max_ram_bytes: {} is below the RAM this model needs ({} bytes: its activation arena, "
                    "the same at every bit width)",
                    budgets.max_ram_bytes(), smallest.ram_bytes));
  }
  if (unreachable.empty()) return Status::Ok();
  return Status::InvalidArgument(fmt::format("{}", fmt::join(unreachable, "; ")));
}

}  // namespace qatlab::search
