#include "model_export/onnx_qdq_export.h"

namespace qatlab {

// Placeholder until the exporter lands (issue #9).
StatusOr<std::string> QmodelToQdqOnnx(std::string_view, std::string_view) {
  return Status::FailedPrecondition("the ONNX export is not built yet");
}

}  // namespace qatlab
