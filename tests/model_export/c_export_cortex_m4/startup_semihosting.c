/* The board under the C export's example in the Cortex-M4 test, on QEMU
 * mps2-an386: the reset handler and vector table the firmware's linker script
 * expects (device_agent/firmware/linker: .isr_vector, Reset_Handler, the
 * _data and _bss symbols), printf through newlib's semihosting (rdimon), and
 * main's return value as QEMU's exit status. The firmware's own startup.c
 * never returns from main and needs the whole board layer, so it is not used
 * here. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

extern uint32_t _stack_top, _data_load, _data_start, _data_end, _bss_start, _bss_end;
int main(void);
void Reset_Handler(void);
void initialise_monitor_handles(void);

static void fault_handler(void) { exit(3); }

typedef void (*vector_entry)(void);

__attribute__((section(".isr_vector"), used)) static const vector_entry g_vectors[16] = {
    (vector_entry)(uintptr_t)&_stack_top,
    Reset_Handler,
    fault_handler,
    fault_handler,
    fault_handler,
    fault_handler,
    fault_handler};

void Reset_Handler(void) {
  memcpy(&_data_start, &_data_load, (size_t)((char*)&_data_end - (char*)&_data_start));
  memset(&_bss_start, 0, (size_t)((char*)&_bss_end - (char*)&_bss_start));
  initialise_monitor_handles();
  exit(main());
}
