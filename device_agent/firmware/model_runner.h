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

/* Opens the first `size` bytes of the model buffer. On QK_OK the model is
 * loaded; on any error it stays unloaded and *needed holds the figure that
 * did not fit (arena, input or output bytes) when the status says so:
 * QK_ERR_ARENA_TOO_SMALL → arena bytes needed; QK_ERR_ARGUMENT → the model's
 * input or output is larger than the board's buffer (see *what: 'i' or 'o'). */
qk_status model_runner_open(uint32_t size, uint32_t* needed, char* what);

/* NULL when no model is loaded. */
const qk_model* model_runner_model(void);

/* The input buffer. model_runner_input_length() counts the bytes received. */
uint8_t* model_runner_input_buffer(void);
uint32_t model_runner_input_length(void);
void model_runner_set_input_length(uint32_t length);

/* Runs the loaded model on the input buffer into the output buffer, records
 * per-layer cycles, and stores the whole inference's cycles in *cycles.
 * REQUIRES: a model is loaded and the input holds exactly its input_bytes. */
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
