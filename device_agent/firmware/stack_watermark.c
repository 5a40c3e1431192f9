#include "stack_watermark.h"

/* From the linker script. */
extern uint32_t _stack_top;
extern uint32_t _bss_end;

#define STACK_PATTERN 0xA5C3A5C3u
/* Painting the whole of a 4 MiB RAM would cost boot time for nothing: no
 * image reserves more than 16 KiB of stack. */
#define STACK_PAINT_BYTES (64u * 1024u)

static uint32_t* paint_bottom(void) {
  uintptr_t bottom = (uintptr_t)&_bss_end;
  uintptr_t top = (uintptr_t)&_stack_top;
  if (top - bottom > STACK_PAINT_BYTES) bottom = top - STACK_PAINT_BYTES;
  return (uint32_t*)bottom;
}

void stack_paint(void) {
  uint32_t* sp;
  __asm__ volatile("mov %0, sp" : "=r"(sp));
  /* Leave this function's own frame and a margin alone. */
  uint32_t* end = sp - 16;
  for (volatile uint32_t* word = paint_bottom(); word < end; ++word) *word = STACK_PATTERN;
}

uint32_t stack_bytes(void) { return (uint32_t)((uintptr_t)&_stack_top - (uintptr_t)&_bss_end); }

uint32_t stack_peak(void) {
  const volatile uint32_t* word = paint_bottom();
  const uint32_t* top = &_stack_top;
  while (word < top && *word == STACK_PATTERN) ++word;
  return (uint32_t)((uintptr_t)top - (uintptr_t)word);
}
