/* The byte layout of a .qmodel file (docs/model-format.md), shared by the C
 * reader and the C++ writer so the two cannot drift apart. Every field is a
 * little-endian 32-bit word at the byte offset named here. */
#ifndef QATLAB_KERNELS_QMODEL_FORMAT_H_
#define QATLAB_KERNELS_QMODEL_FORMAT_H_

#define QK_FORMAT_VERSION 1u

/* Header. The CRC-32 covers bytes [QK_CRC_START, total_bytes). */
#define QK_HEADER_MAGIC 0u /* 'Q' 'M' 'D' 'L' */
#define QK_HEADER_VERSION 4u
#define QK_HEADER_TOTAL_BYTES 8u
#define QK_HEADER_CRC32 12u
#define QK_HEADER_HEADER_BYTES 16u /* offset of the tensor table */
#define QK_HEADER_OP_COUNT 20u
#define QK_HEADER_TENSOR_COUNT 24u
#define QK_HEADER_ARENA_BYTES 28u
#define QK_HEADER_INPUT_TENSOR 32u
#define QK_HEADER_OUTPUT_TENSOR 36u
#define QK_HEADER_INPUT_HEIGHT 40u
#define QK_HEADER_INPUT_WIDTH 44u
#define QK_HEADER_INPUT_CHANNELS 48u
#define QK_HEADER_INPUT_ZERO_POINT 52u
#define QK_HEADER_INPUT_SCALE_BITS 56u
#define QK_HEADER_OUTPUT_COUNT 60u
#define QK_HEADER_BYTES 64u
#define QK_CRC_START 16u

/* Tensor table: tensor_count records at header_bytes. */
#define QK_TENSOR_HEIGHT 0u
#define QK_TENSOR_WIDTH 4u
#define QK_TENSOR_CHANNELS 8u
#define QK_TENSOR_ZERO_POINT 12u
#define QK_TENSOR_SCALE_BITS 16u
#define QK_TENSOR_ARENA_OFFSET 20u
#define QK_TENSOR_RECORD_BYTES 24u

/* Op table: op_count records right after the tensor table. Offsets of data
 * blocks count from the start of the file; 0 means "none". */
#define QK_OP_KIND 0u
#define QK_OP_INPUT 4u
#define QK_OP_INPUT2 8u /* QK_NO_TENSOR unless kind is add */
#define QK_OP_OUTPUT 12u
#define QK_OP_KERNEL_H 16u
#define QK_OP_KERNEL_W 20u
#define QK_OP_STRIDE 24u
#define QK_OP_PADDING 28u
#define QK_OP_WEIGHT_BITS 32u
#define QK_OP_ACT_MIN 36u
#define QK_OP_ACT_MAX 40u
#define QK_OP_ADD_LEFT_SHIFT 44u
#define QK_OP_CHANNEL_COUNT 48u /* entries in bias/multiplier/shift */
#define QK_OP_WEIGHTS_OFFSET 52u
#define QK_OP_WEIGHTS_BYTES 56u
#define QK_OP_BIAS_OFFSET 60u
#define QK_OP_MULTIPLIER_OFFSET 64u
#define QK_OP_SHIFT_OFFSET 68u
#define QK_OP_RECORD_BYTES 72u

#define QK_NO_TENSOR 0xFFFFFFFFu

/* Op kinds: the same numbers as qatlab::IntegerOpKind. */
#define QK_OP_DENSE 1u
#define QK_OP_CONV2D 2u
#define QK_OP_DEPTHWISE_CONV2D 3u
#define QK_OP_MAXPOOL 4u
#define QK_OP_AVGPOOL 5u
#define QK_OP_GLOBAL_AVGPOOL 6u
#define QK_OP_ADD 7u

/* Limits the reader enforces. */
#define QK_MAX_TENSORS (QK_MAX_OPS + 1)
#define QK_MAX_DIM 65535u

#endif /* QATLAB_KERNELS_QMODEL_FORMAT_H_ */
