/* Erasing and programming the board's flash, for the model slot
 * (model_slot.h). One implementation is linked into each image:
 * flash_memory_ram.c where the "flash" is RAM (mps2-an386 under QEMU),
 * flash_memory_stm32f4.c for the STM32F4 flash interface. Main loop only;
 * interrupts may stay enabled (the vector table and handlers are not in the
 * slot). */
#ifndef QATLAB_FW_FLASH_MEMORY_H_
#define QATLAB_FW_FLASH_MEMORY_H_

#include <stdint.h>

/* The erase unit that holds `address` (e.g. an STM32F4 sector): its first
 * byte in *start and its size in *bytes. 0 when the address is not in
 * erasable flash. */
int flash_memory_unit(uint32_t address, uint32_t* start, uint32_t* bytes);

/* Erases the unit starting at `start` (every byte then reads 0xFF).
 * Returns 0 on success, else a short reason ("locked", "protected", ...). */
const char* flash_memory_erase(uint32_t start);

/* Programs `bytes` bytes (a multiple of 4) at `address` (4-byte aligned, in
 * erased flash) from `data` (4-byte aligned). Returns 0 on success, else a
 * short reason. The caller reads back what it needs to trust. */
const char* flash_memory_program(uint32_t address, const uint32_t* data, uint32_t bytes);

#endif /* QATLAB_FW_FLASH_MEMORY_H_ */
