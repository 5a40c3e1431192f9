/* The STM32F4 USART (reference manual RM0090/RM0383, "USART registers"), as
 * both STM32 boards use it: interrupt-driven receive, polled transmit. */
#ifndef QATLAB_FW_STM32F4_USART_H_
#define QATLAB_FW_STM32F4_USART_H_

#include <stdint.h>

/* Enables the USART at `base` for 8N1 with the given BRR value and the
 * receive interrupt (RXNEIE) on. The caller has enabled its clock and pins. */
void stm32f4_usart_init(uint32_t base, uint32_t brr);

/* Moves every received byte into the receive ring (interrupt context). */
void stm32f4_usart_drain_receive(uint32_t base);

void stm32f4_usart_write(uint32_t base, const uint8_t* data, uint32_t size);

#endif /* QATLAB_FW_STM32F4_USART_H_ */
