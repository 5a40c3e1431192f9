/* An image without a model in flash (see embedded_model.h). */
#include "embedded_model.h"

const uint8_t* embedded_model_bytes(uint32_t* size) {
  *size = 0;
  return 0;
}

const char* embedded_model_id(void) { return "none"; }
