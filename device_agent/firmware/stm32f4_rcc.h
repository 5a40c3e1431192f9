/* STM32F4 reset and clock control, flash interface and power registers
 * (RM0090 / RM0383), shared by the STM32 boards. */
#ifndef QATLAB_FW_STM32F4_RCC_H_
#define QATLAB_FW_STM32F4_RCC_H_

#include "cortex_m.h"

#define RCC_BASE 0x40023800u
#define RCC_CR CM_REG(RCC_BASE + 0x00u)
#define RCC_PLLCFGR CM_REG(RCC_BASE + 0x04u)
#define RCC_CFGR CM_REG(RCC_BASE + 0x08u)
#define RCC_AHB1ENR CM_REG(RCC_BASE + 0x30u)
#define RCC_APB1ENR CM_REG(RCC_BASE + 0x40u)
#define RCC_APB2ENR CM_REG(RCC_BASE + 0x44u)

#define RCC_CR_HSEON (1u << 16)
#define RCC_CR_HSERDY (1u << 17)
#define RCC_CR_HSEBYP (1u << 18)
#define RCC_CR_PLLON (1u << 24)
#define RCC_CR_PLLRDY (1u << 25)
#define RCC_PLLCFGR_SRC_HSE (1u << 22)
#define RCC_CFGR_SW_PLL 2u
#define RCC_CFGR_SWS_MASK (3u << 2)
#define RCC_CFGR_SWS_PLL (2u << 2)

#define FLASH_ACR CM_REG(0x40023C00u)
#define FLASH_ACR_PRFTEN (1u << 8)
#define FLASH_ACR_ICEN (1u << 9)
#define FLASH_ACR_DCEN (1u << 10)

#define PWR_CR CM_REG(0x40007000u)
#define RCC_APB1ENR_PWREN (1u << 28)

#define GPIOA_BASE 0x40020000u
#define GPIOA_MODER CM_REG(GPIOA_BASE + 0x00u)
#define GPIOA_AFRL CM_REG(GPIOA_BASE + 0x20u)
#define GPIOA_AFRH CM_REG(GPIOA_BASE + 0x24u)

/* How many polls a clock-ready wait gets: a few milliseconds at the reset
 * clock on silicon, and a bound under QEMU, whose clock registers read 0. */
#define STM32F4_CLOCK_READY_POLLS 200000u

/* Polls until (reg & mask) == value or the bound runs out; 1 on success. */
static inline int stm32f4_wait_bits(volatile uint32_t* reg, uint32_t mask, uint32_t value) {
  for (uint32_t i = 0; i < STM32F4_CLOCK_READY_POLLS; ++i) {
    if ((*reg & mask) == value) return 1;
  }
  return 0;
}

#endif /* QATLAB_FW_STM32F4_RCC_H_ */
