// The .qmodel as C source for a firmware build: the model as an aligned
// const array that runs in place from flash (no copy into RAM) with the
// project's kernels (find_package(qatlab_kernels)), an example main that
// runs one input, and a README saying how to add it to a build.
#pragma once

#include <string_view>
#include <vector>

#include "model_export/model_export.h"
#include "status/status.h"

namespace qatlab {

// The files of the export. `model_name` becomes a C identifier (characters
// other than [A-Za-z0-9_] become '_'). Errors: InvalidArgument when `qmodel`
// does not open.
StatusOr<std::vector<ExportedFile>> QmodelToC(std::string_view qmodel, std::string_view model_name);

}  // namespace qatlab
