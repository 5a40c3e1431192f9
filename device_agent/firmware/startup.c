/* Reset and the vector table, the same on every board: copy .data, zero .bss,
 * run main(). Every external interrupt goes through one handler that asks
 * the board what to do, so boards differ only in board_*.c. */
#include <stdint.h>
#include <string.h>

#include "board.h"
#include "cortex_m.h"
#include "stack_watermark.h"

/* Enough external interrupts for the largest supported part (STM32F411: 86). */
#define EXTERNAL_IRQ_COUNT 96

/* From the linker script. */
extern uint32_t _stack_top;
extern uint32_t _data_load;
extern uint32_t _data_start;
extern uint32_t _data_end;
extern uint32_t _bss_start;
extern uint32_t _bss_end;

int main(void);
void Reset_Handler(void);
void SysTick_Handler(void);

/* A fault leaves the core here, where a debugger (or QEMU's gdb stub) finds
 * it; the host sees a board that stops answering and restarts it. */
static void fault_handler(void) {
  for (;;) {
  }
}

static void external_irq_handler(void) {
  uint32_t ipsr;
  __asm__ volatile("mrs %0, ipsr" : "=r"(ipsr));
  board_handle_irq(ipsr - 16u);
}

typedef void (*vector_entry)(void);

#define FOUR_IRQS external_irq_handler, external_irq_handler, external_irq_handler, external_irq_handler
#define SIXTEEN_IRQS FOUR_IRQS, FOUR_IRQS, FOUR_IRQS, FOUR_IRQS

__attribute__((section(".isr_vector"), used)) static const vector_entry g_vectors[16 + EXTERNAL_IRQ_COUNT] = {
    (vector_entry)&_stack_top,
    Reset_Handler,
    fault_handler, /* NMI */
    fault_handler, /* HardFault */
    fault_handler, /* MemManage */
    fault_handler, /* BusFault */
    fault_handler, /* UsageFault */
    0,
    0,
    0,
    0,
    fault_handler, /* SVCall */
    fault_handler, /* DebugMonitor */
    0,
    fault_handler, /* PendSV */
    SysTick_Handler,
    SIXTEEN_IRQS,
    SIXTEEN_IRQS,
    SIXTEEN_IRQS,
    SIXTEEN_IRQS,
    SIXTEEN_IRQS,
    SIXTEEN_IRQS,
};

void Reset_Handler(void) {
  irq_disable();
  SCB_VTOR = (uint32_t)(uintptr_t)g_vectors;
  stack_paint();
  memcpy(&_data_start, &_data_load, (size_t)((char*)&_data_end - (char*)&_data_start));
  memset(&_bss_start, 0, (size_t)((char*)&_bss_end - (char*)&_bss_start));
  main();
  for (;;) {
  }
}
