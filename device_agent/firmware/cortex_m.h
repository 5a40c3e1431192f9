/* The Cortex-M core registers the firmware uses (ARMv7-M architecture
 * reference manual, system control space). Shared by every board: these
 * addresses are the same on every Cortex-M3/M4/M7. */
#ifndef QATLAB_FW_CORTEX_M_H_
#define QATLAB_FW_CORTEX_M_H_

#include <stdint.h>

#define CM_REG(address) (*(volatile uint32_t*)(address))

/* SysTick: a 24-bit down-counter. */
#define SYST_CSR CM_REG(0xE000E010u)
#define SYST_RVR CM_REG(0xE000E014u)
#define SYST_CVR CM_REG(0xE000E018u)
#define SYST_CSR_ENABLE (1u << 0)
#define SYST_CSR_TICKINT (1u << 1)
#define SYST_CSR_CLKSOURCE_CORE (1u << 2)

/* System control block. */
#define SCB_ICSR CM_REG(0xE000ED04u)
#define SCB_ICSR_PENDSTSET (1u << 26)
#define SCB_ICSR_PENDSTCLR (1u << 25)
#define SCB_VTOR CM_REG(0xE000ED08u)
#define SCB_CCR CM_REG(0xE000ED14u)
#define SCB_SHPR3 CM_REG(0xE000ED20u)
#define SCB_AIRCR CM_REG(0xE000ED0Cu)
#define SCB_AIRCR_RESET_REQUEST (0x05FA0000u | (1u << 2)) /* VECTKEY, SYSRESETREQ */

/* Requests a system reset and waits for it. */
static inline void system_reset(void) {
  __asm__ volatile("dsb" ::: "memory");
  SCB_AIRCR = SCB_AIRCR_RESET_REQUEST;
  __asm__ volatile("dsb" ::: "memory");
  for (;;) {
  }
}

/* Debug: DWT cycle counter (counts on silicon, reads 0 under QEMU). */
#define DEMCR CM_REG(0xE000EDFCu)
#define DEMCR_TRCENA (1u << 24)
#define DWT_CTRL CM_REG(0xE0001000u)
#define DWT_CYCCNT CM_REG(0xE0001004u)
#define DWT_LAR CM_REG(0xE0001FB0u)
#define DWT_CTRL_CYCCNTENA (1u << 0)

/* NVIC: enable and priority of external interrupt n. */
static inline void nvic_enable_irq(uint32_t irq) { CM_REG(0xE000E100u + 4u * (irq / 32u)) = 1u << (irq % 32u); }
static inline void nvic_set_priority(uint32_t irq, uint8_t priority) {
  *(volatile uint8_t*)(0xE000E400u + irq) = priority;
}

/* PRIMASK save/restore: interrupts off for a short critical section. */
static inline uint32_t irq_save_disable(void) {
  uint32_t primask;
  __asm__ volatile("mrs %0, primask\n cpsid i" : "=r"(primask)::"memory");
  return primask;
}
static inline void irq_restore(uint32_t primask) { __asm__ volatile("msr primask, %0" ::"r"(primask) : "memory"); }
static inline void irq_enable(void) { __asm__ volatile("cpsie i" ::: "memory"); }
static inline void irq_disable(void) { __asm__ volatile("cpsid i" ::: "memory"); }

/* Sleeps until an interrupt is pending. Called with interrupts disabled after
 * checking for work, so an interrupt that arrives between the check and the
 * sleep still wakes the core (WFI wakes on pending interrupts regardless of
 * PRIMASK); the caller re-enables interrupts afterwards. */
static inline void wait_for_interrupt(void) { __asm__ volatile("dsb\n wfi\n isb" ::: "memory"); }

#endif /* QATLAB_FW_CORTEX_M_H_ */
