/* The model slot: a region of the board's flash, after the image
 * (MODEL_SLOT in the linker scripts), that a host programs with a model and
 * its id through qm-slot-save (docs/protocol.md, "The model slot"). At boot a
 * valid slot's model is opened in place and profile% answers its id, as an
 * image with a model compiled in does; the slot wins over such a model.
 *
 * Layout: a 32-byte header at the slot's start (magic, version, model bytes,
 * the model's CRC-32, a NUL-terminated id of up to 15 characters), the model
 * at offset 64 (8-byte aligned for the reader). The magic word is programmed
 * last, so a write cut short leaves no valid slot, and a slot is valid only
 * while the CRC of its model bytes matches the header's. Main loop only. */
#ifndef QATLAB_FW_MODEL_SLOT_H_
#define QATLAB_FW_MODEL_SLOT_H_

#include <stdint.h>

/* Bytes a model in the slot may have (the slot less its header). */
uint32_t model_slot_capacity(void);

/* The slot's model and id, or NULL (*bytes 0) when the slot holds no valid
 * model. */
const uint8_t* model_slot_model(uint32_t* bytes, const char** id);

/* Erases what the model needs, programs it and `id` (1..15 characters), and
 * checks what the slot then holds. Returns 0 when the slot holds exactly
 * `model` under `id`, else a short reason (the slot is then invalid).
 * REQUIRES: model 4-byte aligned. */
const char* model_slot_save(const uint8_t* model, uint32_t bytes, const char* id);

/* Invalidates the slot (erases its first unit). 0 or a short reason. */
const char* model_slot_erase(void);

#endif /* QATLAB_FW_MODEL_SLOT_H_ */
