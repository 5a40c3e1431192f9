#include "serial_link.h"

#include "board.h"
#include "cortex_m.h"
#include "receive_ring.h"

static uint64_t milliseconds_to_cycles(uint32_t milliseconds) {
  return (uint64_t)milliseconds * (board_get_info()->clock_hz / 1000u);
}

int serial_read_byte(uint8_t* byte, uint32_t timeout_ms) {
  uint64_t deadline = 0;
  if (timeout_ms != SERIAL_WAIT_FOREVER) deadline = board_cycles() + milliseconds_to_cycles(timeout_ms);
  for (;;) {
    if (receive_ring_pop(byte)) return 1;
    if (timeout_ms != SERIAL_WAIT_FOREVER && board_cycles() >= deadline) return 0;
    /* Idle until the next interrupt (a received byte or a SysTick wrap);
     * the check and the sleep happen with interrupts off so a byte arriving
     * in between still wakes us. */
    irq_disable();
    if (!receive_ring_has_data()) board_idle();
    irq_enable();
  }
}

uint32_t serial_read_payload(uint8_t* destination, uint32_t size) {
  uint32_t received = 0;
  while (received < size) {
    uint8_t byte;
    /* Fast path: take whatever is buffered without touching the timer. */
    while (received < size && receive_ring_pop(&byte)) {
      if (destination) destination[received] = byte;
      received++;
    }
    if (received == size) break;
    if (!serial_read_byte(&byte, SERIAL_PAYLOAD_GAP_MS)) break;
    if (destination) destination[received] = byte;
    received++;
  }
  return received;
}
