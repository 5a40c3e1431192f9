#include "model_runner.h"

#include <string.h>

#include "board.h"
#include "cortex_m.h"

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
static model_source g_source;
static uint32_t g_model_bytes;
static uint32_t g_model_crc;
static uint32_t g_input_length;
static int g_has_output;

static input_convention g_convention = INPUT_INT8;
static int g_input_is_tensor;
/* Set once the buffer was converted for the loaded input; the uint8
 * conversion flips bytes in place (undone by model_runner_input_buffer), the
 * float32 one writes the tensor behind the floats. */
static int g_input_prepared;
static uint32_t g_flipped_bytes;
static const int8_t* g_tensor;

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

static void undo_conversion(void);

void model_runner_unload(void) {
  /* The converted tensor belongs to the model it was made for. */
  undo_conversion();
  g_model_loaded = 0;
  g_source = MODEL_SOURCE_NONE;
  g_model_bytes = 0;
  g_model_crc = 0;
  g_has_output = 0;
  g_layer_count = 0;
}

static qk_status open_at(const uint8_t* bytes, uint32_t size, uint32_t* needed, char* what) {
  model_runner_unload();
  qk_status status = qk_model_open(&g_model, bytes, size);
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
  g_model_bytes = size;
  g_model_crc = qk_crc32(0, bytes, size);
  return QK_OK;
}

qk_status model_runner_open(uint32_t size, uint32_t* needed, char* what) {
  qk_status status = open_at(g_model_buffer, size, needed, what);
  if (status == QK_OK) g_source = MODEL_SOURCE_UPLOAD;
  return status;
}

qk_status model_runner_open_flash(const uint8_t* bytes, uint32_t size, uint32_t* needed, char* what) {
  qk_status status = open_at(bytes, size, needed, what);
  if (status == QK_OK) g_source = MODEL_SOURCE_FLASH;
  return status;
}

qk_status model_runner_open_slot(const uint8_t* bytes, uint32_t size, uint32_t* needed, char* what) {
  qk_status status = open_at(bytes, size, needed, what);
  if (status == QK_OK) g_source = MODEL_SOURCE_SLOT;
  return status;
}

model_source model_runner_source(void) { return g_source; }
uint32_t model_runner_model_bytes(void) { return g_model_bytes; }
uint32_t model_runner_model_crc(void) { return g_model_crc; }

const qk_model* model_runner_model(void) { return g_model_loaded ? &g_model : 0; }

void model_runner_set_convention(input_convention convention) { g_convention = convention; }
input_convention model_runner_convention(void) { return g_convention; }

const char* model_runner_convention_name(input_convention convention) {
  switch (convention) {
    case INPUT_UINT8: return "uint8";
    case INPUT_FLOAT32: return "float32";
    case INPUT_INT8: break;
  }
  return "int8";
}

static int text_equals(const char* a, const char* b) {
  while (*a && *a == *b) {
    a++;
    b++;
  }
  return *a == *b;
}

int model_runner_parse_convention(const char* name, input_convention* convention) {
  static const input_convention kAll[] = {INPUT_INT8, INPUT_UINT8, INPUT_FLOAT32};
  for (uint32_t i = 0; i < sizeof(kAll) / sizeof(kAll[0]); ++i) {
    if (text_equals(name, model_runner_convention_name(kAll[i]))) {
      *convention = kAll[i];
      return 1;
    }
  }
  return 0;
}

static void undo_conversion(void) {
  for (uint32_t i = 0; i < g_flipped_bytes; ++i) g_input[i] ^= 0x80u;
  g_flipped_bytes = 0;
  g_input_prepared = 0;
}

uint8_t* model_runner_input_buffer(void) {
  undo_conversion();
  return g_input;
}
uint32_t model_runner_input_length(void) { return g_input_length; }
void model_runner_set_input_length(uint32_t length) {
  undo_conversion();
  g_input_length = length;
}
void model_runner_set_input_is_tensor(int is_tensor) {
  undo_conversion();
  g_input_is_tensor = is_tensor;
}

static input_convention effective_convention(void) { return g_input_is_tensor ? INPUT_INT8 : g_convention; }

uint32_t model_runner_expected_input_length(void) {
  return g_model.input_bytes * (effective_convention() == INPUT_FLOAT32 ? 4u : 1u);
}

/* As TFLite Micro's QuantizeFloatToInt8: round(x / scale) + zero point,
 * saturated to int8. */
static int8_t quantize(float value, float scale, int32_t zero_point) {
  float scaled = value / scale;
  int32_t rounded = (int32_t)(scaled + (scaled >= 0.0f ? 0.5f : -0.5f));
  if (!(scaled < 2.0e9f && scaled > -2.0e9f)) rounded = scaled > 0.0f ? 1000 : -1000; /* also NaN → -1000 */
  int32_t q = rounded + zero_point;
  return (int8_t)(q < -128 ? -128 : q > 127 ? 127 : q);
}

int model_runner_prepare_input(void) {
  if (g_input_prepared) return 1;
  uint32_t count = g_model.input_bytes;
  switch (effective_convention()) {
    case INPUT_INT8: g_tensor = (const int8_t*)g_input; break;
    case INPUT_UINT8:
      for (uint32_t i = 0; i < count; ++i) g_input[i] ^= 0x80u; /* byte - 128, as int8 */
      g_flipped_bytes = count;
      g_tensor = (const int8_t*)g_input;
      break;
    case INPUT_FLOAT32: {
      if ((uint64_t)count * 5u > QATLAB_FW_INPUT_CAPACITY) return 0;
      float scale;
      memcpy(&scale, &g_model.input_scale_bits, sizeof scale);
      int8_t* tensor = (int8_t*)(g_input + 4u * count);
      const float* features = (const float*)g_input;
      for (uint32_t i = 0; i < count; ++i) tensor[i] = quantize(features[i], scale, g_model.input_zero_point);
      g_tensor = tensor;
      break;
    }
  }
  g_input_prepared = 1;
  return 1;
}

const float* model_runner_input_floats(void) {
  return effective_convention() == INPUT_FLOAT32 ? (const float*)g_input : 0;
}

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
  if (!model_runner_prepare_input()) return QK_ERR_ARGUMENT;
  g_layer_count = 0;
  /* A SysTick wrap handler inside the measured interval would add its
   * instructions to one layer, one inference in hundreds: masked, the wrap
   * waits pending (board_cycles() counts it) and its handler runs after. */
  uint32_t primask = irq_save_disable();
  cycle_counter_align();
  uint64_t start = board_cycles();
  g_layer_start = start;
  qk_status status = qk_model_invoke(&g_model, g_tensor, g_output, g_arena, QATLAB_FW_ARENA_CAPACITY, record_layer, 0);
  *cycles = board_cycles() - start;
  irq_restore(primask);
  g_has_output = status == QK_OK;
  return status;
}

int model_runner_has_output(void) { return g_has_output; }
const int8_t* model_runner_output(void) { return g_output; }
uint32_t model_runner_output_length(void) { return g_model_loaded ? g_model.output_bytes : 0; }

uint32_t model_runner_layer_count(void) { return g_has_output ? g_layer_count : 0; }
uint32_t model_runner_layer_kind(uint32_t index) { return g_layer_kind[index]; }
uint32_t model_runner_layer_cycles(uint32_t index) { return g_layer_cycles[index]; }
