#include "model_slot.h"

#include <string.h>

#include "flash_memory.h"
#include "qatlab_kernels/qmodel.h"

#define SLOT_MAGIC 0x4C534D51u /* "QMSL" */
#define SLOT_VERSION 1u
#define MODEL_OFFSET 64u
#define ID_BYTES 16u

typedef struct {
  uint32_t magic;
  uint32_t version;
  uint32_t model_bytes;
  uint32_t model_crc;
  char id[ID_BYTES];
} slot_header;

extern uint8_t _model_slot_start[], _model_slot_end[];

static uint32_t slot_bytes(void) { return (uint32_t)(_model_slot_end - _model_slot_start); }

uint32_t model_slot_capacity(void) { return slot_bytes() > MODEL_OFFSET ? slot_bytes() - MODEL_OFFSET : 0u; }

const uint8_t* model_slot_model(uint32_t* bytes, const char** id) {
  *bytes = 0;
  const slot_header* header = (const slot_header*)_model_slot_start;
  if (model_slot_capacity() == 0 || header->magic != SLOT_MAGIC || header->version != SLOT_VERSION ||
      header->model_bytes == 0 || header->model_bytes > model_slot_capacity() || header->id[0] == '\0' ||
      memchr(header->id, '\0', ID_BYTES) == 0) {
    return 0;
  }
  const uint8_t* model = _model_slot_start + MODEL_OFFSET;
  if (qk_crc32(0, model, header->model_bytes) != header->model_crc) return 0;
  *bytes = header->model_bytes;
  *id = header->id;
  return model;
}

/* Erases every unit that [start, start + bytes) touches. */
static const char* erase_range(uint32_t start, uint32_t bytes) {
  uint32_t address = start;
  while (address < start + bytes) {
    uint32_t unit = 0, unit_bytes = 0;
    if (!flash_memory_unit(address, &unit, &unit_bytes)) return "not erasable flash";
    const char* error = flash_memory_erase(unit);
    if (error) return error;
    address = unit + unit_bytes;
  }
  return 0;
}

const char* model_slot_save(const uint8_t* model, uint32_t bytes, const char* id) {
  const uint32_t id_length = (uint32_t)strlen(id);
  if (id_length == 0 || id_length >= ID_BYTES) return "id must be 1..15 characters";
  if (bytes == 0 || bytes > model_slot_capacity()) return "model does not fit the slot";
  const uint32_t start = (uint32_t)_model_slot_start;
  const char* error = erase_range(start, MODEL_OFFSET + bytes);
  if (error) return error;
  const uint32_t whole = bytes & ~3u;
  error = flash_memory_program(start + MODEL_OFFSET, (const uint32_t*)model, whole);
  if (error) return error;
  if (whole < bytes) { /* the last bytes, padded as erased flash */
    uint32_t last = 0xFFFFFFFFu;
    memcpy(&last, model + whole, bytes - whole);
    error = flash_memory_program(start + MODEL_OFFSET + whole, &last, 4u);
    if (error) return error;
  }
  slot_header header;
  memset(&header, 0, sizeof header);
  header.magic = SLOT_MAGIC;
  header.version = SLOT_VERSION;
  header.model_bytes = bytes;
  header.model_crc = qk_crc32(0, model, bytes);
  memcpy(header.id, id, id_length);
  const uint32_t* words = (const uint32_t*)&header;
  /* everything but the magic first: a cut-short write leaves no valid slot */
  error = flash_memory_program(start + 4u, words + 1, (uint32_t)sizeof header - 4u);
  if (error) return error;
  if (memcmp(_model_slot_start + MODEL_OFFSET, model, bytes) != 0 ||
      memcmp(_model_slot_start + 4u, words + 1, sizeof header - 4u) != 0) {
    return "the slot does not read back what was written";
  }
  error = flash_memory_program(start, words, 4u);
  if (error) return error;
  uint32_t check_bytes = 0;
  const char* check_id = 0;
  if (model_slot_model(&check_bytes, &check_id) == 0) return "the slot does not read back what was written";
  return 0;
}

const char* model_slot_erase(void) {
  uint32_t unit = 0, unit_bytes = 0;
  if (model_slot_capacity() == 0) return "no slot";
  if (!flash_memory_unit((uint32_t)_model_slot_start, &unit, &unit_bytes)) return "not erasable flash";
  return flash_memory_erase(unit);
}
