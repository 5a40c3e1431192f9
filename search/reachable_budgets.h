// Which flash and RAM budgets a model can meet at all, known before anything
// is trained, so that SubmitSearch refuses an impossible budget at once
// instead of after the sensitivity job has trained the baseline.
//
// The figures are the exporter's own, not a formula beside it: an untrained
// network of the model's layers and input shape is quantized with every
// weighted layer at the narrowest searched width, calibrated on a few
// synthetic images, exported (engine/integer_export.h) and written as the
// .qmodel (engine/qmodel_writer.h ComputeFootprint), exactly as a worker
// exports a trained variant. Trained values cannot change these sizes: the
// .qmodel holds each weighted layer's packed weights (rows x packed row
// bytes, from its shape and width) and per-channel bias, multiplier and shift
// blocks (one int32 each per output channel, also for per-tensor scales),
// and the arena plan reads tensor shapes only (activations are 8-bit).
// tests/search/reachable_budgets_test.cc checks the figures against the
// sizes a trained job's export reports.
#pragma once

#include <cstdint>
#include <vector>

#include "engine/model_config.h"
#include "engine/shape.h"
#include "qatlab/v1/resources.pb.h"
#include "status/status.h"

namespace qatlab::search {

// The least a model can take on a board under a search.
struct SmallestFootprint {
  int weight_bits = 0;      // the narrowest searched width, every weighted layer at it
  int64_t flash_bytes = 0;  // the .qmodel at those widths: the smallest reachable flash
  int64_t ram_bytes = 0;    // the planned activation arena, the same at every width
};

// The exporter's figures for `layers` (engine/job_spec.h TranslateModel) on
// per-sample inputs of `input`. Deterministic; milliseconds for our presets
// (one small forward pass and one export). Errors: InvalidArgument when the
// layers do not chain from `input` (InferLayerShapes' message), or the
// export's own error for a model it cannot export.
StatusOr<SmallestFootprint> ComputeSmallestFootprint(const std::vector<LayerConfig>& layers, const ImageShape& input);

// InvalidArgument naming each budget below what the model needs, its value
// and the minimum ("budgets.max_flash_bytes: 4000 is below the smallest flash
// this model can reach (5492 bytes, every weighted layer at 2 bits)"; both
// joined by "; " when both are); Ok when both are met or unset. The latency budget is not checked here: it
// needs the board's measurements.
Status CheckReachable(const v1::SearchBudgets& budgets, const SmallestFootprint& smallest);

}  // namespace qatlab::search
