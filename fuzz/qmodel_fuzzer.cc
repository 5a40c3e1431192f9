// The .qmodel reader and interpreter (kernels/include/qatlab_kernels/qmodel.h)
// on arbitrary bytes: qk_model_open must refuse anything unsafe, and a model
// it opens must run (qk_model_invoke) without reading or writing outside the
// buffer, the arena, the input or the output.
//
// Each input is tried twice: as given, and with the header's CRC-32 made to
// match, so that mutations reach the structural checks behind the CRC instead
// of all ending at QK_ERR_CRC.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "qatlab_kernels/qmodel.h"
#include "qatlab_kernels/qmodel_format.h"

namespace {

// Bounds what one input may make us allocate; the reader itself is bounded
// by the buffer, this keeps the fuzzer's RSS small.
constexpr uint32_t kMaxArenaBytes = 1u << 22;
constexpr uint32_t kMaxTensorBytes = 1u << 20;

void OpenAndInvoke(const std::vector<uint32_t>& aligned, uint32_t size) {
  const uint8_t* data = reinterpret_cast<const uint8_t*>(aligned.data());
  qk_model model;
  if (qk_model_open(&model, data, size) != QK_OK) return;
  for (uint32_t i = 0; i < model.op_count; ++i) {
    qk_op_info info;
    qk_model_op_info(&model, i, &info);
  }
  if (model.arena_bytes > kMaxArenaBytes || model.input_bytes > kMaxTensorBytes ||
      model.output_bytes > kMaxTensorBytes) {
    return;
  }
  // Exact sizes, so that AddressSanitizer sees any access one byte past them.
  std::vector<int8_t> input(model.input_bytes);
  for (size_t i = 0; i < input.size(); ++i) input[i] = static_cast<int8_t>(i * 37);
  std::vector<int8_t> output(model.output_bytes);
  std::vector<uint32_t> arena_words((model.arena_bytes + 3) / 4 + 1);
  uint8_t* arena = reinterpret_cast<uint8_t*>(arena_words.data());
  qk_model_invoke(&model, input.data(), output.data(), arena, model.arena_bytes, nullptr, nullptr);
  if (model.output_bytes > 0) qk_argmax_s8(output.data(), model.output_bytes);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > (1u << 24)) return 0;
  const uint32_t size32 = static_cast<uint32_t>(size);
  // qk_model_open requires a 4-byte aligned buffer.
  std::vector<uint32_t> aligned((size + 3) / 4);
  if (size > 0) std::memcpy(aligned.data(), data, size);
  std::vector<uint32_t> copy = aligned;
  OpenAndInvoke(copy, size32);

  if (size32 >= QK_CRC_START) {
    uint8_t* bytes = reinterpret_cast<uint8_t*>(aligned.data());
    // The CRC covers [QK_CRC_START, total_bytes); the header's little-endian
    // fields are read as the host's (x86 and Cortex-M are little-endian).
    uint32_t total = 0;
    std::memcpy(&total, bytes + QK_HEADER_TOTAL_BYTES, sizeof total);
    if (total < QK_CRC_START || total > size32) total = size32;
    uint32_t crc = qk_crc32(0, bytes + QK_CRC_START, total - QK_CRC_START);
    std::memcpy(bytes + QK_HEADER_CRC32, &crc, sizeof crc);  // little-endian, as the format
    OpenAndInvoke(aligned, size32);
  }
  return 0;
}
