/* mps2-an386: Arm's MPS2 FPGA board with the AN386 Cortex-M4 image, as QEMU
 * emulates it. UART0 is a CMSDK APB UART at 0x40004000 whose receive
 * interrupt is IRQ 0; the core clock is 25 MHz. The 4 MiB SSRAM1 at 0 holds
 * the code (QEMU loads the ELF there), the 4 MiB SSRAM2/3 at 0x20000000 the
 * data. */
#include "board.h"
#include "cortex_m.h"
#include "receive_ring.h"

#define UART0_BASE 0x40004000u
#define UART_DATA CM_REG(UART0_BASE + 0x00u)
#define UART_STATE CM_REG(UART0_BASE + 0x04u)
#define UART_CTRL CM_REG(UART0_BASE + 0x08u)
#define UART_INTSTATUS CM_REG(UART0_BASE + 0x0Cu) /* write 1 to clear */
#define UART_BAUDDIV CM_REG(UART0_BASE + 0x10u)

#define UART_STATE_TX_FULL (1u << 0)
#define UART_STATE_RX_FULL (1u << 1)
#define UART_CTRL_TX_ENABLE (1u << 0)
#define UART_CTRL_RX_ENABLE (1u << 1)
#define UART_CTRL_RX_INTERRUPT (1u << 3)
#define UART_INT_RX (1u << 1)

#define UART0_RX_IRQ 0u
#define CORE_CLOCK_HZ 25000000u
#ifndef QATLAB_FW_BAUD_RATE
#error "QATLAB_FW_BAUD_RATE must be defined by the build (CMakeLists.txt)"
#endif
#define BAUD_RATE QATLAB_FW_BAUD_RATE
/* An image may cut the RAM its linker script uses (mps2_an386_64k.ld). */
#ifndef QATLAB_FW_RAM_BYTES
#define QATLAB_FW_RAM_BYTES (4u * 1024u * 1024u)
#endif

static const board_info g_info = {
    .name = "mps2-an386",
    .core = "cortex-m4",
    .clock_hz = CORE_CLOCK_HZ,
    .flash_bytes = 4u * 1024u * 1024u,
    .ram_bytes = QATLAB_FW_RAM_BYTES,
    .cycle_counter = "systick",
    .clock_model = "qemu-icount",
    .baud = BAUD_RATE,
};

const board_info* board_get_info(void) { return &g_info; }

void board_init(void) {
  /* QEMU refuses to move bytes while BAUDDIV < 16, so set a real divisor
   * even though the pty ignores the rate. */
  UART_BAUDDIV = CORE_CLOCK_HZ / BAUD_RATE;
  UART_CTRL = UART_CTRL_TX_ENABLE | UART_CTRL_RX_ENABLE | UART_CTRL_RX_INTERRUPT;
  nvic_set_priority(UART0_RX_IRQ, 0x40);
  nvic_enable_irq(UART0_RX_IRQ);
  cycle_counter_start();
  irq_enable();
}

void board_handle_irq(uint32_t irq_number) {
  if (irq_number != UART0_RX_IRQ) return;
  /* Clear first: a byte arriving after the drain below raises it again. */
  UART_INTSTATUS = UART_INT_RX;
  while (UART_STATE & UART_STATE_RX_FULL) {
    receive_ring_push((uint8_t)UART_DATA);
  }
}

void board_uart_write(const uint8_t* data, uint32_t size) {
  for (uint32_t i = 0; i < size; ++i) {
    while (UART_STATE & UART_STATE_TX_FULL) {
    }
    UART_DATA = data[i];
  }
}
