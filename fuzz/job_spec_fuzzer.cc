// The job spec's path from a user's JSON to the engine's layers
// (engine/job_spec.h): ParseJobSpecJson, ApplyJobSpecDefaults, then the
// validation with shape inference and the translation, as the server and the
// worker run them. Every input must end in a Status, never a crash, a hang
// or an allocation the size of a number in the spec.
#include <cstddef>
#include <cstdint>
#include <string>

#include "engine/job_spec.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace qatlab;
  if (size > (1u << 16)) return 0;
  const std::string json(reinterpret_cast<const char*>(data), size);
  StatusOr<v1::JobSpec> spec = ParseJobSpecJson(json);
  if (!spec.ok()) return 0;
  ApplyJobSpecDefaults(&*spec);
  if (!ValidateJobSpec(*spec).ok()) return 0;
  // The shapes of the built-in MNIST and of a small colour set.
  (void)TranslateValidJobSpec(*spec, ImageShape{28, 28, 1}, 10);
  (void)TranslateValidJobSpec(*spec, ImageShape{8, 8, 3}, 4);
  return 0;
}
