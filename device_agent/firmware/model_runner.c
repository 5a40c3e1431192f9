#include "model_runner.h"

#include "board.h"

#ifndef QATLAB_FW_MODEL_CAPACITY
#error "QATLAB_FW_MODEL_CAPACITY (bytes of the model buffer) must be defined by the build"
#endif
#ifndef QATLAB_FW_ARENA_CAPACITY
#error "QATLAB_FW_ARENA_CAPACITY (bytes of the activation arena) must be defined by the build"
#endif
#ifndef QATLAB_FW_INPUT_CAPACITY
#error "QATLAB_FW_INPUT_CAPACITY (bytes of the input buffer) must be defined by the build"
#endif

/* Classes of a classifier; generous for the MLPerf Tiny models (≤ 12). */
#define OUTPUT_CAPACITY 1024u

static uint8_t g_model_buffer[QATLAB_FW_MODEL_CAPACITY] __attribute__((aligned(8)));
static uint8_t g_arena[QATLAB_FW_ARENA_CAPACITY] __attribute__((aligned(8)));
static uint8_t g_input[QATLAB_FW_INPUT_CAPACITY] __attribute__((aligned(8)));
static int8_t g_output[OUTPUT_CAPACITY] __attribute__((aligned(8)));

static qk_model g_model;
static int g_model_loaded;
static uint32_t g_input_length;
static int g_has_output;

/* Per-layer timing, written by the op hook during an inference. */
static uint32_t g_layer_count;
static uint32_t g_layer_kind[QK_MAX_OPS];
static uint32_t g_layer_cycles[QK_MAX_OPS];
static uint64_t g_layer_start;

uint32_t model_runner_model_capacity(void) { return QATLAB_FW_MODEL_CAPACITY; }
uint32_t model_runner_arena_capacity(void) { return QATLAB_FW_ARENA_CAPACITY; }
uint32_t model_runner_input_capacity(void) { return QATLAB_FW_INPUT_CAPACITY; }
uint32_t model_runner_output_capacity(void) { return OUTPUT_CAPACITY; }

uint8_t* model_runner_model_buffer(void) { return g_model_buffer; }

void model_runner_unload(void) {
  g_model_loaded = 0;
  g_has_output = 0;
  g_layer_count = 0;
}

qk_status model_runner_open(uint32_t size, uint32_t* needed, char* what) {
  model_runner_unload();
  qk_status status = qk_model_open(&g_model, g_model_buffer, size);
  if (status != QK_OK) return status;
  if (g_model.arena_bytes > QATLAB_FW_ARENA_CAPACITY) {
    *needed = g_model.arena_bytes;
    return QK_ERR_ARENA_TOO_SMALL;
  }
  if (g_model.input_bytes > QATLAB_FW_INPUT_CAPACITY) {
    *needed = g_model.input_bytes;
    *what = 'i';
    return QK_ERR_ARGUMENT;
  }
  if (g_model.output_bytes > OUTPUT_CAPACITY) {
    *needed = g_model.output_bytes;
    *what = 'o';
    return QK_ERR_ARGUMENT;
  }
  g_model_loaded = 1;
  return QK_OK;
}

const qk_model* model_runner_model(void) { return g_model_loaded ? &g_model : 0; }

uint8_t* model_runner_input_buffer(void) { return g_input; }
uint32_t model_runner_input_length(void) { return g_input_length; }
void model_runner_set_input_length(uint32_t length) { g_input_length = length; }

static void record_layer(void* context, uint32_t index, uint32_t op_kind) {
  (void)context;
  uint64_t now = board_cycles();
  if (index < QK_MAX_OPS) {
    g_layer_kind[index] = op_kind;
    g_layer_cycles[index] = (uint32_t)(now - g_layer_start);
    if (index + 1u > g_layer_count) g_layer_count = index + 1u;
  }
  /* Start the next layer's clock after this bookkeeping. */
  g_layer_start = board_cycles();
}

qk_status model_runner_invoke(uint64_t* cycles) {
  g_layer_count = 0;
  cycle_counter_align();
  uint64_t start = board_cycles();
  g_layer_start = start;
  qk_status status =
      qk_model_invoke(&g_model, (const int8_t*)g_input, g_output, g_arena, QATLAB_FW_ARENA_CAPACITY, record_layer, 0);
  *cycles = board_cycles() - start;
  g_has_output = status == QK_OK;
  return status;
}

int model_runner_has_output(void) { return g_has_output; }
const int8_t* model_runner_output(void) { return g_output; }
uint32_t model_runner_output_length(void) { return g_model_loaded ? g_model.output_bytes : 0; }

uint32_t model_runner_layer_count(void) { return g_has_output ? g_layer_count : 0; }
uint32_t model_runner_layer_kind(uint32_t index) { return g_layer_kind[index]; }
uint32_t model_runner_layer_cycles(uint32_t index) { return g_layer_cycles[index]; }
