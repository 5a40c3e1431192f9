// Hand-built IntegerModels for the .qmodel tests, filled from a seeded
// generator (no typed-in vectors).
#pragma once

#include <cstdint>

#include "engine/integer_model.h"
#include "tests/kernels/naive_integer_reference.h"

namespace qatlab::test_models {

inline IntegerTensor Tensor(naive::VectorGenerator& generator, int h, int w, int c) {
  IntegerTensor t;
  t.height = h;
  t.width = w;
  t.channels = c;
  t.scale = 0.02f + 0.001f * static_cast<float>(generator.Int(0, 50));
  t.zero_point = generator.Int(-128, 127);
  return t;
}

// `shift` sets the requantization scale (M0 in [2^30, 2^31) times 2^shift
// after the 2^-31): pick it so the layer's typical accumulator lands in the
// int8 range, or the outputs saturate and a comparison proves little.
inline IntegerOp Weighted(naive::VectorGenerator& generator, IntegerOpKind kind, int input, int output, int bits,
                          size_t weights, size_t channels, int shift) {
  IntegerOp op;
  op.kind = kind;
  op.input = input;
  op.output = output;
  op.weight_bits = bits;
  op.weights = generator.Weights(weights, bits);
  op.bias = generator.Int32s(channels, -500, 500);
  op.multiplier = generator.Int32s(channels, 1 << 30, INT32_MAX);
  op.shift.resize(channels);
  for (auto& s : op.shift) s = shift + generator.Int(-1, 1);
  return op;
}

// 8x8x3 -> conv2d 3x3 pad 1 (int4) -> depthwise 3x3 pad 1 (int2) -> add(conv,
// depthwise) with ReLU -> maxpool 2x2/2 -> avgpool 2x2/1 -> global avgpool ->
// dense to 10 (dense_bits). Eight tensors, seven ops.
inline IntegerModel MixedModel(naive::VectorGenerator& generator, int dense_bits = 8) {
  IntegerModel model;
  model.name = "mixed test model";
  model.tensors = {Tensor(generator, 8, 8, 3), Tensor(generator, 8, 8, 6), Tensor(generator, 8, 8, 6),
                   Tensor(generator, 8, 8, 6)};
  IntegerTensor pooled = model.tensors[3];  // pools keep scale and zero point
  pooled.height = pooled.width = 4;
  model.tensors.push_back(pooled);
  pooled.height = pooled.width = 3;
  model.tensors.push_back(pooled);
  pooled.height = pooled.width = 1;
  model.tensors.push_back(pooled);
  model.tensors.push_back(Tensor(generator, 1, 1, 10));

  IntegerOp conv = Weighted(generator, IntegerOpKind::kConv2D, 0, 1, 4, 6 * 3 * 3 * 3, 6, -5);
  conv.kernel_h = conv.kernel_w = 3;
  conv.padding = 1;
  IntegerOp depthwise = Weighted(generator, IntegerOpKind::kDepthwiseConv2D, 1, 2, 2, 3 * 3 * 6, 6, -2);
  depthwise.kernel_h = depthwise.kernel_w = 3;
  depthwise.padding = 1;
  IntegerOp add;
  add.kind = IntegerOpKind::kAdd;
  add.input = 1;
  add.input2 = 2;
  add.output = 3;
  add.multiplier = generator.Int32s(3, 1 << 30, INT32_MAX);
  add.shift = {-1, -2, -19};
  add.act_min = model.tensors[3].zero_point;  // fused ReLU
  IntegerOp maxpool;
  maxpool.kind = IntegerOpKind::kMaxPool;
  maxpool.input = 3;
  maxpool.output = 4;
  maxpool.kernel_h = maxpool.kernel_w = 2;
  maxpool.stride = 2;
  IntegerOp avgpool = maxpool;
  avgpool.kind = IntegerOpKind::kAvgPool;
  avgpool.input = 4;
  avgpool.output = 5;
  avgpool.stride = 1;
  IntegerOp global;
  global.kind = IntegerOpKind::kGlobalAvgPool;
  global.input = 5;
  global.output = 6;
  IntegerOp dense = Weighted(generator, IntegerOpKind::kDense, 6, 7, dense_bits, 6 * 10, 10, dense_bits >= 6 ? -5 : -1);
  model.ops = {conv, depthwise, add, maxpool, avgpool, global, dense};
  model.input_tensor = 0;
  model.output_tensor = 7;
  model.num_classes = 10;
  return model;
}

// The MNIST MLP 784-128-64-10 with ReLU between layers (109,386 parameters).
inline IntegerModel Mlp(naive::VectorGenerator& generator, int bits) {
  IntegerModel model;
  model.name = "mlp";
  model.tensors = {Tensor(generator, 28, 28, 1), Tensor(generator, 1, 1, 128), Tensor(generator, 1, 1, 64),
                   Tensor(generator, 1, 1, 10)};
  const int sizes[4] = {784, 128, 64, 10};
  // Accumulators grow with fan-in and weight magnitude; these keep each
  // layer's outputs spread over the int8 range.
  const int layer_shifts[3] = {bits == 8 ? -11 : -7, bits == 8 ? -9 : -5, bits == 8 ? -8 : -4};
  for (int layer = 0; layer < 3; ++layer) {
    IntegerOp op =
        Weighted(generator, IntegerOpKind::kDense, layer, layer + 1, bits,
                 static_cast<size_t>(sizes[layer]) * sizes[layer + 1], sizes[layer + 1], layer_shifts[layer]);
    if (layer < 2) op.act_min = model.tensors[layer + 1].zero_point;
    model.ops.push_back(op);
  }
  model.output_tensor = 3;
  return model;
}

}  // namespace qatlab::test_models
