// The .qmodel as C source for a firmware build: the model as an aligned
// const array that runs in place from flash (no copy into RAM) with the
// project's kernels (find_package(qatlab_kernels)), an example main that
// runs one input, and a README saying how to add it to a build.
//
// For a model named N (made an identifier I, macros in upper case P):
//   I_model.h      sizes and input quantization as macros (P_ARENA_BYTES,
//                  P_INPUT_BYTES, P_OUTPUT_BYTES, P_INPUT_SCALE,
//                  P_INPUT_ZERO_POINT, ...), the array I_qmodel, and
//                  I_init() / I_run() / I_model() over a static arena
//   I_model.c      the array (4-byte aligned or more, in .rodata) and the API
//   main.c         runs one embedded sample, prints the logits and argmax
//   CMakeLists.txt builds main.c with find_package(qatlab_kernels)
//   README.md      adding the model to a firmware build, host and Cortex-M
// docs/export-c.md describes the export for users.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "model_export/model_export.h"
#include "status/status.h"

namespace qatlab {

// The files of the export, with a blank (all-zero pixels) sample in main.c.
// `model_name` becomes a C identifier (CExportIdentifier). Errors:
// InvalidArgument when `qmodel` does not open (the reader's reason).
StatusOr<std::vector<ExportedFile>> QmodelToC(std::string_view qmodel, std::string_view model_name);

// As above, with `sample_pixels` as main.c's sample: one input as a pixel
// data set holds it (8-bit values, H x W x C), which main.c converts with
// qk_input_from_u8. Errors, in addition: InvalidArgument when the sample's
// size is not the model's input size.
StatusOr<std::vector<ExportedFile>> QmodelToC(std::string_view qmodel, std::string_view model_name,
                                              std::span<const uint8_t> sample_pixels);

// `model_name` as a C identifier: characters other than ASCII [A-Za-z0-9_]
// become '_', and a name that is empty or starts with a digit or '_' (names
// reserved to the implementation start with '_') gets the prefix "model_".
std::string CExportIdentifier(std::string_view model_name);

}  // namespace qatlab
