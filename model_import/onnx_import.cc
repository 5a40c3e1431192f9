#include "model_import/onnx_import.h"

namespace qatlab {

// Placeholder until the importer lands (issue #9): every model is refused.
StatusOr<OnnxModelSummary> InspectOnnxModel(std::string_view) {
  return Status::FailedPrecondition("ONNX import is not built yet");
}

}  // namespace qatlab
