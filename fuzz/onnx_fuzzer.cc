// The ONNX reader (model_import/onnx_import.h): InspectOnnxModel runs the
// checks the import itself makes on bytes from a user, so any input must end
// in OK or one InvalidArgument, never a crash.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "model_import/onnx_import.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > (1u << 20)) return 0;
  (void)qatlab::InspectOnnxModel(std::string_view(reinterpret_cast<const char*>(data), size));
  return 0;
}
