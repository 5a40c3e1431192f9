// A trained float model's state as bytes: what a baseline job uploads
// ("float.ckpt") and a job that starts from it (JobSpec.baseline_job) loads
// instead of training its own float model.
//
// Format, all integers little-endian:
//   "QLFCKPT\0"                   8 bytes, the magic
//   u32 version                   1
//   u32 layer_count
//   per layer: u32 buffer_count, then per buffer: u32 value_count and that
//   many float32 values (IEEE-754 bits, little-endian)
// The buffers are each layer's state in Layer::State order (weights, bias,
// batchnorm statistics), so loading restores the network bit for bit and a
// model trained from it is byte-identical to one trained after the same
// float training in one process.
#pragma once

#include <cstdint>
#include <vector>

#include "status/status.h"

namespace qatlab {

class Network;

inline constexpr char kFloatCheckpointName[] = "float.ckpt";

// Deterministic: the same network state gives the same bytes.
std::vector<uint8_t> WriteFloatCheckpoint(Network& net);

// Restores `net` from `bytes`. Errors: InvalidArgument when the bytes are not
// a checkpoint (bad magic), of a newer version, truncated or with trailing
// bytes, or shaped for another model (naming the first layer and buffer
// that differ); `net` is unchanged then.
Status LoadFloatCheckpoint(const std::vector<uint8_t>& bytes, Network* net);

}  // namespace qatlab
