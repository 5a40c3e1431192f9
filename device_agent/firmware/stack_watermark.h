/* How deep the stack has been since reset: the reset handler paints the free
 * RAM below the stack pointer with a pattern, and the deepest word no longer
 * holding it is the high-water mark (qm-info's stack_peak). */
#ifndef QATLAB_FW_STACK_WATERMARK_H_
#define QATLAB_FW_STACK_WATERMARK_H_

#include <stdint.h>

/* Called by the reset handler before .data and .bss are set up: uses only
 * the linker's symbols. Paints at most the STACK_PAINT_BYTES below the
 * caller's frame. */
void stack_paint(void);

/* Bytes between the end of the static RAM (.bss) and the top of RAM: what
 * the stack may grow into. */
uint32_t stack_bytes(void);

/* Deepest stack use since reset, in bytes below the top of RAM; a figure at
 * the painted limit means "at least". */
uint32_t stack_peak(void);

#endif /* QATLAB_FW_STACK_WATERMARK_H_ */
