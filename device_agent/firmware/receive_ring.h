/* The UART receive ring: the board's receive interrupt is the only producer,
 * the main loop the only consumer, so no lock is needed (single-word indices
 * on a single core). */
#ifndef QATLAB_FW_RECEIVE_RING_H_
#define QATLAB_FW_RECEIVE_RING_H_

#include <stdint.h>

/* Interrupt context only. A byte that finds the ring full is dropped and
 * counted; the CRCs of the binary commands catch it. */
void receive_ring_push(uint8_t byte);

/* Main loop only. Returns 1 and stores a byte, or 0 when the ring is empty. */
int receive_ring_pop(uint8_t* byte);

/* Main loop only: 1 when a byte is waiting. */
int receive_ring_has_data(void);

uint32_t receive_ring_dropped_bytes(void);

#endif /* QATLAB_FW_RECEIVE_RING_H_ */
