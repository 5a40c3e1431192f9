#include "stm32f4_usart.h"

#include "cortex_m.h"
#include "receive_ring.h"

#define USART_SR(base) CM_REG((base) + 0x00u)
#define USART_DR(base) CM_REG((base) + 0x04u)
#define USART_BRR(base) CM_REG((base) + 0x08u)
#define USART_CR1(base) CM_REG((base) + 0x0Cu)
#define USART_CR2(base) CM_REG((base) + 0x10u)
#define USART_CR3(base) CM_REG((base) + 0x14u)

#define USART_SR_ORE (1u << 3)
#define USART_SR_RXNE (1u << 5)
#define USART_SR_TXE (1u << 7)
#define USART_CR1_RE (1u << 2)
#define USART_CR1_TE (1u << 3)
#define USART_CR1_RXNEIE (1u << 5)
#define USART_CR1_UE (1u << 13)

void stm32f4_usart_init(uint32_t base, uint32_t brr) {
  USART_CR1(base) = 0;
  USART_CR2(base) = 0;
  USART_CR3(base) = 0;
  USART_BRR(base) = brr;
  USART_CR1(base) = USART_CR1_UE | USART_CR1_TE | USART_CR1_RE | USART_CR1_RXNEIE;
}

void stm32f4_usart_drain_receive(uint32_t base) {
  /* Reading SR then DR clears RXNE and an overrun (ORE) alike; an overrun
   * loses a byte, which the binary commands' CRCs catch. */
  uint32_t status;
  while ((status = USART_SR(base)) & (USART_SR_RXNE | USART_SR_ORE)) {
    uint8_t byte = (uint8_t)USART_DR(base);
    if (status & USART_SR_RXNE) receive_ring_push(byte);
  }
}

void stm32f4_usart_write(uint32_t base, const uint8_t* data, uint32_t size) {
  for (uint32_t i = 0; i < size; ++i) {
    while (!(USART_SR(base) & USART_SR_TXE)) {
    }
    USART_DR(base) = data[i];
  }
}
