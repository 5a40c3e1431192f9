/* Receiving from the host over the board's UART: single bytes for commands
 * and exact-length binary payloads, with timeouts measured on the cycle
 * counter. The core sleeps (WFI) while it waits. */
#ifndef QATLAB_FW_SERIAL_LINK_H_
#define QATLAB_FW_SERIAL_LINK_H_

#include <stdint.h>

#define SERIAL_WAIT_FOREVER 0xFFFFFFFFu

/* How long a binary payload may pause between two bytes before the command
 * ends with a timeout (docs/protocol.md). */
#define SERIAL_PAYLOAD_GAP_MS 500u

/* Stores the next received byte and returns 1, or returns 0 when none
 * arrived within timeout_ms (SERIAL_WAIT_FOREVER: never returns 0). */
int serial_read_byte(uint8_t* byte, uint32_t timeout_ms);

/* Reads exactly `size` bytes into `destination` (NULL: the bytes are
 * discarded). Returns how many arrived: `size` on success, fewer when the
 * line stayed quiet for SERIAL_PAYLOAD_GAP_MS. */
uint32_t serial_read_payload(uint8_t* destination, uint32_t size);

#endif /* QATLAB_FW_SERIAL_LINK_H_ */
