#include "mlperf_commands.h"

#include <math.h>
#include <string.h>

#include "board.h"
#include "firmware_version.h"
#include "model_runner.h"
#include "qatlab_kernels/qmodel_format.h"
#include "reply.h"

#define MODEL_ID_CAPACITY 16u

/* Defaults of `infer` with arguments left out, as in the MLPerf reference. */
#define INFER_DEFAULT_COUNT 1u
#define INFER_DEFAULT_WARMUP 10u

static char g_model_id[MODEL_ID_CAPACITY] = "none";
/* Bytes announced by the last `db load`; 0 when no load is in progress. */
static uint32_t g_db_expected;

void mlperf_set_model_id(const char* id) {
  size_t length = strlen(id);
  if (length >= MODEL_ID_CAPACITY) length = MODEL_ID_CAPACITY - 1u;
  memcpy(g_model_id, id, length);
  g_model_id[length] = '\0';
  /* The MLPerf Tiny benchmark ids name their input convention (the
   * reference firmware of each converts its input so). */
  if (strncmp(id, "ic01", 4) == 0 || strncmp(id, "vww01", 5) == 0) {
    model_runner_set_convention(INPUT_UINT8);
  } else if (strncmp(id, "ad01", 4) == 0) {
    model_runner_set_convention(INPUT_FLOAT32);
  } else {
    model_runner_set_convention(INPUT_INT8);
  }
}

const char* mlperf_model_id(void) { return g_model_id; }

void mlperf_cancel_db_load(void) { g_db_expected = 0; }

static uint64_t microseconds_now(void) { return board_cycles() / (board_get_info()->clock_hz / 1000000u); }

static void print_timestamp(void) {
  reply_text("m-lap-us-");
  reply_unsigned(microseconds_now());
  reply_end_line();
}

void mlperf_print_banner(void) {
  reply_line("m-timestamp-mode-performance");
  print_timestamp();
  reply_line("m-init-done");
}

static void print_help(void) {
  static const char* const kLines[] = {
      "m-help-name: the device name",
      "m-help-profile: firmware and model id",
      "m-help-timestamp: microseconds since reset",
      "m-help-db load N: expect N input bytes as hex",
      "m-help-db HEX: input bytes as hex pairs",
      "m-help-db print: show the input bytes",
      "m-help-infer N W: W warm-up then N timed inferences",
      "m-help-results: scores of the last inference",
      "m-help-qm-info: board, clock, memory, kernels, versions",
      "m-help-qm-begin SIZE CRC CHUNK / qm-chunk SEQ LEN CRC / qm-end: binary model upload",
      "m-help-qm-model-id ID: the model id profile reports (and the input convention it implies)",
      "m-help-qm-input-convention int8|uint8|float32: how db bytes map onto the model input",
      "m-help-qm-logits: int8 logits of the last inference",
      "m-help-qm-input LEN CRC: input in binary",
      "m-help-qm-raw LEN: receive LEN bytes (link throughput)",
      "m-help-qm-output: one inference, int8 logits",
      "m-help-qm-layers: per-layer cycles of the last inference",
      "m-help-qm-infer N: N inferences, cycle statistics",
  };
  for (size_t i = 0; i < sizeof(kLines) / sizeof(kLines[0]); ++i) reply_line(kLines[i]);
}

static void handle_db_load(const command_tokens* tokens) {
  uint32_t count = 0;
  if (tokens->count != 3 || !command_parse_u32(tokens->tokens[2], &count)) {
    reply_line("e-[Command 'db load' needs a byte count]");
    return;
  }
  if (count == 0) {
    reply_line("e-[Command 'db load' must be >0 bytes]");
    return;
  }
  if (count > model_runner_input_capacity()) {
    reply_text("e-[Command 'db load' exceeds the buffer of ");
    reply_unsigned(model_runner_input_capacity());
    reply_line(" bytes]");
    return;
  }
  g_db_expected = count;
  model_runner_set_input_is_tensor(0);
  model_runner_set_input_length(0);
  reply_text("m-[Expecting ");
  reply_unsigned(count);
  reply_line(" bytes]");
}

static void handle_db_print(void) {
  const uint8_t* input = model_runner_input_buffer();
  uint32_t length = model_runner_input_length();
  for (uint32_t i = 0; i < length; ++i) {
    if (i % 16u == 0) reply_text("m-buffer-");
    reply_hex8(input[i]);
    if (i % 16u == 15u || i + 1u == length) {
      reply_end_line();
    } else {
      reply_char('-');
    }
  }
}

/* A rejected line stores nothing, so a host can resend it after an error. */
static void handle_db_hex(const char* hex) {
  if (g_db_expected == 0) {
    reply_line("e-[Command 'db' needs a 'db load' first]");
    return;
  }
  uint32_t digits = (uint32_t)strlen(hex);
  for (uint32_t i = 0; i < digits; ++i) {
    if (command_hex_digit(hex[i]) < 0) {
      reply_text("e-[Invalid hex digit: ");
      reply_printable(&hex[i], 1);
      reply_line("]");
      return;
    }
  }
  if (digits % 2u != 0) {
    reply_line("e-[Insufficent number of hex digits]");
    return;
  }
  uint32_t length = model_runner_input_length();
  if (length + digits / 2u > g_db_expected) {
    reply_line("e-[Command 'db' carries more bytes than 'db load' announced]");
    return;
  }
  uint8_t* input = model_runner_input_buffer();
  for (uint32_t i = 0; i < digits; i += 2u) {
    input[length++] = (uint8_t)((command_hex_digit(hex[i]) << 4) | command_hex_digit(hex[i + 1u]));
  }
  model_runner_set_input_length(length);
  if (length == g_db_expected) {
    g_db_expected = 0;
    reply_line("m-load-done");
  }
}

static void handle_db(const command_tokens* tokens) {
  if (tokens->count >= 2 && command_equals(tokens->tokens[1], "load")) {
    handle_db_load(tokens);
  } else if (tokens->count == 2 && command_equals(tokens->tokens[1], "print")) {
    handle_db_print();
  } else if (tokens->count == 2) {
    handle_db_hex(tokens->tokens[1]);
  } else {
    reply_line("e-[Command 'db' needs 'load N', 'print' or hex digits]");
  }
}

int mlperf_require_inference_ready(int lenient) {
  const qk_model* model = model_runner_model();
  if (!model) {
    reply_line("e-[No model loaded]");
    return 0;
  }
  uint32_t expected = model_runner_expected_input_length();
  if (model_runner_input_length() != expected) {
    if (!lenient) {
      reply_text("e-[Input has ");
      reply_unsigned(model_runner_input_length());
      reply_text(" bytes, the model needs ");
      reply_unsigned(expected);
      reply_line("]");
      return 0;
    }
    /* The reference's th_load_tensor notes the mismatch in a line that is
     * not an error and the inference runs anyway, so the runner still gets
     * its results; here on the buffer as it stands (a short load leaves the
     * tail of an earlier input, zeros after boot). */
    uint32_t element = expected / model->input_bytes;
    reply_text("m-[Input db has ");
    reply_unsigned(model_runner_input_length() / element);
    reply_text(" elements, expected ");
    reply_unsigned(model->input_bytes);
    reply_line("]");
  }
  if (!model_runner_prepare_input()) {
    reply_text("e-[Input buffer of ");
    reply_unsigned(model_runner_input_capacity());
    reply_text(" bytes cannot hold ");
    reply_unsigned(model->input_bytes);
    reply_line(" float32 features and their int8 tensor]");
    return 0;
  }
  return 1;
}

/* The output tensor's scale and zero point, read from the model's tensor
 * table. Returns 0 when the scale is not a usable positive finite number. */
static int output_quantization(float* scale, int32_t* zero_point) {
  const qk_model* model = model_runner_model();
  if (!model) return 0;
  const uint8_t* record = model->base + model->tensor_table_offset + model->output_tensor * QK_TENSOR_RECORD_BYTES;
  uint32_t bits;
  memcpy(&bits, record + QK_TENSOR_SCALE_BITS, sizeof bits);
  memcpy(zero_point, record + QK_TENSOR_ZERO_POINT, sizeof *zero_point);
  if ((bits >> 31) != 0 || ((bits >> 23) & 0xFFu) == 0xFFu || bits == 0) return 0;
  memcpy(scale, &bits, sizeof *scale);
  /* |q - z| <= 255, and the value in thousandths must fit int64. */
  return *scale < 1.0e12f;
}

/* Prints value with three decimals, rounded half away from zero. */
static void reply_thousandths(float value) {
  float scaled = value * 1000.0f;
  int64_t rounded = (int64_t)(scaled + (scaled >= 0.0f ? 0.5f : -0.5f));
  if (rounded < 0) {
    reply_char('-');
    rounded = -rounded;
  }
  reply_unsigned((uint64_t)rounded / 1000u);
  reply_char('.');
  uint32_t fraction = (uint32_t)((uint64_t)rounded % 1000u);
  reply_char((char)('0' + fraction / 100u));
  reply_char((char)('0' + fraction / 10u % 10u));
  reply_char((char)('0' + fraction % 10u));
}

/* Prints value in [0, 1] as the reference firmware does: "0." and three
 * truncated decimals (1.000 for 1). */
static void reply_probability(float value) {
  uint32_t thousandths = value <= 0.0f ? 0u : value >= 1.0f ? 1000u : (uint32_t)(value * 1000.0f);
  reply_char(thousandths == 1000u ? '1' : '0');
  reply_char('.');
  thousandths %= 1000u;
  reply_char((char)('0' + thousandths / 100u));
  reply_char((char)('0' + thousandths / 10u % 10u));
  reply_char((char)('0' + thousandths % 10u));
}

/* The anomaly-detection reference (ad01) reports one score: the mean squared
 * error between the autoencoder's dequantized output and its float input.
 * Returns 0 unless the input is float32 features and the output has as many
 * elements. */
static int print_reconstruction_error(float scale, int32_t zero_point) {
  const float* features = model_runner_input_floats();
  uint32_t length = model_runner_output_length();
  const qk_model* model = model_runner_model();
  if (!features || !model || length != model->input_bytes || length == 0) return 0;
  const int8_t* output = model_runner_output();
  float sum = 0.0f;
  for (uint32_t i = 0; i < length; ++i) {
    float difference = scale * (float)(output[i] - zero_point) - features[i];
    sum += difference * difference;
  }
  reply_text("m-results-[");
  reply_thousandths(sum / (float)length);
  reply_line("]");
  return 1;
}

void mlperf_print_results(void) {
  /* The runner divides each vector by its sum and takes the largest entry,
   * so it needs what the reference prints: the model's class probabilities,
   * here the softmax of the dequantized logits s_out * (q - z_out). */
  const int8_t* output = model_runner_output();
  uint32_t length = model_runner_output_length();
  float scale = 1.0f;
  int32_t zero_point = 0;
  if (!output_quantization(&scale, &zero_point)) {
    scale = 1.0f;
    zero_point = 0;
  }
  if (print_reconstruction_error(scale, zero_point)) return;
  int32_t largest = -128;
  for (uint32_t i = 0; i < length; ++i) largest = output[i] > largest ? output[i] : largest;
  float sum = 0.0f;
  for (uint32_t i = 0; i < length; ++i) sum += expf(scale * (float)(output[i] - largest));
  reply_text("m-results-[");
  for (uint32_t i = 0; i < length; ++i) {
    if (i) reply_char(',');
    reply_probability(expf(scale * (float)(output[i] - largest)) / sum);
  }
  reply_line("]");
}

void mlperf_print_logits(void) {
  const int8_t* output = model_runner_output();
  uint32_t length = model_runner_output_length();
  reply_text("m-qm-logits-[");
  for (uint32_t i = 0; i < length; ++i) {
    if (i) reply_char(',');
    reply_signed(output[i]);
  }
  reply_line("]");
}

int mlperf_infer_once(uint64_t* cycles) {
  qk_status status = model_runner_invoke(cycles);
  if (status != QK_OK) {
    reply_text("e-[Inference failed: ");
    reply_text(qk_status_name(status));
    reply_line("]");
    return 0;
  }
  return 1;
}

/* Runs `count` inferences; replies with the error and returns 0 on failure. */
static int run_inferences(uint32_t count) {
  for (uint32_t i = 0; i < count; ++i) {
    uint64_t cycles;
    if (!mlperf_infer_once(&cycles)) return 0;
  }
  return 1;
}

static void handle_infer(const command_tokens* tokens) {
  uint32_t count = INFER_DEFAULT_COUNT;
  uint32_t warmup = INFER_DEFAULT_WARMUP;
  if (tokens->count > 3 || (tokens->count >= 2 && !command_parse_u32(tokens->tokens[1], &count)) ||
      (tokens->count == 3 && !command_parse_u32(tokens->tokens[2], &warmup))) {
    reply_line("e-[Command 'infer' takes N and W, unsigned numbers]");
    return;
  }
  if (count == 0) {
    reply_line("e-[Command 'infer' needs N >= 1]");
    return;
  }
  if (!mlperf_require_inference_ready(1)) return;
  reply_text("m-warmup-start-");
  reply_unsigned(warmup);
  reply_end_line();
  if (!run_inferences(warmup)) return;
  reply_line("m-warmup-done");
  reply_text("m-infer-start-");
  reply_unsigned(count);
  reply_end_line();
  print_timestamp();
  if (!run_inferences(count)) return;
  print_timestamp();
  reply_line("m-infer-done");
  mlperf_print_results();
}

int mlperf_handle_command(const command_tokens* tokens) {
  const char* verb = tokens->tokens[0];
  if (command_equals(verb, "name") && tokens->count == 1) {
    reply_text("m-name-dut-[qatlab-");
    reply_text(board_get_info()->name);
    reply_line("]");
  } else if (command_equals(verb, "profile") && tokens->count == 1) {
    reply_line("m-profile-[qatlab-fw " QATLAB_FW_VERSION_TEXT "]");
    reply_text("m-model-[");
    reply_text(g_model_id);
    reply_line("]");
  } else if (command_equals(verb, "timestamp") && tokens->count == 1) {
    print_timestamp();
  } else if (command_equals(verb, "help") && tokens->count == 1) {
    print_help();
  } else if (command_equals(verb, "db")) {
    handle_db(tokens);
  } else if (command_equals(verb, "infer")) {
    handle_infer(tokens);
  } else if (command_equals(verb, "results") && tokens->count == 1) {
    if (!model_runner_has_output()) {
      reply_line("e-[No inference has run]");
    } else {
      mlperf_print_results();
    }
  } else {
    return 0;
  }
  return 1;
}
