/* Cycle counting with the DWT cycle counter, for real silicon. CYCCNT is 32
 * bits (43 s at 100 MHz); SysTick interrupts every 2^24 cycles sample it so
 * the 64-bit extension never misses a wrap. */
#include "board.h"
#include "cortex_m.h"

static volatile uint32_t g_high;
static volatile uint32_t g_last;

void SysTick_Handler(void) { (void)board_cycles(); }

void cycle_counter_start(void) {
  DEMCR |= DEMCR_TRCENA;
  DWT_LAR = 0xC5ACCE55u; /* unlocks DWT on cores that lock it (Cortex-M7) */
  DWT_CYCCNT = 0;
  DWT_CTRL |= DWT_CTRL_CYCCNTENA;
  g_high = 0;
  g_last = 0;
  SYST_CSR = 0;
  SYST_RVR = (1u << 24) - 1u;
  SYST_CVR = 0;
  SYST_CSR = SYST_CSR_ENABLE | SYST_CSR_TICKINT | SYST_CSR_CLKSOURCE_CORE;
}

uint64_t board_cycles(void) {
  uint32_t primask = irq_save_disable();
  uint32_t now = DWT_CYCCNT;
  if (now < g_last) g_high++;
  g_last = now;
  uint64_t cycles = ((uint64_t)g_high << 32) | now;
  irq_restore(primask);
  return cycles;
}

/* CYCCNT does not count while the core sleeps, so sleeping would stall every
 * timeout; the caller polls instead. */
void board_idle(void) {}

/* CYCCNT counts every cycle: there is no tick phase to remove. */
void cycle_counter_align(void) {}
