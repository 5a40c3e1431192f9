/* Cycle counting with SysTick, for cores whose DWT counter does not count
 * (QEMU). SysTick is a 24-bit down-counter at the core clock; its interrupt
 * counts wraps, which together with the current value give 64-bit cycles.
 * Under QEMU with -icount shift=N this is a pure function of the executed
 * instruction count, hence deterministic. */
#include "board.h"
#include "cortex_m.h"

#define SYSTICK_PERIOD (1u << 24)

static volatile uint32_t g_wraps;

void SysTick_Handler(void) { g_wraps++; }

void cycle_counter_start(void) {
  SYST_CSR = 0;
  SYST_RVR = SYSTICK_PERIOD - 1u;
  SYST_CVR = 0;
  SCB_SHPR3 = (SCB_SHPR3 & 0x00FFFFFFu); /* SysTick at the highest priority */
  SYST_CSR = SYST_CSR_ENABLE | SYST_CSR_TICKINT | SYST_CSR_CLKSOURCE_CORE;
}

uint64_t board_cycles(void) {
  uint32_t primask = irq_save_disable();
  uint32_t wraps = g_wraps;
  uint32_t value = SYST_CVR;
  /* A wrap that happened while interrupts are off is pending but not yet
   * counted; the value read after seeing the pending bit is from after that
   * wrap. It is counted here and its interrupt withdrawn, so a caller that
   * keeps interrupts masked for long (an inference, see model_runner.c) loses
   * no wrap as long as it reads the counter once per wrap period (2^24 ticks:
   * 0.67 s at 25 MHz, 0.1 s at 168 MHz).
   * Straight-line code: the same instructions run whether a wrap is pending
   * or not, so a wrap inside a timed interval does not change the count of
   * an instruction-counting emulator (a branch here made one inference in a
   * few hundred a tick longer). Writing 0 to ICSR changes nothing. */
  uint32_t pending = (SCB_ICSR >> 26) & 1u; /* PENDSTSET */
  uint32_t after = SYST_CVR;
  uint32_t take_after = 0u - pending;
  value = (after & take_after) | (value & ~take_after);
  wraps += pending;
  g_wraps = wraps;
  SCB_ICSR = pending << 25; /* PENDSTCLR when pending */
  irq_restore(primask);
  return (uint64_t)wraps * SYSTICK_PERIOD + (SYSTICK_PERIOD - 1u - value);
}

void board_idle(void) { wait_for_interrupt(); }

/* Under QEMU -icount the counter moves one tick every 40 instructions (25 MHz
 * at 1 ns per instruction), and the phase of that tick at the start of a
 * measurement depends on when the host's command arrived, which makes a count
 * wobble by one. A vernier removes the phase: reads 41 instructions apart see
 * the counter fall by 1, except once in 40 reads by 2 -- and that read came
 * in the first instruction after a tick edge. Leaving there starts every
 * measurement at the same phase. At most 41 iterations (about 1,700
 * instructions); interrupts off so a handler cannot stretch an iteration.
 * The loop is 41 instructions for mps2-an386 (40 instructions per tick at
 * -icount shift=0); at other tick lengths it just ends after its bound.
 * Added by the board-host helper for repeatable emulated latency. */
void cycle_counter_align(void) {
  uint32_t primask = irq_save_disable();
  __asm__ volatile(
      "   ldr r1, [%0]\n"
      "   movs r3, #64\n" /* bound: 41 iterations always suffice */
      "1: ldr r2, [%0]\n"
      "   subs r1, r1, r2\n" /* how far the down-counter fell */
      "   cmp r1, #2\n"
      "   mov r1, r2\n"
      "   beq 2f\n"
      "   subs r3, r3, #1\n"
      "   beq 2f\n"
      ".rept 33\n nop\n .endr\n"
      "   b 1b\n"
      "2:\n"
      :
      : "r"(&SYST_CVR)
      : "r1", "r2", "r3", "cc", "memory");
  irq_restore(primask);
}
