/* flash_memory.h for the STM32F4 embedded flash interface (RM0090 §3.5-3.6
 * for the F405, RM0383 §3 for the F411): unlock with the two keys, wait for
 * BSY to clear, sector erase (SER, SNB, STRT) or 32-bit programming (PG,
 * PSIZE x32; needs VDD 2.7-3.6 V), error flags checked after each step, lock
 * again, and the ART data cache reset so that reads see the new bytes.
 *
 * UNTESTED ON SILICON. QEMU 7.2's netduinoplus2 maps the flash as ROM and the
 * interface at 0x40023C00 as an unimplemented device (reads 0, writes
 * ignored): there this code "succeeds" and changes nothing, which the slot's
 * read-back check (model_slot.c) reports. The CPU stalls while its own bank
 * is busy (one bank on these parts); a 128 KiB sector erase takes 1-2 s. */
#include "flash_memory.h"

#define FLASH_BASE_ADDRESS 0x08000000u
#define FLASH_ACR (*(volatile uint32_t*)0x40023C00u)
#define FLASH_KEYR (*(volatile uint32_t*)0x40023C04u)
#define FLASH_SR (*(volatile uint32_t*)0x40023C0Cu)
#define FLASH_CR (*(volatile uint32_t*)0x40023C10u)

#define KEY1 0x45670123u
#define KEY2 0xCDEF89ABu

#define SR_EOP (1u << 0)
#define SR_OPERR (1u << 1)
#define SR_WRPERR (1u << 4)
#define SR_PGAERR (1u << 5)
#define SR_PGPERR (1u << 6)
#define SR_PGSERR (1u << 7)
#define SR_BSY (1u << 16)
#define SR_ERRORS (SR_OPERR | SR_WRPERR | SR_PGAERR | SR_PGPERR | SR_PGSERR)

#define CR_PG (1u << 0)
#define CR_SER (1u << 1)
#define CR_SNB_SHIFT 3u
#define CR_PSIZE_X32 (2u << 8)
#define CR_STRT (1u << 16)
#define CR_LOCK (1u << 31)

#define ACR_DCEN (1u << 10)
#define ACR_DCRST (1u << 12)

/* Polls of SR.BSY before giving up: far beyond a 128 KiB erase (2 s at most)
 * at 168 MHz, so only a wedged interface ends it. */
#define BUSY_POLLS 400000000u

extern uint8_t _model_slot_start[], _model_slot_end[];

int flash_memory_unit(uint32_t address, uint32_t* start, uint32_t* bytes) {
  if (address < (uint32_t)_model_slot_start || address >= (uint32_t)_model_slot_end) return 0;
  const uint32_t offset = address - FLASH_BASE_ADDRESS;
  if (offset < 0x10000u) { /* sectors 0-3, 16 KiB */
    *start = FLASH_BASE_ADDRESS + (offset & ~0x3FFFu);
    *bytes = 0x4000u;
  } else if (offset < 0x20000u) { /* sector 4, 64 KiB */
    *start = FLASH_BASE_ADDRESS + 0x10000u;
    *bytes = 0x10000u;
  } else { /* sectors 5.., 128 KiB */
    *start = FLASH_BASE_ADDRESS + (offset & ~0x1FFFFu);
    *bytes = 0x20000u;
  }
  return 1;
}

static uint32_t sector_number(uint32_t start) {
  const uint32_t offset = start - FLASH_BASE_ADDRESS;
  if (offset < 0x10000u) return offset / 0x4000u;
  if (offset < 0x20000u) return 4u;
  return 4u + offset / 0x20000u;
}

static const char* wait_ready(void) {
  for (uint32_t i = 0; i < BUSY_POLLS; ++i) {
    const uint32_t status = FLASH_SR;
    if ((status & SR_BSY) == 0) {
      if (status & SR_WRPERR) return "write protected";
      if (status & SR_ERRORS) return "programming error";
      return 0;
    }
  }
  return "timeout";
}

static const char* unlock(void) {
  if (FLASH_CR & CR_LOCK) {
    FLASH_KEYR = KEY1;
    FLASH_KEYR = KEY2;
    if (FLASH_CR & CR_LOCK) return "locked";
  }
  FLASH_SR = SR_ERRORS | SR_EOP; /* write 1 to clear */
  return wait_ready();
}

static void lock_and_flush(void) {
  FLASH_CR = CR_LOCK;
  const uint32_t acr = FLASH_ACR;
  if (acr & ACR_DCEN) {
    FLASH_ACR = acr & ~ACR_DCEN;
    FLASH_ACR = (acr & ~ACR_DCEN) | ACR_DCRST;
    FLASH_ACR = acr & ~ACR_DCRST;
  }
}

const char* flash_memory_erase(uint32_t start) {
  const char* error = unlock();
  if (error == 0) {
    FLASH_CR = CR_PSIZE_X32 | CR_SER | (sector_number(start) << CR_SNB_SHIFT);
    FLASH_CR |= CR_STRT;
    error = wait_ready();
  }
  lock_and_flush();
  return error;
}

const char* flash_memory_program(uint32_t address, const uint32_t* data, uint32_t bytes) {
  const char* error = unlock();
  if (error == 0) {
    FLASH_CR = CR_PSIZE_X32 | CR_PG;
    volatile uint32_t* target = (volatile uint32_t*)address;
    for (uint32_t i = 0; i < bytes / 4u && error == 0; ++i) {
      target[i] = data[i];
      error = wait_ready();
    }
  }
  lock_and_flush();
  return error;
}
