/* The model an image carries in flash, if any: a .qmodel compiled into the
 * image as a const array (QATLAB_FW_EMBEDDED_MODEL, CMakeLists.txt) that the
 * firmware opens where it is at boot, with no copy into RAM. An uploaded
 * model replaces it for the session; the next reset brings it back. */
#ifndef QATLAB_FW_EMBEDDED_MODEL_H_
#define QATLAB_FW_EMBEDDED_MODEL_H_

#include <stdint.h>

/* The model's bytes (8-byte aligned, in flash) and *size, or 0 when the
 * image carries no model. */
const uint8_t* embedded_model_bytes(uint32_t* size);

/* The id profile% reports for it (1..15 characters). REQUIRES: the image
 * carries a model. */
const char* embedded_model_id(void);

#endif /* QATLAB_FW_EMBEDDED_MODEL_H_ */
