/* The board layer: everything the protocol and the model runner need from a
 * microcontroller, so the rest of the firmware is the same on every board.
 * One board_*.c is linked into each firmware image. */
#ifndef QATLAB_FW_BOARD_H_
#define QATLAB_FW_BOARD_H_

#include <stdint.h>

typedef struct {
  const char* name;  /* e.g. "mps2-an386"; also in the DUT name */
  const char* core;  /* e.g. "cortex-m4" */
  uint32_t clock_hz; /* core clock the cycle counter runs at */
  uint32_t flash_bytes;
  uint32_t ram_bytes;
  const char* cycle_counter; /* "dwt" or "systick" */
  /* Where the cycles come from: "qemu-icount" (SysTick over QEMU's virtual
   * time, an instruction-count model) or "dwt-cyccnt" (silicon). */
  const char* clock_model;
  uint32_t baud; /* the UART's rate (QATLAB_FW_BAUD_RATE); a pty ignores it */
} board_info;

/* Sets up clocks, the UART (receive interrupt on) and the cycle counter, then
 * enables interrupts. Bounded: never waits forever for a clock to lock. */
void board_init(void);

const board_info* board_get_info(void);

/* Blocking transmit of `size` bytes. */
void board_uart_write(const uint8_t* data, uint32_t size);

/* Called from the vector table for every external interrupt (startup.c). */
void board_handle_irq(uint32_t irq_number);

/* Core clock cycles since board_init(), 64-bit (never wraps in practice).
 * Safe to call with interrupts enabled or disabled. Implemented by
 * cycle_counter_systick.c or cycle_counter_dwt.c. */
uint64_t board_cycles(void);

/* Starts the cycle counter; called by board_init() once the clock is final. */
void cycle_counter_start(void);

/* Returns at a fixed phase of the cycle counter's tick, so that a measurement
 * started right after it counts the same on every run (see
 * cycle_counter_systick.c; a no-op where the counter counts every cycle).
 * Added by the board-host helper for repeatable emulated latency. */
void cycle_counter_align(void);

/* Waits for an interrupt while the core has nothing to do, if the cycle
 * counter keeps counting while the core sleeps (SysTick does; the DWT counter
 * stops in WFI, so there it returns at once and the caller polls: timeouts
 * are measured on the counter). REQUIRES: interrupts disabled by the caller,
 * which re-enables them afterwards (a pending interrupt still ends WFI). */
void board_idle(void);

#endif /* QATLAB_FW_BOARD_H_ */
