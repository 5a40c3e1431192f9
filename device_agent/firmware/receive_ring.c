#include "receive_ring.h"

/* 4 KiB covers more than 0.3 s of a 115200-baud line while the main loop
 * does something else between reads. Power of two: indices wrap by mask. */
#define RECEIVE_RING_BYTES 4096u

static uint8_t g_ring[RECEIVE_RING_BYTES];
static volatile uint32_t g_head; /* written by the interrupt */
static volatile uint32_t g_tail; /* written by the main loop */
static volatile uint32_t g_dropped;

void receive_ring_push(uint8_t byte) {
  uint32_t head = g_head;
  if (head - g_tail >= RECEIVE_RING_BYTES) {
    g_dropped++;
    return;
  }
  g_ring[head & (RECEIVE_RING_BYTES - 1u)] = byte;
  __asm__ volatile("dmb" ::: "memory");
  g_head = head + 1u;
}

int receive_ring_pop(uint8_t* byte) {
  uint32_t tail = g_tail;
  if (tail == g_head) return 0;
  __asm__ volatile("dmb" ::: "memory");
  *byte = g_ring[tail & (RECEIVE_RING_BYTES - 1u)];
  g_tail = tail + 1u;
  return 1;
}

int receive_ring_has_data(void) { return g_tail != g_head; }

uint32_t receive_ring_dropped_bytes(void) { return g_dropped; }
