// A sweep file's JSON (qatlab.v1.SweepSpec, docs/sweeps.md) read into the
// message: its own small target (qatlab_sweep_file: protobuf only, not the
// engine), so qatctl reads sweep files exactly as the server's tests do. The
// grid's expansion into jobs is the engine's (engine/sweep_spec.h).
#pragma once

#include <string>
#include <vector>

#include "qatlab/v1/job.pb.h"
#include "status/status.h"

namespace qatlab {

// The grid's axes, as a sweep file names them (snake_case; protobuf's
// lowerCamelCase form is accepted too).
const std::vector<std::string>& SweepAxisNames();

// Parses a sweep file's JSON: {"name", "base": <a job spec>, "grid": {axis:
// [values], ...}}; a per-layer bit list is written as a plain list
// ("layer_weight_bits": [[8, 4, 8]]). Errors (InvalidArgument) name what is
// wrong: an unknown axis ("grid: unknown axis 'bits' (axes: weight_bits,
// ...)"), an unknown field, a base spec's error prefixed "base: ", an
// explicit 0 for base.training.epochs or base.qat.epochs (it would read as
// the default). Does not expand or validate the grid.
StatusOr<v1::SweepSpec> ParseSweepSpecJson(const std::string& json);

}  // namespace qatlab
