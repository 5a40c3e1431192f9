/* netduinoplus2: an STM32F405 board as QEMU emulates it (1 MiB flash,
 * 192 KiB SRAM contiguous at 0x20000000 in QEMU — on silicon 64 KiB of it is
 * CCM at 0x10000000 — and a 168 MHz SysTick clock). QEMU connects its first
 * serial port to USART1 (IRQ 37). QEMU does not model the clock tree (RCC
 * reads 0), so the PLL setup below is bounded and its outcome ignored: the
 * emulated core runs at 168 MHz either way. */
#include "board.h"
#include "cortex_m.h"
#include "stm32f4_rcc.h"
#include "stm32f4_usart.h"

#define USART1_BASE 0x40011000u
#define USART1_IRQ 37u
#define CORE_CLOCK_HZ 168000000u
#define APB2_CLOCK_HZ 84000000u
#ifndef QATLAB_FW_BAUD_RATE
#error "QATLAB_FW_BAUD_RATE must be defined by the build (CMakeLists.txt)"
#endif
#define BAUD_RATE QATLAB_FW_BAUD_RATE

static const board_info g_info = {
    .name = "netduinoplus2",
    .core = "cortex-m4",
    .clock_hz = CORE_CLOCK_HZ,
    .flash_bytes = 1024u * 1024u,
    .ram_bytes = 192u * 1024u,
    .cycle_counter = "systick",
    .clock_model = "qemu-icount",
    .baud = BAUD_RATE,
};

const board_info* board_get_info(void) { return &g_info; }

/* 25 MHz HSE (the Netduino Plus 2 crystal) → PLL 168 MHz; AHB 168, APB1 42,
 * APB2 84; 5 flash wait states at 3.3 V. */
static void start_pll(void) {
  RCC_APB1ENR |= RCC_APB1ENR_PWREN;
  PWR_CR |= 1u << 14; /* voltage scale 1 */
  RCC_CR |= RCC_CR_HSEON;
  if (!stm32f4_wait_bits(&RCC_CR, RCC_CR_HSERDY, RCC_CR_HSERDY)) return;
  RCC_PLLCFGR = 25u | (336u << 6) | (0u << 16) | RCC_PLLCFGR_SRC_HSE | (7u << 24);
  RCC_CR |= RCC_CR_PLLON;
  if (!stm32f4_wait_bits(&RCC_CR, RCC_CR_PLLRDY, RCC_CR_PLLRDY)) return;
  FLASH_ACR = FLASH_ACR_PRFTEN | FLASH_ACR_ICEN | FLASH_ACR_DCEN | 5u;
  if (!stm32f4_wait_bits(&FLASH_ACR, 0xFu, 5u)) return;
  RCC_CFGR = (0u << 4) | (5u << 10) | (4u << 13) | RCC_CFGR_SW_PLL;
  (void)stm32f4_wait_bits(&RCC_CFGR, RCC_CFGR_SWS_MASK, RCC_CFGR_SWS_PLL);
}

void board_init(void) {
  start_pll();
  RCC_AHB1ENR |= 1u << 0; /* GPIOA */
  RCC_APB2ENR |= 1u << 4; /* USART1 */
  /* PA9 (TX) and PA10 (RX) to alternate function 7. */
  GPIOA_MODER = (GPIOA_MODER & ~((3u << 18) | (3u << 20))) | (2u << 18) | (2u << 20);
  GPIOA_AFRH = (GPIOA_AFRH & ~((0xFu << 4) | (0xFu << 8))) | (7u << 4) | (7u << 8);
  stm32f4_usart_init(USART1_BASE, (APB2_CLOCK_HZ + BAUD_RATE / 2u) / BAUD_RATE);
  nvic_set_priority(USART1_IRQ, 0x40);
  nvic_enable_irq(USART1_IRQ);
  cycle_counter_start();
  irq_enable();
}

void board_handle_irq(uint32_t irq_number) {
  if (irq_number == USART1_IRQ) stm32f4_usart_drain_receive(USART1_BASE);
}

void board_uart_write(const uint8_t* data, uint32_t size) { stm32f4_usart_write(USART1_BASE, data, size); }
