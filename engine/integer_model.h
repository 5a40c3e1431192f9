// The integer-only model as the engine produces it at export, before it is
// serialized to a .qmodel (see kernels/include/qatlab_kernels/qmodel.h and
// docs/model-format.md). Every quantization parameter is already resolved:
// the kernels do no floating point.
//
// Layout conventions (shared with the kernels and the firmware):
//   activations  int8, NHWC with N = 1, i.e. index (y * W + x) * C + c.
//   dense        weights [out][in], in = flattened H*W*C of the input.
//   conv2d       weights [out][kh][kw][in_c].
//   depthwise    weights [kh][kw][c] (channel multiplier 1), per channel c.
//   weights are stored here unpacked, one int8 per value, already within the
//   narrow symmetric range of weight_bits (e.g. int4: -7..7); the writer packs
//   them (two int4 or four int2 per byte, first element in the low bits, each
//   output-channel row padded to a whole byte).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace qatlab {

enum class IntegerOpKind : uint8_t {
  kDense = 1,
  kConv2D = 2,
  kDepthwiseConv2D = 3,
  kMaxPool = 4,
  kAvgPool = 5,
  kGlobalAvgPool = 6,
  kAdd = 7,
};

// A tensor of activations. Real value = scale * (q - zero_point).
struct IntegerTensor {
  int32_t height = 1;
  int32_t width = 1;
  int32_t channels = 1;
  float scale = 1.0f;  // informational (host dequantization); kernels never read it
  int32_t zero_point = 0;
};

struct IntegerOp {
  IntegerOpKind kind = IntegerOpKind::kDense;
  int32_t input = 0;    // tensor index
  int32_t input2 = -1;  // kAdd only: the second tensor index
  int32_t output = 0;   // tensor index

  // Convolution and pooling geometry (kernel_h == kernel_w for pools).
  int32_t kernel_h = 1;
  int32_t kernel_w = 1;
  int32_t stride = 1;
  int32_t padding = 0;  // symmetric zero padding (pad value = input zero point)

  // Weighted ops (dense, conv2d, depthwise): per output channel.
  int32_t weight_bits = 8;          // 2..8
  std::vector<int8_t> weights;      // unpacked, layout above
  std::vector<int32_t> bias;        // int32, scale s_in * s_w[c]
  std::vector<int32_t> multiplier;  // Q0.31 M0 per output channel
  std::vector<int32_t> shift;       // per output channel, M = M0 * 2^(shift - 31)

  // kAdd: out = z_out + requant(a_scaled + b_scaled) with
  //   a_scaled = requant((q_a - z_a) << add_left_shift, multiplier[0], shift[0]),
  //   b_scaled = requant((q_b - z_b) << add_left_shift, multiplier[1], shift[1]),
  //   output requant with multiplier[2], shift[2]; add_left_shift = 20.
  // kAvgPool/kGlobalAvgPool: divide the int32 sum by the window size with
  // rounding half away from zero; input and output share scale and zero point.

  // Output clamp (fused ReLU / ReLU6 or the plain int8 range).
  int32_t act_min = -128;
  int32_t act_max = 127;
};

struct IntegerModel {
  std::string name;                    // e.g. "cnn qat_w8a8"
  std::vector<IntegerTensor> tensors;  // tensor 0 is the model input
  std::vector<IntegerOp> ops;          // in execution order
  int32_t input_tensor = 0;
  int32_t output_tensor = 0;  // logits, int8
  int32_t num_classes = 10;
};

}  // namespace qatlab
