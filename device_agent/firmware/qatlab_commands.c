#include "qatlab_commands.h"

#include <string.h>

#include "board.h"
#include "cortex_m.h"
#include "firmware_version.h"
#include "mlperf_commands.h"
#include "model_runner.h"
#include "model_slot.h"
#include "reply.h"
#include "serial_link.h"
#include "stack_watermark.h"

/* Largest qm-chunk payload: big enough that the per-chunk command and
 * acknowledgement cost little of the link (about 1% at 4 KiB), small enough
 * for the staging buffer on every board. */
#define CHUNK_MAX 4096u
#define RAW_MAX (16u * 1024u * 1024u)
#define INFER_MAX 1000u

/* The upload in progress (qm-begin .. qm-end). */
static struct {
  int active;
  uint32_t total_bytes;
  uint32_t crc;
  uint32_t chunk_bytes;
  uint32_t chunk_count;
  uint32_t acknowledged; /* chunks 0 .. acknowledged-1 are in the model buffer */
} g_upload;

/* A chunk lands here first and reaches the model buffer only when its CRC
 * matches, so a bad resend never spoils an acknowledged chunk. */
static uint8_t g_chunk_staging[CHUNK_MAX] __attribute__((aligned(4)));

static uint32_t g_infer_cycles[INFER_MAX];

int qatlab_is_command(const command_tokens* tokens) {
  return tokens->count > 0 && strncmp(tokens->tokens[0], "qm-", 3) == 0;
}

static void print_info_text(const char* key, const char* value) {
  reply_text("m-qm-info-");
  reply_text(key);
  reply_char('=');
  reply_line(value);
}

static void print_info_number(const char* key, uint32_t value) {
  reply_text("m-qm-info-");
  reply_text(key);
  reply_char('=');
  reply_unsigned(value);
  reply_end_line();
}

static void handle_info(void) {
  const board_info* info = board_get_info();
  print_info_text("board", info->name);
  print_info_text("core", info->core);
  print_info_number("clock_hz", info->clock_hz);
  print_info_number("flash_bytes", info->flash_bytes);
  print_info_number("ram_bytes", info->ram_bytes);
  print_info_text("kernels", qk_kernel_variant());
  print_info_text("firmware", QATLAB_FW_VERSION_TEXT);
  print_info_number("protocol", QATLAB_FW_PROTOCOL_VERSION);
  print_info_text("cycle_counter", info->cycle_counter);
  print_info_text("clock_model", info->clock_model);
  print_info_number("baud", info->baud);
  print_info_number("model_capacity", model_runner_model_capacity());
  print_info_number("arena_capacity", model_runner_arena_capacity());
  print_info_number("input_capacity", model_runner_input_capacity());
  print_info_number("chunk_max", CHUNK_MAX);
  print_info_number("infer_max", INFER_MAX);
  print_info_text("model", model_runner_model() ? "loaded" : "none");
  /* Which model is loaded, so a host can skip uploading what the board holds
   * (a model in flash): where it lives, its size and the CRC-32 of its
   * .qmodel bytes (qm-begin's). */
  static const char* const kSources[] = {"none", "upload", "flash", "slot"};
  print_info_text("model_source", kSources[model_runner_source()]);
  print_info_number("model_bytes", model_runner_model_bytes());
  reply_text("m-qm-info-model_crc=");
  reply_hex32(model_runner_model_crc());
  reply_end_line();
  print_info_number("stack_bytes", stack_bytes());
  print_info_number("stack_peak", stack_peak());
  print_info_text("input_convention", model_runner_convention_name(model_runner_convention()));
  /* The model slot a host may program (qm-slot-save); 0: none. */
  print_info_number("slot_bytes", model_slot_capacity());
}

static void handle_begin(const command_tokens* tokens) {
  uint32_t total = 0, crc = 0, chunk = 0;
  if (tokens->count != 4 || !command_parse_u32(tokens->tokens[1], &total) ||
      !command_parse_hex32(tokens->tokens[2], &crc) || !command_parse_u32(tokens->tokens[3], &chunk)) {
    reply_line("e-[qm-begin: usage: qm-begin <total_bytes> <crc32hex> <chunk_bytes>]");
    return;
  }
  if (total == 0) {
    reply_line("e-[qm-begin: model size must be >0]");
    return;
  }
  if (total > model_runner_model_capacity()) {
    reply_text("e-[qm-begin: model of ");
    reply_unsigned(total);
    reply_text(" bytes exceeds the buffer of ");
    reply_unsigned(model_runner_model_capacity());
    reply_line(" bytes]");
    return;
  }
  if (chunk == 0 || chunk > CHUNK_MAX) {
    reply_text("e-[qm-begin: chunk size must be 1..");
    reply_unsigned(CHUNK_MAX);
    reply_line("]");
    return;
  }
  /* The id named the model in flash, which this upload replaces. */
  if (model_runner_source() == MODEL_SOURCE_FLASH || model_runner_source() == MODEL_SOURCE_SLOT) {
    mlperf_set_model_id("none");
  }
  model_runner_unload();
  g_upload.active = 1;
  g_upload.total_bytes = total;
  g_upload.crc = crc;
  g_upload.chunk_bytes = chunk;
  g_upload.chunk_count = (total + chunk - 1u) / chunk;
  g_upload.acknowledged = 0;
  reply_text("m-qm-begin-chunks=");
  reply_unsigned(g_upload.chunk_count);
  reply_end_line();
}

static void chunk_error_prefix(uint32_t seq) {
  reply_text("e-[qm-chunk ");
  reply_unsigned(seq);
  reply_text(": ");
}

static void handle_chunk(const command_tokens* tokens) {
  uint32_t seq = 0, length = 0, crc = 0;
  if (tokens->count != 4 || !command_parse_u32(tokens->tokens[1], &seq) ||
      !command_parse_u32(tokens->tokens[2], &length) || !command_parse_hex32(tokens->tokens[3], &crc)) {
    reply_line("e-[qm-chunk: usage: qm-chunk <seq> <len> <crc32hex>]");
    return;
  }
  if (length > CHUNK_MAX) {
    /* Too long to swallow safely: the host resyncs with '%'. */
    reply_text("e-[qm-chunk: length ");
    reply_unsigned(length);
    reply_text(" exceeds chunk_max ");
    reply_unsigned(CHUNK_MAX);
    reply_line("]");
    return;
  }
  uint32_t received = serial_read_payload(g_chunk_staging, length);
  if (received != length) {
    chunk_error_prefix(seq);
    reply_text("timeout after ");
    reply_unsigned(received);
    reply_text(" of ");
    reply_unsigned(length);
    reply_line(" bytes]");
    return;
  }
  if (!g_upload.active) {
    chunk_error_prefix(seq);
    reply_line("no upload in progress]");
    return;
  }
  if (seq > g_upload.acknowledged || seq >= g_upload.chunk_count) {
    chunk_error_prefix(seq);
    reply_text("out of order, expecting ");
    reply_unsigned(g_upload.acknowledged < g_upload.chunk_count ? g_upload.acknowledged : g_upload.chunk_count - 1u);
    reply_line("]");
    return;
  }
  uint32_t offset = seq * g_upload.chunk_bytes;
  uint32_t expected_length = g_upload.total_bytes - offset;
  if (expected_length > g_upload.chunk_bytes) expected_length = g_upload.chunk_bytes;
  if (length != expected_length) {
    chunk_error_prefix(seq);
    reply_text("length ");
    reply_unsigned(length);
    reply_text(", expected ");
    reply_unsigned(expected_length);
    reply_line("]");
    return;
  }
  if (qk_crc32(0, g_chunk_staging, length) != crc) {
    chunk_error_prefix(seq);
    reply_line("crc mismatch]");
    return;
  }
  memcpy(model_runner_model_buffer() + offset, g_chunk_staging, length);
  if (seq == g_upload.acknowledged) g_upload.acknowledged++;
  reply_text("m-qm-ack-");
  reply_unsigned(seq);
  reply_end_line();
}

static void handle_end(void) {
  if (!g_upload.active) {
    reply_line("e-[qm-end: no upload in progress]");
    return;
  }
  if (g_upload.acknowledged != g_upload.chunk_count) {
    reply_text("e-[qm-end: missing chunks, have ");
    reply_unsigned(g_upload.acknowledged);
    reply_text(" of ");
    reply_unsigned(g_upload.chunk_count);
    reply_line("]");
    return;
  }
  g_upload.active = 0;
  uint32_t crc = qk_crc32(0, model_runner_model_buffer(), g_upload.total_bytes);
  if (crc != g_upload.crc) {
    reply_text("e-[qm-end: crc ");
    reply_hex32(crc);
    reply_text(", expected ");
    reply_hex32(g_upload.crc);
    reply_line("]");
    return;
  }
  uint32_t needed = 0;
  char what = 0;
  qk_status status = model_runner_open(g_upload.total_bytes, &needed, &what);
  if (status == QK_ERR_ARENA_TOO_SMALL && needed != 0) {
    reply_text("e-[qm-end: model needs ");
    reply_unsigned(needed);
    reply_text(" bytes of arena, board has ");
    reply_unsigned(model_runner_arena_capacity());
    reply_line("]");
    return;
  }
  if (status == QK_ERR_ARGUMENT && what != 0) {
    reply_text(what == 'i' ? "e-[qm-end: model input of " : "e-[qm-end: model output of ");
    reply_unsigned(needed);
    reply_text(what == 'i' ? " bytes exceeds the input buffer of " : " bytes exceeds the output buffer of ");
    reply_unsigned(what == 'i' ? model_runner_input_capacity() : model_runner_output_capacity());
    reply_line("]");
    return;
  }
  if (status != QK_OK) {
    reply_text("e-[qm-end: qk_model_open failed: ");
    reply_text(qk_status_name(status));
    reply_line("]");
    return;
  }
  const qk_model* model = model_runner_model();
  reply_text("m-qm-model-input_bytes=");
  reply_unsigned(model->input_bytes);
  reply_end_line();
  reply_text("m-qm-model-output_bytes=");
  reply_unsigned(model->output_bytes);
  reply_end_line();
  reply_text("m-qm-model-arena_bytes=");
  reply_unsigned(model->arena_bytes);
  reply_end_line();
  reply_text("m-qm-model-ops=");
  reply_unsigned(model->op_count);
  reply_end_line();
}

static void handle_model_id(const command_tokens* tokens) {
  if (tokens->count != 2 || strlen(tokens->tokens[1]) > 15u) {
    reply_line("e-[qm-model-id: usage: qm-model-id <id of 1..15 characters>]");
    return;
  }
  mlperf_set_model_id(tokens->tokens[1]);
  reply_text("m-qm-model-id=");
  reply_line(mlperf_model_id());
}

/* qm-slot-save <id>: the uploaded model into the model slot, then run from
 * there. */
static void handle_slot_save(const command_tokens* tokens) {
  if (tokens->count != 2 || strlen(tokens->tokens[1]) > 15u) {
    reply_line("e-[qm-slot-save: usage: qm-slot-save <id of 1..15 characters>]");
    return;
  }
  if (model_slot_capacity() == 0) {
    reply_line("e-[qm-slot-save: this board has no model slot]");
    return;
  }
  if (model_runner_source() != MODEL_SOURCE_UPLOAD) {
    reply_line("e-[qm-slot-save: no uploaded model (qm-begin .. qm-end first)]");
    return;
  }
  const uint32_t bytes = model_runner_model_bytes();
  if (bytes > model_slot_capacity()) {
    reply_text("e-[qm-slot-save: model of ");
    reply_unsigned(bytes);
    reply_text(" bytes exceeds the slot of ");
    reply_unsigned(model_slot_capacity());
    reply_line(" bytes]");
    return;
  }
  const char* error = model_slot_save(model_runner_model_buffer(), bytes, tokens->tokens[1]);
  if (error != 0) { /* the uploaded model stays loaded */
    reply_text("e-[qm-slot-save: ");
    reply_text(error);
    reply_line("]");
    return;
  }
  uint32_t size = 0, needed = 0;
  const char* id = 0;
  char what = 0;
  const uint8_t* model = model_slot_model(&size, &id);
  if (model == 0 || model_runner_open_slot(model, size, &needed, &what) != QK_OK) {
    reply_line("e-[qm-slot-save: the saved model does not open]"); /* not expected: it opened from RAM */
    return;
  }
  mlperf_set_model_id(id);
  reply_text("m-qm-slot-saved-bytes=");
  reply_unsigned(size);
  reply_end_line();
}

static void handle_slot_erase(void) {
  if (model_runner_source() == MODEL_SOURCE_SLOT) {
    model_runner_unload();
    mlperf_set_model_id("none");
  }
  const char* error = model_slot_erase();
  if (error != 0) {
    reply_text("e-[qm-slot-erase: ");
    reply_text(error);
    reply_line("]");
    return;
  }
  reply_line("m-qm-slot-erased");
}

static void handle_input_convention(const command_tokens* tokens) {
  input_convention convention;
  if (tokens->count != 2 || !model_runner_parse_convention(tokens->tokens[1], &convention)) {
    reply_line("e-[qm-input-convention: usage: qm-input-convention int8|uint8|float32]");
    return;
  }
  model_runner_set_convention(convention);
  reply_text("m-qm-input-convention=");
  reply_line(model_runner_convention_name(convention));
}

static void handle_input(const command_tokens* tokens) {
  uint32_t length = 0, crc = 0;
  if (tokens->count != 3 || !command_parse_u32(tokens->tokens[1], &length) ||
      !command_parse_hex32(tokens->tokens[2], &crc)) {
    reply_line("e-[qm-input: usage: qm-input <len> <crc32hex>]");
    return;
  }
  if (length > model_runner_input_capacity()) {
    reply_text("e-[qm-input: length ");
    reply_unsigned(length);
    reply_text(" exceeds the buffer of ");
    reply_unsigned(model_runner_input_capacity());
    reply_line(" bytes]");
    return;
  }
  mlperf_cancel_db_load();
  model_runner_set_input_is_tensor(1);
  model_runner_set_input_length(0);
  uint8_t* input = model_runner_input_buffer();
  uint32_t received = serial_read_payload(input, length);
  if (received != length) {
    reply_text("e-[qm-input: timeout after ");
    reply_unsigned(received);
    reply_text(" of ");
    reply_unsigned(length);
    reply_line(" bytes]");
    return;
  }
  if (qk_crc32(0, input, length) != crc) {
    reply_line("e-[qm-input: crc mismatch]");
    return;
  }
  model_runner_set_input_length(length);
  reply_text("m-qm-input-bytes=");
  reply_unsigned(length);
  reply_end_line();
}

static void handle_raw(const command_tokens* tokens) {
  uint32_t length = 0;
  if (tokens->count != 2 || !command_parse_u32(tokens->tokens[1], &length) || length == 0 || length > RAW_MAX) {
    reply_line("e-[qm-raw: usage: qm-raw <len>]");
    return;
  }
  uint32_t received = serial_read_payload(0, length);
  if (received != length) {
    reply_text("e-[qm-raw: timeout after ");
    reply_unsigned(received);
    reply_text(" of ");
    reply_unsigned(length);
    reply_line(" bytes]");
    return;
  }
  reply_text("m-qm-raw-bytes=");
  reply_unsigned(length);
  reply_end_line();
}

static void handle_output(void) {
  if (!mlperf_require_inference_ready(0)) return;
  uint64_t cycles = 0;
  if (!mlperf_infer_once(&cycles)) return;
  const int8_t* output = model_runner_output();
  uint32_t length = model_runner_output_length();
  reply_text("m-qm-output-[");
  for (uint32_t i = 0; i < length; ++i) {
    if (i) reply_char(',');
    reply_signed(output[i]);
  }
  reply_line("]");
  reply_text("m-qm-argmax-");
  reply_unsigned(qk_argmax_s8(output, length));
  reply_end_line();
  reply_text("m-qm-cycles-");
  reply_unsigned(cycles);
  reply_end_line();
}

static void handle_layers(void) {
  if (!model_runner_has_output()) {
    reply_line("e-[No inference has run]");
    return;
  }
  uint64_t total = 0;
  for (uint32_t i = 0; i < model_runner_layer_count(); ++i) {
    reply_text("m-qm-layer-");
    reply_unsigned(i);
    reply_char('-');
    reply_unsigned(model_runner_layer_kind(i));
    reply_char('-');
    reply_unsigned(model_runner_layer_cycles(i));
    reply_end_line();
    total += model_runner_layer_cycles(i);
  }
  reply_text("m-qm-layers-total=");
  reply_unsigned(total);
  reply_end_line();
}

static void sort_ascending(uint32_t* values, uint32_t count) {
  for (uint32_t i = 1; i < count; ++i) {
    uint32_t value = values[i];
    uint32_t j = i;
    while (j > 0 && values[j - 1u] > value) {
      values[j] = values[j - 1u];
      j--;
    }
    values[j] = value;
  }
}

static void print_infer_stat(const char* key, uint64_t value) {
  reply_text("m-qm-infer-");
  reply_text(key);
  reply_char('=');
  reply_unsigned(value);
  reply_end_line();
}

static void handle_infer(const command_tokens* tokens) {
  uint32_t count = 0;
  if (tokens->count != 2 || !command_parse_u32(tokens->tokens[1], &count) || count == 0 || count > INFER_MAX) {
    reply_text("e-[qm-infer: usage: qm-infer <N of 1..");
    reply_unsigned(INFER_MAX);
    reply_line(">]");
    return;
  }
  if (!mlperf_require_inference_ready(0)) return;
  uint64_t total = 0;
  for (uint32_t i = 0; i < count; ++i) {
    uint64_t cycles = 0;
    if (!mlperf_infer_once(&cycles)) return;
    total += cycles;
    g_infer_cycles[i] = cycles > 0xFFFFFFFFu ? 0xFFFFFFFFu : (uint32_t)cycles;
  }
  sort_ascending(g_infer_cycles, count);
  print_infer_stat("count", count);
  print_infer_stat("min", g_infer_cycles[0]);
  print_infer_stat("median", g_infer_cycles[(count - 1u) / 2u]);
  print_infer_stat("max", g_infer_cycles[count - 1u]);
  print_infer_stat("total", total);
}

int qatlab_handle_command(const command_tokens* tokens) {
  const char* verb = tokens->tokens[0];
  if (command_equals(verb, "qm-info") && tokens->count == 1) {
    handle_info();
  } else if (command_equals(verb, "qm-begin")) {
    handle_begin(tokens);
  } else if (command_equals(verb, "qm-chunk")) {
    handle_chunk(tokens);
  } else if (command_equals(verb, "qm-end") && tokens->count == 1) {
    handle_end();
  } else if (command_equals(verb, "qm-model-id")) {
    handle_model_id(tokens);
  } else if (command_equals(verb, "qm-input-convention")) {
    handle_input_convention(tokens);
  } else if (command_equals(verb, "qm-logits") && tokens->count == 1) {
    if (!model_runner_has_output()) {
      reply_line("e-[No inference has run]");
    } else {
      mlperf_print_logits();
    }
  } else if (command_equals(verb, "qm-input")) {
    handle_input(tokens);
  } else if (command_equals(verb, "qm-raw")) {
    handle_raw(tokens);
  } else if (command_equals(verb, "qm-output") && tokens->count == 1) {
    handle_output();
  } else if (command_equals(verb, "qm-layers") && tokens->count == 1) {
    handle_layers();
  } else if (command_equals(verb, "qm-infer")) {
    handle_infer(tokens);
  } else if (command_equals(verb, "qm-slot-save")) {
    handle_slot_save(tokens);
  } else if (command_equals(verb, "qm-slot-erase") && tokens->count == 1) {
    handle_slot_erase();
  } else if (command_equals(verb, "qm-reset") && tokens->count == 1) {
    system_reset(); /* the boot banner is the answer */
  } else {
    return 0;
  }
  return 1;
}
