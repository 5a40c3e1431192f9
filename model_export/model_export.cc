#include "model_export/model_export.h"

#include "model_export/c_export.h"
#include "model_export/onnx_qdq_export.h"

namespace qatlab {

StatusOr<ExportFormat> ParseExportFormat(std::string_view name) {
  if (name == "qmodel") return ExportFormat::kQmodel;
  if (name == "onnx") return ExportFormat::kOnnx;
  if (name == "c") return ExportFormat::kC;
  return Status::InvalidArgument("unknown export format '" + std::string(name) +
                                 "' (known: qmodel, onnx, c)");
}

const char* ExportFormatName(ExportFormat format) {
  switch (format) {
    case ExportFormat::kQmodel:
      return "qmodel";
    case ExportFormat::kOnnx:
      return "onnx";
    case ExportFormat::kC:
      return "c";
  }
  return "unknown";
}

StatusOr<std::vector<ExportedFile>> ExportModel(std::string_view qmodel, ExportFormat format,
                                                std::string_view model_name) {
  switch (format) {
    case ExportFormat::kQmodel:
      // TODO(#9): open it with qk_model_open first, so a corrupt artifact is refused here too.
      return std::vector<ExportedFile>{{std::string(model_name) + ".qmodel", std::string(qmodel)}};
    case ExportFormat::kOnnx: {
      QATLAB_ASSIGN_OR_RETURN(std::string onnx, QmodelToQdqOnnx(qmodel, model_name));
      return std::vector<ExportedFile>{{std::string(model_name) + ".onnx", std::move(onnx)}};
    }
    case ExportFormat::kC:
      return QmodelToC(qmodel, model_name);
  }
  return Status::InvalidArgument("unknown export format");
}

}  // namespace qatlab
