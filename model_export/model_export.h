// Taking the chosen integer model out: a .qmodel (what a job's QAT or PTQ
// variant produced) in the form a user's build or runtime consumes.
//   qmodel  the native file, as it is
//   onnx    a QDQ ONNX model (model_export/onnx_qdq_export.h)
//   c       a .h/.c pair that runs in place from flash with the kernels,
//           an example main and a README (model_export/c_export.h)
// Everything here works from the .qmodel bytes alone, so the server can
// export any stored artifact and the CLI any downloaded one.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "status/status.h"

namespace qatlab {

enum class ExportFormat { kQmodel, kOnnx, kC };

// "qmodel" | "onnx" | "c"; InvalidArgument naming the known formats
// otherwise.
StatusOr<ExportFormat> ParseExportFormat(std::string_view name);
const char* ExportFormatName(ExportFormat format);

// One file of an export: its name (no directories) and contents.
struct ExportedFile {
  std::string name;
  std::string contents;
};

// Exports `qmodel` (a whole .qmodel file) as `format`. `model_name` names the
// files and, for C, the symbols (made a valid C identifier). Errors:
// InvalidArgument when `qmodel` is not a valid .qmodel (the reader's reason),
// or the format cannot express the model (the op named).
StatusOr<std::vector<ExportedFile>> ExportModel(std::string_view qmodel, ExportFormat format,
                                                std::string_view model_name);

}  // namespace qatlab
