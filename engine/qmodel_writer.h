// Serializes an IntegerModel (engine/integer_model.h) to the .qmodel bytes the
// C interpreter (kernels/include/qatlab_kernels/qmodel.h) runs in place on the
// host and on the MCU. The byte layout is in docs/model-format.md.
#pragma once

#include <cstdint>
#include <vector>

#include "engine/integer_model.h"
#include "status/status.h"

namespace qatlab {

// Checks what the kernels rely on, naming the op and the field that is wrong:
// tensor shapes and zero points, op order (an op reads only the model input or
// an earlier op's output; every tensor but the input is produced exactly
// once), geometry, weight bits 2..8, sizes of weights / bias / multiplier /
// shift against the shapes, weights within the narrow range of their bits,
// shifts within -31..30, pools keeping scale and zero point, at most
// QK_MAX_OPS ops, and num_classes matching the output tensor.
Status ValidateIntegerModel(const IntegerModel& model);

// Where each tensor lives in the single activation arena. Tensors whose
// lifetimes overlap never share bytes; the others may (greedy by size, see
// docs/model-format.md "Arena planning"). Offsets are 4-byte aligned.
struct ArenaPlan {
  std::vector<uint32_t> offsets;  // one per tensor of the model
  uint32_t arena_bytes = 0;       // peak: the arena size the model needs
};

// REQUIRES: ValidateIntegerModel(model).ok() (checked; its error is returned).
StatusOr<ArenaPlan> PlanArena(const IntegerModel& model);

// The .qmodel file for `model`: validated, arena planned, weights packed.
StatusOr<std::vector<uint8_t>> WriteQModel(const IntegerModel& model);

// What a model costs on a device.
struct ModelFootprint {
  int64_t parameters = 0;   // weights + biases
  int64_t macs = 0;         // multiply-accumulates of one inference
  int64_t arena_bytes = 0;  // activation RAM (planned peak)
  int64_t flash_bytes = 0;  // size of the .qmodel file
};

// From the integer model (writes it to learn the file size).
StatusOr<ModelFootprint> ComputeFootprint(const IntegerModel& model);
// From .qmodel bytes (opened and fully validated first).
StatusOr<ModelFootprint> ComputeQModelFootprint(const std::vector<uint8_t>& qmodel);

}  // namespace qatlab
