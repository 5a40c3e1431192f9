/* The .qmodel reader and interpreter: the contract between the engine (host)
 * and the firmware (MCU). Portable C11, no allocation, no floating point.
 * The file format is in docs/model-format.md.
 *
 * A model is used in place: qk_model_open() checks the header and the CRC and
 * records offsets into the caller's buffer, which must outlive the qk_model.
 * qk_model_invoke() runs the ops in order with every activation in the
 * caller-owned arena (planned at export; its size is in the header). */
#ifndef QATLAB_KERNELS_QMODEL_H_
#define QATLAB_KERNELS_QMODEL_H_

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
  QK_OK = 0,
  QK_ERR_TRUNCATED = 1,   /* buffer shorter than the header says */
  QK_ERR_MAGIC = 2,       /* not a .qmodel */
  QK_ERR_VERSION = 3,     /* a format version this reader does not know */
  QK_ERR_CRC = 4,         /* content does not match its CRC-32 */
  QK_ERR_UNSUPPORTED = 5, /* an op kind or bit width the kernels lack */
  QK_ERR_MALFORMED = 6,   /* offsets or shapes that do not fit */
  QK_ERR_ARENA_TOO_SMALL = 7,
  QK_ERR_ARGUMENT = 8
} qk_status;

const char* qk_status_name(qk_status status);

#define QK_MAX_OPS 64

typedef struct {
  const uint8_t* base; /* the caller's buffer */
  uint32_t size;
  uint32_t version;
  uint32_t op_count;
  uint32_t arena_bytes;  /* planned peak activation RAM */
  uint32_t input_bytes;  /* H*W*C of the input tensor (int8) */
  uint32_t output_bytes; /* number of classes (int8 logits) */
  int32_t input_zero_point;
  uint32_t input_scale_bits;       /* IEEE-754 bits of the input scale (host use only) */
  uint32_t op_offsets[QK_MAX_OPS]; /* offset of each op record in base */
  /* Added with the implementation (all set by qk_model_open): */
  uint32_t tensor_count;
  uint32_t tensor_table_offset; /* offset of the tensor table in base */
  uint32_t input_tensor;
  uint32_t output_tensor;
  uint32_t input_height;
  uint32_t input_width;
  uint32_t input_channels;
} qk_model;

/* What one op is, for per-layer reports (firmware timing, host footprint). */
typedef struct {
  uint32_t kind;        /* QK_OP_* in qmodel_format.h */
  uint32_t weight_bits; /* 0 for ops without weights */
  uint32_t input_height, input_width, input_channels;
  uint32_t output_height, output_width, output_channels;
  uint32_t kernel_h, kernel_w, stride, padding;
  uint32_t parameters;   /* weights + bias values */
  uint32_t macs;         /* multiply-accumulates of one inference */
  uint32_t weight_bytes; /* packed weights + bias + multipliers + shifts */
} qk_op_info;

/* Called after each op; `index` counts from 0. May be NULL. Used by the
 * firmware to read the cycle counter per layer. */
typedef void (*qk_op_hook)(void* context, uint32_t index, uint32_t op_kind);

/* Checks everything before anything is trusted: size, magic, version, CRC,
 * then every count, index, shape, bit width, shift and offset, the op order
 * (an op reads only the input or an earlier op's output) and the arena plan
 * (tensors alive at the same time do not overlap). On success no later call
 * reads outside data[0, size) or the arena. On failure *model is zeroed.
 * REQUIRES: data is 4-byte aligned (else QK_ERR_ARGUMENT) and stays valid and
 * unchanged while model is used. */
qk_status qk_model_open(qk_model* model, const uint8_t* data, uint32_t size);

/* Fills *info for op `index` of an opened model (QK_ERR_ARGUMENT if out of
 * range). */
qk_status qk_model_op_info(const qk_model* model, uint32_t index, qk_op_info* info);

/* The records of an opened model as the file holds them (the fields of
 * qmodel_format.h, docs/model-format.md): for exporters that translate the
 * model into another format (model_export/) rather than run it. Offsets
 * count from model->base; 0 means "none". */
typedef struct {
  uint32_t height, width, channels;
  int32_t zero_point;
  uint32_t scale_bits; /* IEEE-754 bits of the scale */
  uint32_t arena_offset;
  uint32_t bytes; /* height * width * channels */
} qk_tensor_record;

typedef struct {
  uint32_t kind, input, input2, output;
  uint32_t kernel_h, kernel_w, stride, padding, weight_bits;
  int32_t act_min, act_max, add_left_shift;
  uint32_t channel_count;
  uint32_t weights_offset, weights_bytes, bias_offset, multiplier_offset, shift_offset;
} qk_op_record;

/* Tensor / op `index` of an opened model (QK_ERR_ARGUMENT if out of range). */
qk_status qk_model_tensor_record(const qk_model* model, uint32_t index, qk_tensor_record* record);
qk_status qk_model_op_record(const qk_model* model, uint32_t index, qk_op_record* record);

/* "dense", "conv2d", ..., or "unknown". */
const char* qk_op_kind_name(uint32_t kind);

/* Runs the model on `input` (input_bytes int8 values) and writes output_bytes
 * int8 logits to `output`. `arena` must hold at least model->arena_bytes and be
 * 4-byte aligned. */
qk_status qk_model_invoke(const qk_model* model, const int8_t* input, int8_t* output, uint8_t* arena,
                          uint32_t arena_size, qk_op_hook hook, void* context);
/* Errors: QK_ERR_ARENA_TOO_SMALL when arena_size < arena_bytes; QK_ERR_ARGUMENT
 * for NULL pointers or a misaligned arena. `input` and `output` may not point
 * into the arena. */

/* Index of the largest logit (first on ties). */
uint32_t qk_argmax_s8(const int8_t* values, uint32_t count);

/* CRC-32 (IEEE 802.3, reflected, as zlib's crc32). */
uint32_t qk_crc32(uint32_t crc, const uint8_t* data, uint32_t size);

/* The kernel variant compiled in: "reference" or "cortex-m-dsp". */
const char* qk_kernel_variant(void);

#ifdef __cplusplus
}
#endif

#endif /* QATLAB_KERNELS_QMODEL_H_ */
