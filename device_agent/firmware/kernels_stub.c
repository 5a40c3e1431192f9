/* Stands in for the integer kernels while kernels/ does not yet provide the
 * .qmodel reader (CMakeLists.txt picks it only then): every model is
 * reported as unsupported, so everything but inference can be tested. */
#include "qatlab_kernels/qmodel.h"

const char* qk_status_name(qk_status status) {
  switch (status) {
    case QK_OK: return "ok";
    case QK_ERR_UNSUPPORTED: return "unsupported";
    default: return "error";
  }
}

qk_status qk_model_open(qk_model* model, const uint8_t* data, uint32_t size) {
  (void)model;
  (void)data;
  (void)size;
  return QK_ERR_UNSUPPORTED;
}

qk_status qk_model_invoke(const qk_model* model, const int8_t* input, int8_t* output, uint8_t* arena,
                          uint32_t arena_size, qk_op_hook hook, void* context) {
  (void)model;
  (void)input;
  (void)output;
  (void)arena;
  (void)arena_size;
  (void)hook;
  (void)context;
  return QK_ERR_UNSUPPORTED;
}

uint32_t qk_argmax_s8(const int8_t* values, uint32_t count) {
  uint32_t best = 0;
  for (uint32_t i = 1; i < count; ++i) {
    if (values[i] > values[best]) best = i;
  }
  return best;
}

uint32_t qk_crc32(uint32_t crc, const uint8_t* data, uint32_t size) {
  crc = ~crc;
  for (uint32_t i = 0; i < size; ++i) {
    crc ^= data[i];
    for (int bit = 0; bit < 8; ++bit) crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1u)));
  }
  return ~crc;
}

const char* qk_kernel_variant(void) { return "none"; }
