#include "model_export/c_export.h"

namespace qatlab {

// Placeholder until the exporter lands (issue #9).
StatusOr<std::vector<ExportedFile>> QmodelToC(std::string_view, std::string_view) {
  return Status::FailedPrecondition("the C export is not built yet");
}

}  // namespace qatlab
