/* flash_memory.h where the board's "flash" is RAM: QEMU's mps2-an386 maps
 * SSRAM1 at 0 (`info mtree`: mps.ssram1, ram). Erasing fills with 0xFF and
 * programming copies, so the slot behaves as erased-then-programmed flash;
 * it holds across a guest reset, not across a new QEMU process
 * (docs/protocol.md, "The model slot"). Erase units of 64 KiB. */
#include <string.h>

#include "flash_memory.h"

#define UNIT_BYTES 0x10000u

extern uint8_t _model_slot_start[], _model_slot_end[];

int flash_memory_unit(uint32_t address, uint32_t* start, uint32_t* bytes) {
  if (address < (uint32_t)_model_slot_start || address >= (uint32_t)_model_slot_end) return 0;
  *start = address & ~(UNIT_BYTES - 1u);
  *bytes = UNIT_BYTES;
  return 1;
}

const char* flash_memory_erase(uint32_t start) {
  memset((void*)start, 0xFF, UNIT_BYTES);
  return 0;
}

const char* flash_memory_program(uint32_t address, const uint32_t* data, uint32_t bytes) {
  volatile uint32_t* target = (volatile uint32_t*)address;
  for (uint32_t i = 0; i < bytes / 4u; ++i) target[i] &= data[i]; /* flash clears bits only */
  return 0;
}
