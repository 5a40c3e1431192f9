/* The .qmodel reader and interpreter (qmodel.h, docs/model-format.md). */
#include "qatlab_kernels/qmodel.h"

#include <string.h>

#include "qatlab_kernels/fixed_point.h"
#include "qatlab_kernels/kernel_variants.h"
#include "qatlab_kernels/kernels.h"
#include "qatlab_kernels/qmodel_format.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "bias, multiplier and shift arrays are used in place: the reader needs a little-endian target"
#endif

/* Same bound as the pooling kernels: window sums stay within int32. */
#define QK_MAX_POOL_WINDOW (1u << 23)

static uint32_t qk_load_u32(const uint8_t* bytes) {
  return (uint32_t)bytes[0] | ((uint32_t)bytes[1] << 8) | ((uint32_t)bytes[2] << 16) | ((uint32_t)bytes[3] << 24);
}

const char* qk_status_name(qk_status status) {
  switch (status) {
    case QK_OK: return "ok";
    case QK_ERR_TRUNCATED: return "truncated";
    case QK_ERR_MAGIC: return "bad magic";
    case QK_ERR_VERSION: return "unknown version";
    case QK_ERR_CRC: return "CRC mismatch";
    case QK_ERR_UNSUPPORTED: return "unsupported";
    case QK_ERR_MALFORMED: return "malformed";
    case QK_ERR_ARENA_TOO_SMALL: return "arena too small";
    case QK_ERR_ARGUMENT: return "bad argument";
  }
  return "unknown status";
}

const char* qk_op_kind_name(uint32_t kind) {
  switch (kind) {
    case QK_OP_DENSE: return "dense";
    case QK_OP_CONV2D: return "conv2d";
    case QK_OP_DEPTHWISE_CONV2D: return "depthwise_conv2d";
    case QK_OP_MAXPOOL: return "maxpool";
    case QK_OP_AVGPOOL: return "avgpool";
    case QK_OP_GLOBAL_AVGPOOL: return "global_avgpool";
    case QK_OP_ADD: return "add";
    default: return "unknown";
  }
}

const char* qk_kernel_variant(void) {
#if QK_DSP_KERNELS
  return "cortex-m-dsp";
#else
  return "reference";
#endif
}

uint32_t qk_argmax_s8(const int8_t* values, uint32_t count) {
  uint32_t best = 0;
  for (uint32_t i = 1; i < count; ++i) {
    if (values[i] > values[best]) best = i;
  }
  return best;
}

/* Half-byte table for the reflected polynomial 0xEDB88320: 64 bytes of
 * flash instead of 1 KiB, two lookups per byte. */
static const uint32_t qk_crc32_nibble_table[16] = {
    0x00000000u, 0x1DB71064u, 0x3B6E20C8u, 0x26D930ACu, 0x76DC4190u, 0x6B6B51F4u, 0x4DB26158u, 0x5005713Cu,
    0xEDB88320u, 0xF00F9344u, 0xD6D6A3E8u, 0xCB61B38Cu, 0x9B64C2B0u, 0x86D3D2D4u, 0xA00AE278u, 0xBDBDF21Cu};

uint32_t qk_crc32(uint32_t crc, const uint8_t* data, uint32_t size) {
  uint32_t c = ~crc;
  for (uint32_t i = 0; i < size; ++i) {
    c ^= data[i];
    c = (c >> 4) ^ qk_crc32_nibble_table[c & 0xFu];
    c = (c >> 4) ^ qk_crc32_nibble_table[c & 0xFu];
  }
  return ~c;
}

/* ---- Records ------------------------------------------------------------ */

static qk_tensor_record qk_read_tensor(const qk_model* model, uint32_t index) {
  const uint8_t* r = model->base + model->tensor_table_offset + index * QK_TENSOR_RECORD_BYTES;
  qk_tensor_record t;
  t.height = qk_load_u32(r + QK_TENSOR_HEIGHT);
  t.width = qk_load_u32(r + QK_TENSOR_WIDTH);
  t.channels = qk_load_u32(r + QK_TENSOR_CHANNELS);
  t.zero_point = (int32_t)qk_load_u32(r + QK_TENSOR_ZERO_POINT);
  t.scale_bits = qk_load_u32(r + QK_TENSOR_SCALE_BITS);
  t.arena_offset = qk_load_u32(r + QK_TENSOR_ARENA_OFFSET);
  t.bytes = t.height * t.width * t.channels;
  return t;
}

static qk_op_record qk_read_op(const qk_model* model, uint32_t index) {
  const uint8_t* r = model->base + model->op_offsets[index];
  qk_op_record op;
  op.kind = qk_load_u32(r + QK_OP_KIND);
  op.input = qk_load_u32(r + QK_OP_INPUT);
  op.input2 = qk_load_u32(r + QK_OP_INPUT2);
  op.output = qk_load_u32(r + QK_OP_OUTPUT);
  op.kernel_h = qk_load_u32(r + QK_OP_KERNEL_H);
  op.kernel_w = qk_load_u32(r + QK_OP_KERNEL_W);
  op.stride = qk_load_u32(r + QK_OP_STRIDE);
  op.padding = qk_load_u32(r + QK_OP_PADDING);
  op.weight_bits = qk_load_u32(r + QK_OP_WEIGHT_BITS);
  op.act_min = (int32_t)qk_load_u32(r + QK_OP_ACT_MIN);
  op.act_max = (int32_t)qk_load_u32(r + QK_OP_ACT_MAX);
  op.add_left_shift = (int32_t)qk_load_u32(r + QK_OP_ADD_LEFT_SHIFT);
  op.channel_count = qk_load_u32(r + QK_OP_CHANNEL_COUNT);
  op.weights_offset = qk_load_u32(r + QK_OP_WEIGHTS_OFFSET);
  op.weights_bytes = qk_load_u32(r + QK_OP_WEIGHTS_BYTES);
  op.bias_offset = qk_load_u32(r + QK_OP_BIAS_OFFSET);
  op.multiplier_offset = qk_load_u32(r + QK_OP_MULTIPLIER_OFFSET);
  op.shift_offset = qk_load_u32(r + QK_OP_SHIFT_OFFSET);
  return op;
}

static int qk_is_weighted(uint32_t kind) {
  return kind == QK_OP_DENSE || kind == QK_OP_CONV2D || kind == QK_OP_DEPTHWISE_CONV2D;
}

/* ---- Validation ----------------------------------------------------------- */

/* One axis of a window op; *out receives the output size. */
static int qk_window_fits(uint32_t in, uint32_t kernel, uint32_t stride, uint32_t padding, uint32_t* out) {
  if (kernel < 1 || kernel > QK_MAX_DIM || stride < 1 || stride > QK_MAX_DIM || padding >= kernel) return 0;
  if (in + 2u * padding < kernel) return 0;
  *out = (in + 2u * padding - kernel) / stride + 1u;
  return 1;
}

/* A data block [offset, offset + bytes) inside the data section of the file,
 * 4-byte aligned when it holds int32 values. */
static int qk_block_fits(const qk_model* model, uint32_t data_start, uint32_t offset, uint64_t bytes,
                         int needs_alignment) {
  if (needs_alignment && (offset & 3u) != 0) return 0;
  return offset >= data_start && (uint64_t)offset + bytes <= model->size;
}

static qk_status qk_check_tensors(qk_model* model, qk_tensor_record* tensors) {
  for (uint32_t t = 0; t < model->tensor_count; ++t) {
    qk_tensor_record* tensor = &tensors[t];
    *tensor = qk_read_tensor(model, t);
    if (tensor->height < 1 || tensor->height > QK_MAX_DIM || tensor->width < 1 || tensor->width > QK_MAX_DIM ||
        tensor->channels < 1 || tensor->channels > QK_MAX_DIM) {
      return QK_ERR_MALFORMED;
    }
    const uint64_t bytes = (uint64_t)tensor->height * tensor->width * tensor->channels;
    if (bytes > model->arena_bytes || (uint64_t)tensor->arena_offset + bytes > model->arena_bytes) {
      return QK_ERR_MALFORMED;
    }
    tensor->bytes = (uint32_t)bytes;
    if (tensor->zero_point < -128 || tensor->zero_point > 127) return QK_ERR_MALFORMED;
  }
  return QK_OK;
}

/* Shape rules of each op kind, filling *info. Returns QK_ERR_UNSUPPORTED for
 * an unknown kind or bit width, QK_ERR_MALFORMED for shapes that disagree. */
static qk_status qk_describe_op(const qk_op_record* op, const qk_tensor_record* in, const qk_tensor_record* out,
                                qk_op_info* info) {
  memset(info, 0, sizeof *info);
  info->kind = op->kind;
  info->input_height = in->height;
  info->input_width = in->width;
  info->input_channels = in->channels;
  info->output_height = out->height;
  info->output_width = out->width;
  info->output_channels = out->channels;
  if (op->kind < QK_OP_DENSE || op->kind > QK_OP_ADD) return QK_ERR_UNSUPPORTED;
  if (qk_is_weighted(op->kind)) {
    if (op->weight_bits < 2 || op->weight_bits > 8) return QK_ERR_UNSUPPORTED;
    info->weight_bits = op->weight_bits;
  }
  if (op->act_min < -128 || op->act_min > op->act_max || op->act_max > 127) return QK_ERR_MALFORMED;
  uint64_t parameters = 0, macs = 0, weight_bytes = 0;
  if (op->kind == QK_OP_DENSE) {
    const uint32_t rows = out->bytes;
    if (op->channel_count != rows) return QK_ERR_MALFORMED;
    weight_bytes = (uint64_t)rows * qk_packed_row_bytes(in->bytes, (int32_t)op->weight_bits);
    parameters = (uint64_t)rows * in->bytes + rows;
    macs = (uint64_t)rows * in->bytes;
  } else if (op->kind == QK_OP_GLOBAL_AVGPOOL) {
    if (out->height != 1 || out->width != 1 || out->channels != in->channels ||
        (uint64_t)in->height * in->width > QK_MAX_POOL_WINDOW || op->channel_count != 0) {
      return QK_ERR_MALFORMED;
    }
  } else if (op->kind == QK_OP_ADD) {
    if (op->channel_count != 3 || op->add_left_shift < 0 || op->add_left_shift > 30 || in->height != out->height ||
        in->width != out->width || in->channels != out->channels) {
      return QK_ERR_MALFORMED;
    }
  } else {
    /* The window ops: conv2d, depthwise, max and average pooling. */
    uint32_t out_h, out_w;
    if (!qk_window_fits(in->height, op->kernel_h, op->stride, op->padding, &out_h) ||
        !qk_window_fits(in->width, op->kernel_w, op->stride, op->padding, &out_w) || out_h != out->height ||
        out_w != out->width) {
      return QK_ERR_MALFORMED;
    }
    info->kernel_h = op->kernel_h;
    info->kernel_w = op->kernel_w;
    info->stride = op->stride;
    info->padding = op->padding;
    const uint64_t taps = (uint64_t)op->kernel_h * op->kernel_w;
    const uint64_t positions = (uint64_t)out_h * out_w;
    /* Convolution kernels index a weight row with int32 arithmetic. */
    if (qk_is_weighted(op->kind) && taps * in->channels > INT32_MAX) return QK_ERR_MALFORMED;
    if (op->kind == QK_OP_CONV2D) {
      if (op->channel_count != out->channels) return QK_ERR_MALFORMED;
      const uint64_t row = taps * in->channels;
      weight_bytes = (uint64_t)out->channels * qk_packed_row_bytes((uint32_t)row, (int32_t)op->weight_bits);
      parameters = (uint64_t)out->channels * row + out->channels;
      macs = positions * out->channels * row;
    } else if (op->kind == QK_OP_DEPTHWISE_CONV2D) {
      if (out->channels != in->channels || op->channel_count != out->channels) return QK_ERR_MALFORMED;
      weight_bytes = taps * qk_packed_row_bytes(in->channels, (int32_t)op->weight_bits);
      parameters = taps * in->channels + in->channels;
      macs = positions * in->channels * taps;
    } else {
      if (out->channels != in->channels || taps > QK_MAX_POOL_WINDOW || op->channel_count != 0) {
        return QK_ERR_MALFORMED;
      }
    }
  }
  if (qk_is_weighted(op->kind) && op->weights_bytes != weight_bytes) return QK_ERR_MALFORMED;
  info->parameters = parameters > 0xFFFFFFFFu ? 0xFFFFFFFFu : (uint32_t)parameters;
  info->macs = macs > 0xFFFFFFFFu ? 0xFFFFFFFFu : (uint32_t)macs;
  info->weight_bytes = (uint32_t)(weight_bytes + (qk_is_weighted(op->kind) ? 12ull * op->channel_count : 0) +
                                  (op->kind == QK_OP_ADD ? 24u : 0u));
  return QK_OK;
}

/* Data blocks of an op inside the file, and every shift within range. */
static qk_status qk_check_op_data(const qk_model* model, uint32_t data_start, const qk_op_record* op) {
  const uint64_t quant_bytes = 4ull * op->channel_count;
  if (qk_is_weighted(op->kind)) {
    if (!qk_block_fits(model, data_start, op->weights_offset, op->weights_bytes, 0) ||
        !qk_block_fits(model, data_start, op->bias_offset, quant_bytes, 1)) {
      return QK_ERR_MALFORMED;
    }
  }
  if (op->channel_count > 0) {
    if (!qk_block_fits(model, data_start, op->multiplier_offset, quant_bytes, 1) ||
        !qk_block_fits(model, data_start, op->shift_offset, quant_bytes, 1)) {
      return QK_ERR_MALFORMED;
    }
    const int32_t* shift = (const int32_t*)(const void*)(model->base + op->shift_offset);
    for (uint32_t c = 0; c < op->channel_count; ++c) {
      if (shift[c] < QK_MIN_SHIFT || shift[c] > QK_MAX_SHIFT) return QK_ERR_MALFORMED;
    }
  }
  return QK_OK;
}

/* Op order and arena plan: every op reads only the model input or an earlier
 * op's output, each tensor is produced once, and tensors whose lifetimes
 * (from production to last use; the input from the start, the output to the
 * end) overlap do not share arena bytes; an op's inputs and its output are
 * alive together, so they never alias. */
static qk_status qk_check_schedule(const qk_model* model, const qk_tensor_record* tensors) {
  int32_t first_use[QK_MAX_TENSORS];
  int32_t last_use[QK_MAX_TENSORS];
  for (uint32_t t = 0; t < model->tensor_count; ++t) first_use[t] = last_use[t] = INT32_MIN;
  first_use[model->input_tensor] = last_use[model->input_tensor] = -1;
  for (uint32_t i = 0; i < model->op_count; ++i) {
    const qk_op_record op = qk_read_op(model, i);
    const uint32_t inputs[2] = {op.input, op.input2};
    const uint32_t input_count = op.kind == QK_OP_ADD ? 2u : 1u;
    for (uint32_t k = 0; k < input_count; ++k) {
      if (first_use[inputs[k]] == INT32_MIN) return QK_ERR_MALFORMED; /* not produced yet */
      last_use[inputs[k]] = (int32_t)i;
    }
    if (first_use[op.output] != INT32_MIN) return QK_ERR_MALFORMED; /* produced twice */
    first_use[op.output] = last_use[op.output] = (int32_t)i;
  }
  if (first_use[model->output_tensor] < 0) return QK_ERR_MALFORMED; /* output never produced */
  last_use[model->output_tensor] = (int32_t)model->op_count;
  for (uint32_t a = 0; a < model->tensor_count; ++a) {
    if (first_use[a] == INT32_MIN) continue;
    for (uint32_t b = a + 1; b < model->tensor_count; ++b) {
      if (first_use[b] == INT32_MIN) continue;
      const int alive_together = first_use[a] <= last_use[b] && first_use[b] <= last_use[a];
      const int share_bytes = tensors[a].arena_offset < tensors[b].arena_offset + tensors[b].bytes &&
                              tensors[b].arena_offset < tensors[a].arena_offset + tensors[a].bytes;
      if (alive_together && share_bytes) return QK_ERR_MALFORMED;
    }
  }
  return QK_OK;
}

static qk_status qk_check_structure(qk_model* model) {
  const uint8_t* h = model->base;
  const uint32_t header_bytes = qk_load_u32(h + QK_HEADER_HEADER_BYTES);
  model->op_count = qk_load_u32(h + QK_HEADER_OP_COUNT);
  model->tensor_count = qk_load_u32(h + QK_HEADER_TENSOR_COUNT);
  model->arena_bytes = qk_load_u32(h + QK_HEADER_ARENA_BYTES);
  model->input_tensor = qk_load_u32(h + QK_HEADER_INPUT_TENSOR);
  model->output_tensor = qk_load_u32(h + QK_HEADER_OUTPUT_TENSOR);
  model->input_height = qk_load_u32(h + QK_HEADER_INPUT_HEIGHT);
  model->input_width = qk_load_u32(h + QK_HEADER_INPUT_WIDTH);
  model->input_channels = qk_load_u32(h + QK_HEADER_INPUT_CHANNELS);
  model->input_zero_point = (int32_t)qk_load_u32(h + QK_HEADER_INPUT_ZERO_POINT);
  model->input_scale_bits = qk_load_u32(h + QK_HEADER_INPUT_SCALE_BITS);
  model->output_bytes = qk_load_u32(h + QK_HEADER_OUTPUT_COUNT);
  if (header_bytes < QK_HEADER_BYTES || (header_bytes & 3u) != 0 || header_bytes > model->size) {
    return QK_ERR_MALFORMED;
  }
  if (model->op_count < 1 || model->op_count > QK_MAX_OPS || model->tensor_count < 2 ||
      model->tensor_count > QK_MAX_TENSORS || model->arena_bytes > INT32_MAX ||
      model->input_tensor >= model->tensor_count || model->output_tensor >= model->tensor_count ||
      model->input_tensor == model->output_tensor) {
    return QK_ERR_MALFORMED;
  }
  model->tensor_table_offset = header_bytes;
  const uint64_t op_table = (uint64_t)header_bytes + (uint64_t)model->tensor_count * QK_TENSOR_RECORD_BYTES;
  const uint64_t data_start = op_table + (uint64_t)model->op_count * QK_OP_RECORD_BYTES;
  if (data_start > model->size) return QK_ERR_MALFORMED;
  for (uint32_t i = 0; i < model->op_count; ++i) {
    model->op_offsets[i] = (uint32_t)op_table + i * QK_OP_RECORD_BYTES;
  }

  qk_tensor_record tensors[QK_MAX_TENSORS];
  qk_status status = qk_check_tensors(model, tensors);
  if (status != QK_OK) return status;
  const qk_tensor_record* input = &tensors[model->input_tensor];
  if (input->height != model->input_height || input->width != model->input_width ||
      input->channels != model->input_channels || input->zero_point != model->input_zero_point ||
      input->scale_bits != model->input_scale_bits || tensors[model->output_tensor].bytes != model->output_bytes) {
    return QK_ERR_MALFORMED;
  }
  model->input_bytes = input->bytes;

  for (uint32_t i = 0; i < model->op_count; ++i) {
    const qk_op_record op = qk_read_op(model, i);
    if (op.input >= model->tensor_count || op.output >= model->tensor_count) return QK_ERR_MALFORMED;
    if (op.kind == QK_OP_ADD ? op.input2 >= model->tensor_count : op.input2 != QK_NO_TENSOR) {
      return QK_ERR_MALFORMED;
    }
    if (op.kind == QK_OP_ADD) {
      const qk_tensor_record* second = &tensors[op.input2];
      const qk_tensor_record* first = &tensors[op.input];
      if (second->height != first->height || second->width != first->width || second->channels != first->channels) {
        return QK_ERR_MALFORMED;
      }
    }
    qk_op_info info;
    status = qk_describe_op(&op, &tensors[op.input], &tensors[op.output], &info);
    if (status != QK_OK) return status;
    status = qk_check_op_data(model, (uint32_t)data_start, &op);
    if (status != QK_OK) return status;
  }
  return qk_check_schedule(model, tensors);
}

qk_status qk_model_open(qk_model* model, const uint8_t* data, uint32_t size) {
  if (!model) return QK_ERR_ARGUMENT;
  memset(model, 0, sizeof *model);
  if (!data || ((uintptr_t)data & 3u) != 0) return QK_ERR_ARGUMENT;
  if (size < 4) return QK_ERR_TRUNCATED;
  if (memcmp(data, "QMDL", 4) != 0) return QK_ERR_MAGIC;
  if (size < 8) return QK_ERR_TRUNCATED;
  const uint32_t version = qk_load_u32(data + QK_HEADER_VERSION);
  if (version != QK_FORMAT_VERSION) return QK_ERR_VERSION;
  if (size < QK_HEADER_BYTES) return QK_ERR_TRUNCATED;
  const uint32_t total = qk_load_u32(data + QK_HEADER_TOTAL_BYTES);
  if (total > size) return QK_ERR_TRUNCATED;
  if (total < QK_HEADER_BYTES || total > INT32_MAX) return QK_ERR_MALFORMED; /* kernels index in int32 */
  if (qk_crc32(0, data + QK_CRC_START, total - QK_CRC_START) != qk_load_u32(data + QK_HEADER_CRC32)) {
    return QK_ERR_CRC;
  }
  model->base = data;
  model->size = total;
  model->version = version;
  const qk_status status = qk_check_structure(model);
  if (status != QK_OK) memset(model, 0, sizeof *model);
  return status;
}

qk_status qk_model_op_info(const qk_model* model, uint32_t index, qk_op_info* info) {
  if (!model || !model->base || !info || index >= model->op_count) return QK_ERR_ARGUMENT;
  const qk_op_record op = qk_read_op(model, index);
  qk_tensor_record in = qk_read_tensor(model, op.input);
  qk_tensor_record out = qk_read_tensor(model, op.output);
  return qk_describe_op(&op, &in, &out, info);
}

qk_status qk_model_tensor_record(const qk_model* model, uint32_t index, qk_tensor_record* record) {
  if (!model || !model->base || !record || index >= model->tensor_count) return QK_ERR_ARGUMENT;
  *record = qk_read_tensor(model, index);
  return QK_OK;
}

qk_status qk_model_op_record(const qk_model* model, uint32_t index, qk_op_record* record) {
  if (!model || !model->base || !record || index >= model->op_count) return QK_ERR_ARGUMENT;
  *record = qk_read_op(model, index);
  return QK_OK;
}

/* ---- Interpreter ------------------------------------------------------- */

static const int32_t* qk_int32_block(const qk_model* model, uint32_t offset) {
  return (const int32_t*)(const void*)(model->base + offset);
}

static qk_status qk_run_op(const qk_model* model, uint32_t index, uint8_t* arena) {
  const qk_op_record op = qk_read_op(model, index);
  const qk_tensor_record in = qk_read_tensor(model, op.input);
  const qk_tensor_record out = qk_read_tensor(model, op.output);
  const int8_t* input = (const int8_t*)(arena + in.arena_offset);
  int8_t* output = (int8_t*)(arena + out.arena_offset);
  const qk_dims in_dims = {(int32_t)in.height, (int32_t)in.width, (int32_t)in.channels};
  const qk_dims out_dims = {(int32_t)out.height, (int32_t)out.width, (int32_t)out.channels};
  const qk_activation activation = {op.act_min, op.act_max};
  const qk_packed_weights weights = {model->base + op.weights_offset, (int32_t)op.weight_bits};
  const qk_per_channel_quant quant = {qk_int32_block(model, op.multiplier_offset),
                                      qk_int32_block(model, op.shift_offset)};
  const int32_t* bias = qk_is_weighted(op.kind) ? qk_int32_block(model, op.bias_offset) : NULL;
  switch (op.kind) {
    case QK_OP_DENSE: {
      const qk_dense_params params = {-in.zero_point, out.zero_point, activation};
      return qk_dense_s8(&params, &quant, (int32_t)in.bytes, input, &weights, bias, (int32_t)out.bytes, output);
    }
    case QK_OP_CONV2D:
    case QK_OP_DEPTHWISE_CONV2D: {
      const qk_conv_params params = {
          -in.zero_point,      out.zero_point, (int32_t)op.kernel_h, (int32_t)op.kernel_w, (int32_t)op.stride,
          (int32_t)op.padding, activation};
      return op.kind == QK_OP_CONV2D
                 ? qk_conv2d_s8(&params, &quant, &in_dims, input, &weights, bias, &out_dims, output)
                 : qk_depthwise_conv2d_s8(&params, &quant, &in_dims, input, &weights, bias, &out_dims, output);
    }
    case QK_OP_MAXPOOL:
    case QK_OP_AVGPOOL: {
      const qk_pool_params params = {(int32_t)op.kernel_h, (int32_t)op.kernel_w, (int32_t)op.stride,
                                     (int32_t)op.padding, activation};
      return op.kind == QK_OP_MAXPOOL ? qk_maxpool_s8(&params, &in_dims, input, &out_dims, output)
                                      : qk_avgpool_s8(&params, &in_dims, input, &out_dims, output);
    }
    case QK_OP_GLOBAL_AVGPOOL: return qk_global_avgpool_s8(&activation, &in_dims, input, output);
    case QK_OP_ADD: {
      const qk_tensor_record in2 = qk_read_tensor(model, op.input2);
      const qk_add_params params = {-in.zero_point, -in2.zero_point,     op.add_left_shift, quant.multiplier[0],
                                    quant.shift[0], quant.multiplier[1], quant.shift[1],    quant.multiplier[2],
                                    quant.shift[2], out.zero_point,      activation};
      return qk_add_s8(&params, (int32_t)out.bytes, input, (const int8_t*)(arena + in2.arena_offset), output);
    }
    default: return QK_ERR_UNSUPPORTED;
  }
}

qk_status qk_model_invoke(const qk_model* model, const int8_t* input, int8_t* output, uint8_t* arena,
                          uint32_t arena_size, qk_op_hook hook, void* context) {
  if (!model || !model->base || !input || !output || !arena || ((uintptr_t)arena & 3u) != 0) {
    return QK_ERR_ARGUMENT;
  }
  if (arena_size < model->arena_bytes) return QK_ERR_ARENA_TOO_SMALL;
  const qk_tensor_record in = qk_read_tensor(model, model->input_tensor);
  memcpy(arena + in.arena_offset, input, model->input_bytes);
  for (uint32_t i = 0; i < model->op_count; ++i) {
    const qk_status status = qk_run_op(model, i, arena);
    if (status != QK_OK) return status;
    if (hook) hook(context, i, qk_load_u32(model->base + model->op_offsets[i] + QK_OP_KIND));
  }
  const qk_tensor_record out = qk_read_tensor(model, model->output_tensor);
  memcpy(output, arena + out.arena_offset, model->output_bytes);
  return QK_OK;
}
