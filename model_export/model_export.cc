#include "model_export/model_export.h"

#include <cstdint>
#include <limits>
#include <vector>

#include "model_export/c_export.h"
#include "model_export/onnx_qdq_export.h"
#include "qatlab_kernels/qmodel.h"

namespace qatlab {

namespace {

// What the kernels' reader says of `qmodel` (header, version, CRC, every op
// and tensor): an export hands out only a file the kernels would run.
Status CheckQmodel(std::string_view qmodel) {
  if (qmodel.size() > std::numeric_limits<uint32_t>::max()) {
    return Status::InvalidArgument("not a valid .qmodel: larger than 4 GiB");
  }
  // qk_model_open needs 4-byte aligned data; operator new's buffer is.
  const std::vector<uint8_t> aligned(qmodel.begin(), qmodel.end());
  qk_model model;
  const qk_status status = qk_model_open(&model, aligned.data(), static_cast<uint32_t>(aligned.size()));
  if (status != QK_OK) return Status::InvalidArgument(std::string("not a valid .qmodel: ") + qk_status_name(status));
  return Status::Ok();
}

}  // namespace

StatusOr<ExportFormat> ParseExportFormat(std::string_view name) {
  if (name == "qmodel") return ExportFormat::kQmodel;
  if (name == "onnx") return ExportFormat::kOnnx;
  if (name == "c") return ExportFormat::kC;
  return Status::InvalidArgument("unknown export format '" + std::string(name) + "' (known: qmodel, onnx, c)");
}

const char* ExportFormatName(ExportFormat format) {
  switch (format) {
    case ExportFormat::kQmodel: return "qmodel";
    case ExportFormat::kOnnx: return "onnx";
    case ExportFormat::kC: return "c";
  }
  return "unknown";
}

StatusOr<std::vector<ExportedFile>> ExportModel(std::string_view qmodel, ExportFormat format,
                                                std::string_view model_name) {
  switch (format) {
    case ExportFormat::kQmodel:
      QATLAB_RETURN_IF_ERROR(CheckQmodel(qmodel));
      return std::vector<ExportedFile>{{std::string(model_name) + ".qmodel", std::string(qmodel)}};
    case ExportFormat::kOnnx: {
      QATLAB_ASSIGN_OR_RETURN(std::string onnx, QmodelToQdqOnnx(qmodel, model_name));
      return std::vector<ExportedFile>{{std::string(model_name) + ".onnx", std::move(onnx)}};
    }
    case ExportFormat::kC: return QmodelToC(qmodel, model_name);
  }
  return Status::InvalidArgument("unknown export format");
}

}  // namespace qatlab
