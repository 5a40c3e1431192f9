/* The board's model state: the static model buffer the model is uploaded
 * into and run from in place, the activation arena, the input buffer (the
 * MLPerf "db" buffer) and the last inference's output and per-layer cycles.
 * All memory is static and sized per board at build time (CMakeLists.txt);
 * nothing is allocated. Single-threaded: main loop only. */
#ifndef QATLAB_FW_MODEL_RUNNER_H_
#define QATLAB_FW_MODEL_RUNNER_H_

#include <stdint.h>

#include "qatlab_kernels/qmodel.h"

/* Capacities, bytes. */
uint32_t model_runner_model_capacity(void);
uint32_t model_runner_arena_capacity(void);
uint32_t model_runner_input_capacity(void);
uint32_t model_runner_output_capacity(void);

/* The model buffer, writable while no model is loaded (an upload first calls
 * model_runner_unload()). */
uint8_t* model_runner_model_buffer(void);

void model_runner_unload(void);

/* Where the loaded model lives: the RAM model buffer (uploaded), the
 * image's flash (embedded_model.h) or the model slot (model_slot.h). */
typedef enum {
  MODEL_SOURCE_NONE = 0,
  MODEL_SOURCE_UPLOAD = 1,
  MODEL_SOURCE_FLASH = 2,
  MODEL_SOURCE_SLOT = 3
} model_source;

/* Opens the first `size` bytes of the model buffer. On QK_OK the model is
 * loaded; on any error it stays unloaded and *needed holds the figure that
 * did not fit (arena, input or output bytes) when the status says so:
 * QK_ERR_ARENA_TOO_SMALL → arena bytes needed; QK_ERR_ARGUMENT → the model's
 * input or output is larger than the board's buffer (see *what: 'i' or 'o'). */
qk_status model_runner_open(uint32_t size, uint32_t* needed, char* what);

/* As model_runner_open, for a model that stays where it is (in flash): run
 * in place, nothing copied. `bytes` must outlive the session and be 4-byte
 * aligned. */
qk_status model_runner_open_flash(const uint8_t* bytes, uint32_t size, uint32_t* needed, char* what);
/* The same for the model slot's model (model_source MODEL_SOURCE_SLOT). */
qk_status model_runner_open_slot(const uint8_t* bytes, uint32_t size, uint32_t* needed, char* what);

model_source model_runner_source(void);
/* The loaded model's size and CRC-32 (the .qmodel file's, as qm-begin
 * carries it); 0 when none is loaded. */
uint32_t model_runner_model_bytes(void);
uint32_t model_runner_model_crc(void);

/* NULL when no model is loaded. */
const qk_model* model_runner_model(void);

/* How the bytes a host loads with `db` map onto the model's int8 input
 * tensor, as the MLPerf Tiny reference firmware converts them:
 *   INPUT_INT8    the bytes are the int8 tensor (kws01);
 *   INPUT_UINT8   uint8 pixels, tensor = byte - 128 (ic01, vww01);
 *   INPUT_FLOAT32 little-endian float32 features, 4 bytes each, quantized
 *                 with the model's input scale and zero point (ad01).
 * qm-input always carries the int8 tensor itself (model_runner_set_input_is_tensor). */
typedef enum { INPUT_INT8 = 0, INPUT_UINT8 = 1, INPUT_FLOAT32 = 2 } input_convention;

void model_runner_set_convention(input_convention convention);
input_convention model_runner_convention(void);
const char* model_runner_convention_name(input_convention convention);
/* 1 and *convention set for "int8", "uint8" or "float32"; 0 otherwise. */
int model_runner_parse_convention(const char* name, input_convention* convention);

/* The input buffer as the host loaded it. model_runner_input_length() counts
 * the bytes received. Taking the buffer undoes any in-place conversion, so
 * a caller always sees and writes the host's bytes. */
uint8_t* model_runner_input_buffer(void);
uint32_t model_runner_input_length(void);
void model_runner_set_input_length(uint32_t length);
/* 1: the buffer holds the int8 tensor itself (qm-input), whatever the
 * convention; 0: it holds `db` bytes in the convention. Reset by each load. */
void model_runner_set_input_is_tensor(int is_tensor);

/* Bytes the host must load for one input: input_bytes, times 4 for float32
 * `db` input. REQUIRES: a model is loaded. */
uint32_t model_runner_expected_input_length(void);
/* Converts the buffer into the model's int8 tensor (once per load), as the
 * reference's th_load_tensor does before its timed loop. Returns 0 when the
 * buffer cannot hold the converted tensor beside the floats (float32 needs
 * 5 bytes per element). REQUIRES: a model is loaded. */
int model_runner_prepare_input(void);
/* The float32 features of the last `db` load (INPUT_FLOAT32 only), else 0. */
const float* model_runner_input_floats(void);

/* Runs the loaded model on the prepared input into the output buffer,
 * records per-layer cycles, and stores the whole inference's cycles in
 * *cycles. Interrupts stay masked during the inference, so no handler's
 * instructions (a SysTick wrap, a stray UART byte) land in a measured
 * interval; a wrap pending meanwhile is counted by board_cycles().
 * REQUIRES: a model is loaded and model_runner_prepare_input() succeeded. */
qk_status model_runner_invoke(uint64_t* cycles);

/* The last successful inference; has_output is 0 before the first and after
 * a model change. */
int model_runner_has_output(void);
const int8_t* model_runner_output(void);
uint32_t model_runner_output_length(void);

/* Per-layer cycles of the last inference (op index order). */
uint32_t model_runner_layer_count(void);
uint32_t model_runner_layer_kind(uint32_t index);
uint32_t model_runner_layer_cycles(uint32_t index);

#endif /* QATLAB_FW_MODEL_RUNNER_H_ */
