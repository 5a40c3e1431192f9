// Each kernel against the naive reference on seeded random shapes, weight
// widths, zero points and requantization parameters.
#include "qatlab_kernels/kernels.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

#include "qatlab_kernels/fixed_point.h"
#include "tests/kernels/naive_integer_reference.h"

namespace qatlab {
namespace {

// A random activation clamp: the full range, a ReLU at the zero point, or a
// narrow band.
void RandomActivation(naive::VectorGenerator& generator, IntegerOp& op, int32_t z_out) {
  switch (generator.Int(0, 2)) {
    case 0:
      op.act_min = -128;
      op.act_max = 127;
      break;
    case 1:
      op.act_min = z_out;
      op.act_max = 127;
      break;
    default:
      op.act_min = generator.Int(-128, 0);
      op.act_max = generator.Int(op.act_min, 127);
      break;
  }
}

TEST(KernelsTest, DenseMatchesNaiveForEveryWeightWidth) {
  naive::VectorGenerator generator(3001);
  for (int trial = 0; trial < 300; ++trial) {
    const int bits = generator.Int(2, 8);
    const int inputs = generator.Int(1, 300), outputs = generator.Int(1, 40);
    const int32_t z_in = generator.Int(-128, 127), z_out = generator.Int(-128, 127);
    IntegerOp op;
    op.weights = generator.Weights(static_cast<size_t>(inputs) * outputs, bits);
    op.bias = generator.Int32s(outputs, -100000, 100000);
    generator.Quantization(op, outputs);
    RandomActivation(generator, op, z_out);
    const std::vector<int8_t> input = generator.Int8s(inputs);
    const std::vector<uint8_t> packed = naive::PackRows(op.weights, outputs, inputs, bits);

    const qk_dense_params params{-z_in, z_out, {op.act_min, op.act_max}};
    const qk_per_channel_quant quant{op.multiplier.data(), op.shift.data()};
    const qk_packed_weights weights{packed.data(), bits};
    std::vector<int8_t> output(outputs);
    ASSERT_EQ(qk_dense_s8(&params, &quant, inputs, input.data(), &weights, op.bias.data(), outputs, output.data()),
              QK_OK);
    ASSERT_EQ(output, naive::Dense(op, input, z_in, z_out, outputs)) << "trial " << trial << " bits " << bits;
  }
}

// conv2d and depthwise share the random geometry.
struct ConvCase {
  IntegerOp op;
  naive::Activations input;
  int32_t z_in = 0, z_out = 0;
  int out_channels = 0, bits = 8;
  std::vector<uint8_t> packed;
};

ConvCase RandomConvCase(naive::VectorGenerator& generator, bool depthwise) {
  ConvCase c;
  c.bits = generator.Int(2, 8);
  c.op.weight_bits = c.bits;
  c.op.kernel_h = generator.Int(1, 5);
  c.op.kernel_w = generator.Int(1, 5);
  c.op.stride = generator.Int(1, 3);
  c.op.padding = generator.Int(0, std::min(c.op.kernel_h, c.op.kernel_w) - 1);
  c.input.height = generator.Int(std::max(1, c.op.kernel_h - 2 * c.op.padding), 12);
  c.input.width = generator.Int(std::max(1, c.op.kernel_w - 2 * c.op.padding), 12);
  c.input.channels = generator.Int(1, 9);
  c.input.values = generator.Int8s(static_cast<size_t>(c.input.height) * c.input.width * c.input.channels);
  c.out_channels = depthwise ? c.input.channels : generator.Int(1, 9);
  c.z_in = generator.Int(-128, 127);
  c.z_out = generator.Int(-128, 127);
  const size_t taps = static_cast<size_t>(c.op.kernel_h) * c.op.kernel_w;
  const size_t rows = depthwise ? taps : c.out_channels;
  const size_t row_length = depthwise ? c.input.channels : taps * c.input.channels;
  c.op.weights = generator.Weights(rows * row_length, c.bits);
  c.packed = naive::PackRows(c.op.weights, rows, row_length, c.bits);
  c.op.bias = generator.Int32s(c.out_channels, -50000, 50000);
  generator.Quantization(c.op, c.out_channels);
  RandomActivation(generator, c.op, c.z_out);
  return c;
}

void RunConvCases(bool depthwise, uint32_t seed) {
  naive::VectorGenerator generator(seed);
  for (int trial = 0; trial < 300; ++trial) {
    const ConvCase c = RandomConvCase(generator, depthwise);
    const naive::Activations expected = naive::Convolution(c.op, c.input, c.z_in, c.z_out, c.out_channels, depthwise);
    const qk_conv_params params{
        -c.z_in, c.z_out, c.op.kernel_h, c.op.kernel_w, c.op.stride, c.op.padding, {c.op.act_min, c.op.act_max}};
    const qk_per_channel_quant quant{c.op.multiplier.data(), c.op.shift.data()};
    const qk_packed_weights weights{c.packed.data(), c.bits};
    const qk_dims in_dims{c.input.height, c.input.width, c.input.channels};
    const qk_dims out_dims{expected.height, expected.width, expected.channels};
    std::vector<int8_t> output(expected.values.size());
    const qk_status status = depthwise ? qk_depthwise_conv2d_s8(&params, &quant, &in_dims, c.input.values.data(),
                                                                &weights, c.op.bias.data(), &out_dims, output.data())
                                       : qk_conv2d_s8(&params, &quant, &in_dims, c.input.values.data(), &weights,
                                                      c.op.bias.data(), &out_dims, output.data());
    ASSERT_EQ(status, QK_OK) << "trial " << trial;
    ASSERT_EQ(output, expected.values) << "trial " << trial << " bits " << c.bits << " kernel " << c.op.kernel_h << "x"
                                       << c.op.kernel_w << " stride " << c.op.stride << " padding " << c.op.padding;
  }
}

TEST(KernelsTest, Conv2dMatchesNaiveOnRandomGeometry) { RunConvCases(false, 3002); }

TEST(KernelsTest, DepthwiseConv2dMatchesNaiveOnRandomGeometry) { RunConvCases(true, 3003); }

TEST(KernelsTest, PoolsMatchNaiveOnRandomGeometry) {
  naive::VectorGenerator generator(3004);
  for (int trial = 0; trial < 300; ++trial) {
    IntegerOp op;
    op.kernel_h = generator.Int(1, 4);
    op.kernel_w = generator.Int(1, 4);
    op.stride = generator.Int(1, 3);
    op.padding = generator.Int(0, std::min(op.kernel_h, op.kernel_w) - 1);
    naive::Activations input{generator.Int(std::max(1, op.kernel_h - 2 * op.padding), 10),
                             generator.Int(std::max(1, op.kernel_w - 2 * op.padding), 10),
                             generator.Int(1, 6),
                             {}};
    input.values = generator.Int8s(static_cast<size_t>(input.height) * input.width * input.channels);
    RandomActivation(generator, op, generator.Int(-128, 127));
    const bool average = trial % 2 == 1;
    const naive::Activations expected = naive::Pool(op, input, average);
    const qk_pool_params params{op.kernel_h, op.kernel_w, op.stride, op.padding, {op.act_min, op.act_max}};
    const qk_dims in_dims{input.height, input.width, input.channels};
    const qk_dims out_dims{expected.height, expected.width, expected.channels};
    std::vector<int8_t> output(expected.values.size());
    ASSERT_EQ(average ? qk_avgpool_s8(&params, &in_dims, input.values.data(), &out_dims, output.data())
                      : qk_maxpool_s8(&params, &in_dims, input.values.data(), &out_dims, output.data()),
              QK_OK);
    ASSERT_EQ(output, expected.values) << "trial " << trial << (average ? " average" : " max");
  }
}

TEST(KernelsTest, GlobalAveragePoolMatchesNaive) {
  naive::VectorGenerator generator(3005);
  for (int trial = 0; trial < 200; ++trial) {
    naive::Activations input{generator.Int(1, 9), generator.Int(1, 9), generator.Int(1, 20), {}};
    input.values = generator.Int8s(static_cast<size_t>(input.height) * input.width * input.channels);
    IntegerOp op;
    RandomActivation(generator, op, 0);
    const naive::Activations expected = naive::GlobalAveragePool(op, input);
    const qk_activation activation{op.act_min, op.act_max};
    const qk_dims in_dims{input.height, input.width, input.channels};
    std::vector<int8_t> output(input.channels);
    ASSERT_EQ(qk_global_avgpool_s8(&activation, &in_dims, input.values.data(), output.data()), QK_OK);
    ASSERT_EQ(output, expected.values) << "trial " << trial;
  }
}

TEST(KernelsTest, AddMatchesNaive) {
  naive::VectorGenerator generator(3006);
  for (int trial = 0; trial < 200; ++trial) {
    const int count = generator.Int(1, 500);
    IntegerOp op;
    // Input multipliers below one half and an output multiplier that brings
    // the 2^20-scaled sum back, as an exporter would produce them.
    op.multiplier = generator.Int32s(3, 1 << 30, INT32_MAX);
    op.shift = {generator.Int(-3, -1), generator.Int(-3, -1), generator.Int(-22, -17)};
    const int32_t z_a = generator.Int(-128, 127), z_b = generator.Int(-128, 127), z_out = generator.Int(-128, 127);
    RandomActivation(generator, op, z_out);
    const std::vector<int8_t> a = generator.Int8s(count), b = generator.Int8s(count);
    const qk_add_params params{-z_a,
                               -z_b,
                               20,
                               op.multiplier[0],
                               op.shift[0],
                               op.multiplier[1],
                               op.shift[1],
                               op.multiplier[2],
                               op.shift[2],
                               z_out,
                               {op.act_min, op.act_max}};
    std::vector<int8_t> output(count);
    ASSERT_EQ(qk_add_s8(&params, count, a.data(), b.data(), output.data()), QK_OK);
    ASSERT_EQ(output, naive::Add(op, a, z_a, b, z_b, z_out, 20)) << "trial " << trial;
  }
}

// A valid but extreme scale requantizes to INT32_MAX; adding the output zero
// point must saturate, not overflow int32 and wrap to the other end of the
// range (found by fuzz/qmodel_fuzzer.cc; UBSan aborts on the overflow).
TEST(KernelsTest, OutputZeroPointOnASaturatedValueClampsToTheActivationMaximum) {
  const std::vector<int8_t> input(4, 127);
  const std::vector<int8_t> ones(4, 0x11);  // 8-bit weights of 17
  const std::vector<int32_t> multiplier(1, INT32_MAX), shift(1, QK_MAX_SHIFT);
  const qk_per_channel_quant quant{multiplier.data(), shift.data()};
  const qk_packed_weights weights{reinterpret_cast<const uint8_t*>(ones.data()), 8};
  const qk_dense_params dense{128, 127, {-128, 127}};
  std::vector<int8_t> output(1, 0);
  ASSERT_EQ(qk_dense_s8(&dense, &quant, 4, input.data(), &weights, nullptr, 1, output.data()), QK_OK);
  EXPECT_EQ(output[0], 127);

  const qk_add_params add{
      0, 0, 20, INT32_MAX, QK_MAX_SHIFT, INT32_MAX, QK_MAX_SHIFT, INT32_MAX, QK_MAX_SHIFT, 127, {-128, 127}};
  std::vector<int8_t> sum(4, 0);
  ASSERT_EQ(qk_add_s8(&add, 4, input.data(), input.data(), sum.data()), QK_OK);
  EXPECT_EQ(sum, std::vector<int8_t>(4, 127));
}

TEST(KernelsTest, RejectArgumentsThatDoNotFitTogether) {
  const std::vector<int8_t> input(16, 0);
  std::vector<int8_t> output(16, 0);
  const std::vector<uint8_t> packed(64, 0);
  const std::vector<int32_t> multiplier(4, 1 << 30), shift(4, -5), bad_shift(4, 31);
  const qk_per_channel_quant quant{multiplier.data(), shift.data()};
  const qk_packed_weights weights{packed.data(), 8};
  const qk_dense_params dense{0, 0, {-128, 127}};
  EXPECT_EQ(qk_dense_s8(&dense, &quant, 4, input.data(), &weights, nullptr, 4, output.data()), QK_OK);
  const qk_packed_weights nine_bits{packed.data(), 9};
  EXPECT_EQ(qk_dense_s8(&dense, &quant, 4, input.data(), &nine_bits, nullptr, 4, output.data()), QK_ERR_ARGUMENT);
  const qk_per_channel_quant out_of_range{multiplier.data(), bad_shift.data()};
  EXPECT_EQ(qk_dense_s8(&dense, &out_of_range, 4, input.data(), &weights, nullptr, 4, output.data()), QK_ERR_ARGUMENT);
  const qk_dense_params inverted{0, 0, {10, -10}};
  EXPECT_EQ(qk_dense_s8(&inverted, &quant, 4, input.data(), &weights, nullptr, 4, output.data()), QK_ERR_ARGUMENT);

  // 4x4 input, 3x3 kernel, stride 1, no padding: the output must be 2x2.
  const qk_conv_params conv{0, 0, 3, 3, 1, 0, {-128, 127}};
  const qk_dims in_dims{4, 4, 1}, right{2, 2, 1}, wrong{3, 3, 1};
  EXPECT_EQ(qk_conv2d_s8(&conv, &quant, &in_dims, input.data(), &weights, nullptr, &right, output.data()), QK_OK);
  EXPECT_EQ(qk_conv2d_s8(&conv, &quant, &in_dims, input.data(), &weights, nullptr, &wrong, output.data()),
            QK_ERR_ARGUMENT);
  const qk_conv_params padding_too_large{0, 0, 3, 3, 1, 3, {-128, 127}};
  EXPECT_EQ(qk_depthwise_conv2d_s8(&padding_too_large, &quant, &in_dims, input.data(), &weights, nullptr, &right,
                                   output.data()),
            QK_ERR_ARGUMENT);
  const qk_pool_params pool{2, 2, 2, 0, {-128, 127}};
  const qk_dims pooled{2, 2, 1}, other_channels{2, 2, 2};
  EXPECT_EQ(qk_maxpool_s8(&pool, &in_dims, input.data(), &pooled, output.data()), QK_OK);
  EXPECT_EQ(qk_avgpool_s8(&pool, &in_dims, input.data(), &other_channels, output.data()), QK_ERR_ARGUMENT);
  EXPECT_EQ(qk_maxpool_s8(nullptr, &in_dims, input.data(), &pooled, output.data()), QK_ERR_ARGUMENT);
}

}  // namespace
}  // namespace qatlab
