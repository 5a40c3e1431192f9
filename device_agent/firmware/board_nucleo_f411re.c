/* NUCLEO-F411RE (STM32F411RE: 512 KiB flash, 128 KiB SRAM, up to 100 MHz).
 * The ST-LINK virtual COM port is wired to USART2 on PA2 (TX) / PA3 (RX),
 * IRQ 38. The clock comes from the 16 MHz HSI through the PLL (the HSE input
 * is not fitted on every Nucleo revision), and cycles from the DWT counter.
 * Built here, not yet run on hardware. */
#include "board.h"
#include "cortex_m.h"
#include "stm32f4_rcc.h"
#include "stm32f4_usart.h"

#define USART2_BASE 0x40004400u
#define USART2_IRQ 38u
#define HSI_CLOCK_HZ 16000000u
#define PLL_CLOCK_HZ 100000000u
#ifndef QATLAB_FW_BAUD_RATE
#error "QATLAB_FW_BAUD_RATE must be defined by the build (CMakeLists.txt)"
#endif
#define BAUD_RATE QATLAB_FW_BAUD_RATE

static board_info g_info = {
    .name = "nucleo-f411re",
    .core = "cortex-m4",
    .clock_hz = HSI_CLOCK_HZ,
    .flash_bytes = 512u * 1024u,
    .ram_bytes = 128u * 1024u,
    .cycle_counter = "dwt",
    .clock_model = "dwt-cyccnt",
    .baud = BAUD_RATE,
};

const board_info* board_get_info(void) { return &g_info; }

/* HSI 16 MHz /8 = 2 MHz VCO input, ×100 = 200 MHz VCO, /2 = 100 MHz core;
 * AHB 100, APB1 50 (its maximum), APB2 100; 3 flash wait states at 3.3 V;
 * voltage scale 1. Returns the core clock actually running: 100 MHz, or the
 * HSI's 16 MHz if the PLL did not lock in time. */
static uint32_t start_pll(void) {
  RCC_APB1ENR |= RCC_APB1ENR_PWREN;
  PWR_CR = (PWR_CR & ~(3u << 14)) | (3u << 14);
  RCC_PLLCFGR = 8u | (100u << 6) | (0u << 16) | (4u << 24); /* source HSI */
  RCC_CR |= RCC_CR_PLLON;
  if (!stm32f4_wait_bits(&RCC_CR, RCC_CR_PLLRDY, RCC_CR_PLLRDY)) return HSI_CLOCK_HZ;
  FLASH_ACR = FLASH_ACR_PRFTEN | FLASH_ACR_ICEN | FLASH_ACR_DCEN | 3u;
  if (!stm32f4_wait_bits(&FLASH_ACR, 0xFu, 3u)) return HSI_CLOCK_HZ;
  RCC_CFGR = (0u << 4) | (4u << 10) | (0u << 13) | RCC_CFGR_SW_PLL;
  if (!stm32f4_wait_bits(&RCC_CFGR, RCC_CFGR_SWS_MASK, RCC_CFGR_SWS_PLL)) {
    RCC_CFGR = 0; /* back to HSI, all prescalers 1 */
    return HSI_CLOCK_HZ;
  }
  return PLL_CLOCK_HZ;
}

void board_init(void) {
  g_info.clock_hz = start_pll();
  uint32_t apb1_hz = g_info.clock_hz == PLL_CLOCK_HZ ? PLL_CLOCK_HZ / 2u : HSI_CLOCK_HZ;
  RCC_AHB1ENR |= 1u << 0;  /* GPIOA */
  RCC_APB1ENR |= 1u << 17; /* USART2 */
  /* PA2 (TX) and PA3 (RX) to alternate function 7. */
  GPIOA_MODER = (GPIOA_MODER & ~((3u << 4) | (3u << 6))) | (2u << 4) | (2u << 6);
  GPIOA_AFRL = (GPIOA_AFRL & ~((0xFu << 8) | (0xFu << 12))) | (7u << 8) | (7u << 12);
  stm32f4_usart_init(USART2_BASE, (apb1_hz + BAUD_RATE / 2u) / BAUD_RATE);
  nvic_set_priority(USART2_IRQ, 0x40);
  nvic_enable_irq(USART2_IRQ);
  cycle_counter_start();
  irq_enable();
}

void board_handle_irq(uint32_t irq_number) {
  if (irq_number == USART2_IRQ) stm32f4_usart_drain_receive(USART2_BASE);
}

void board_uart_write(const uint8_t* data, uint32_t size) { stm32f4_usart_write(USART2_BASE, data, size); }
