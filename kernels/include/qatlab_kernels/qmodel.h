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
  QK_ERR_TRUNCATED = 1,       /* buffer shorter than the header says */
  QK_ERR_MAGIC = 2,           /* not a .qmodel */
  QK_ERR_VERSION = 3,         /* a format version this reader does not know */
  QK_ERR_CRC = 4,             /* content does not match its CRC-32 */
  QK_ERR_UNSUPPORTED = 5,     /* an op kind or bit width the kernels lack */
  QK_ERR_MALFORMED = 6,       /* offsets or shapes that do not fit */
  QK_ERR_ARENA_TOO_SMALL = 7,
  QK_ERR_ARGUMENT = 8
} qk_status;

const char* qk_status_name(qk_status status);

#define QK_MAX_OPS 64

typedef struct {
  const uint8_t* base;        /* the caller's buffer */
  uint32_t size;
  uint32_t version;
  uint32_t op_count;
  uint32_t arena_bytes;       /* planned peak activation RAM */
  uint32_t input_bytes;       /* H*W*C of the input tensor (int8) */
  uint32_t output_bytes;      /* number of classes (int8 logits) */
  int32_t input_zero_point;
  uint32_t input_scale_bits;  /* IEEE-754 bits of the input scale (host use only) */
  uint32_t op_offsets[QK_MAX_OPS];  /* offset of each op record in base */
} qk_model;

/* Called after each op; `index` counts from 0. May be NULL. Used by the
 * firmware to read the cycle counter per layer. */
typedef void (*qk_op_hook)(void* context, uint32_t index, uint32_t op_kind);

/* REQUIRES: data stays valid and unchanged while model is used. */
qk_status qk_model_open(qk_model* model, const uint8_t* data, uint32_t size);

/* Runs the model on `input` (input_bytes int8 values) and writes output_bytes
 * int8 logits to `output`. `arena` must hold at least model->arena_bytes and be
 * 4-byte aligned. */
qk_status qk_model_invoke(const qk_model* model, const int8_t* input, int8_t* output,
                          uint8_t* arena, uint32_t arena_size, qk_op_hook hook, void* context);

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
