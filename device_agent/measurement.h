// Measuring a .qmodel on a board: the procedure behind a MeasurementResult.
//
//   1. Refuse, before sending anything, a model the board cannot hold: larger
//      than its model buffer, needing more arena or input than it has.
//   2. Upload it (acknowledged CRC-checked chunks, see DutClient).
//   3. Run it on test inputs and compare the board's int8 logits bit for bit
//      with the host's own run of the same kernels (qk_model_invoke); the
//      labelled ones also give the on-device accuracy.
//   4. Latency the MLPerf Tiny way: warm-up inferences, then `windows`
//      windows of `inferences_per_window` back-to-back inferences. The
//      reported median is the median over windows of the per-inference mean
//      (MLPerf's median window); min and max are the fastest and slowest
//      single inference seen in any window. Cycles are the board's count;
//      microseconds are cycles at the board's clock.
//   5. Per-layer cycles of one inference, arena bytes, flash bytes (the
//      model's size: it is what a flashed model would occupy).
//
// On an emulated board the figures are an instruction-count model, and the
// result says so (emulated = true, timing_model, board); they are never
// passed off as the latency of real silicon. Its cycles are estimated as one
// per executed instruction, from the counter's ticks over virtual time
// (ticks * 1e9 / clock_hz / virtual_ns_per_instruction), and its
// microseconds are those cycles at the board's clock: the same model shows
// latencies in the inverse ratio of two boards' clocks.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "device_agent/dut_client.h"
#include "qatlab/v1/resources.pb.h"
#include "status/status.h"

namespace qatlab {

// Inputs already quantized to the model's int8 input tensor (H·W·C bytes).
struct MeasurementInputs {
  std::vector<std::vector<int8_t>> inputs;
  // Empty, or one class label per input (for on-device accuracy).
  std::vector<int> labels;
};

struct MeasurementOptions {
  // How the board's cycles come about. For a QemuBoard: emulated = true and
  // its timing_model(); for a real board: emulated = false, "dwt cyccnt".
  bool emulated = true;
  std::string timing_model;  // REQUIRES: not empty
  // Emulated boards only: virtual nanoseconds per executed instruction
  // (2^shift under QEMU -icount shift=N). The board's counter ticks at its
  // nominal clock over virtual time, so without this every board of the same
  // core shows the same microseconds whatever its clock; with it, cycles are
  // estimated at one per instruction and microseconds at the board's clock.
  // REQUIRES: > 0 when emulated.
  double virtual_ns_per_instruction = 1.0;

  int check_inputs = 16;       // inputs compared bit-exact with the host kernels
  int accuracy_samples = 100;  // labelled inputs run for on-device accuracy (0: none)
  int warmup = 5;              // inferences before the timed windows
  int windows = 5;
  int inferences_per_window = 10;
};

// REQUIRES: inputs.inputs holds at least one input of the model's input size.
// A model the board already holds (qm-info's model_bytes and model_crc match
// `qmodel`, e.g. a model in the image's flash) is measured without an upload.
// Errors: ResourceExhausted (the model does not fit the board; nothing was
// uploaded), InvalidArgument (a bad model or inputs), Unavailable (the board
// stopped answering or its link went away), or the board's own refusal.
StatusOr<v1::MeasurementResult> MeasureModel(DutClient& client, std::span<const uint8_t> qmodel,
                                             const MeasurementInputs& inputs, const MeasurementOptions& options);

// "dense", "conv2d", ... for an op kind of the .qmodel (IntegerOpKind).
std::string OpKindName(int op_kind);

}  // namespace qatlab
