// The Cortex-M DSP code path, run on the host through portable emulations of
// SMLAD / SXTB16 / SXTAB16 / SSUB8+SEL (kernels/src/dsp_intrinsics.h), must give the same
// bits as the reference on random shapes, lengths, alignments and offsets.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "qatlab_kernels/kernel_variants.h"
#include "tests/kernels/naive_integer_reference.h"

namespace qatlab {
namespace {

// Every container width (8, 4 for 3- and 4-bit, 2), 8-bit most often.
int RandomBits(naive::VectorGenerator& generator) {
  switch (generator.Int(0, 5)) {
    case 0:
    case 1: return 8;
    case 2: return 4;
    case 3: return 3;
    case 4: return 2;
    default: return generator.Int(5, 7);
  }
}

// The DSP kernels pick their output stage once per layer
// (kernels/src/output_stage_dsp.h): the 32-bit one when every shift is <= -2
// and every multiplier >= 0, the general one otherwise. Both in every test:
// a third of the layers all in range, a third with one channel out of it
// (a shift above -2, or a negative multiplier), the rest as generated.
void ChooseOutputStage(naive::VectorGenerator& generator, IntegerOp& op, int trial) {
  if (trial % 3 == 0) {
    for (int32_t& shift : op.shift) shift = generator.Int(-14, -2);
  } else if (trial % 3 == 1) {
    const size_t channel = static_cast<size_t>(generator.Int(0, static_cast<int>(op.shift.size()) - 1));
    if (trial % 2 == 0) {
      op.shift[channel] = generator.Int(-1, 2);
    } else {
      op.multiplier[channel] = -generator.Int(1, 1 << 30);
    }
  }
}

TEST(DspVariantsTest, HostBuildReportsTheReferenceVariant) {
  // The host has no __ARM_FEATURE_DSP: the unsuffixed kernels are the reference.
  EXPECT_EQ(std::string(qk_kernel_variant()), "reference");
}

TEST(DspVariantsTest, DotProductMatchesPlainSumForAnyLengthAndAlignment) {
  naive::VectorGenerator generator(4001);
  for (int trial = 0; trial < 2000; ++trial) {
    const int count = generator.Int(0, 70);
    const int input_skew = generator.Int(0, 3), weight_skew = generator.Int(0, 3);
    // Extremes are common on purpose: -128 inputs with offset 128, ±127 weights.
    const std::vector<int8_t> input = generator.Int8s(count + input_skew, -128, trial % 4 == 0 ? -127 : 127);
    const std::vector<int8_t> weights = generator.Int8s(count + weight_skew, -128, 127);
    const int32_t offset = trial % 5 == 0 ? 128 : (trial % 5 == 1 ? -127 : generator.Int(-127, 128));
    int64_t expected = 0;
    for (int i = 0; i < count; ++i) expected += (input[input_skew + i] + offset) * weights[weight_skew + i];
    ASSERT_EQ(qk_dot_s8_dsp(input.data() + input_skew, weights.data() + weight_skew, count, offset),
              static_cast<int32_t>(expected))
        << "trial " << trial << " count " << count;
  }
}

TEST(DspVariantsTest, PairedDotProductMatchesTwoPlainSums) {
  naive::VectorGenerator generator(4004);
  for (int trial = 0; trial < 2000; ++trial) {
    const int count = generator.Int(0, 70);
    const int skew = generator.Int(0, 3);
    const std::vector<int8_t> input = generator.Int8s(count + skew);
    const std::vector<int8_t> weights0 = generator.Int8s(count + skew), weights1 = generator.Int8s(count);
    const int32_t offset = trial % 3 == 0 ? 128 : generator.Int(-127, 128);
    int64_t expected0 = 0, expected1 = 0;
    for (int i = 0; i < count; ++i) {
      expected0 += (input[skew + i] + offset) * weights0[skew + i];
      expected1 += (input[skew + i] + offset) * weights1[i];
    }
    int32_t sum0 = 0, sum1 = 0;
    qk_dot2_s8_dsp(input.data() + skew, weights0.data() + skew, weights1.data(), count, offset, &sum0, &sum1);
    ASSERT_EQ(sum0, static_cast<int32_t>(expected0)) << "trial " << trial;
    ASSERT_EQ(sum1, static_cast<int32_t>(expected1)) << "trial " << trial;
  }
}

TEST(DspVariantsTest, NibbleDotProductMatchesPlainSumFromAnyStartingNibble) {
  naive::VectorGenerator generator(4005);
  for (int trial = 0; trial < 2000; ++trial) {
    const int count = generator.Int(0, 70);
    const int first = generator.Int(0, 9);
    const int skew = generator.Int(0, 3);
    const std::vector<int8_t> input = generator.Int8s(count + skew);
    // Any nibble, including -8, which the narrow range never produces but a
    // packed byte can hold.
    const std::vector<int8_t> weights = generator.Int8s(first + count, -8, 7);
    const std::vector<uint8_t> row = naive::PackRows(weights, 1, weights.size(), 4);
    const int32_t offset = trial % 3 == 0 ? 128 : generator.Int(-127, 128);
    int64_t expected = 0;
    for (int i = 0; i < count; ++i) expected += (input[skew + i] + offset) * weights[first + i];
    ASSERT_EQ(qk_dot_s8s4_dsp(input.data() + skew, row.data(), static_cast<uint32_t>(first), count, offset),
              static_cast<int32_t>(expected))
        << "trial " << trial << " first " << first << " count " << count;
  }
}

TEST(DspVariantsTest, NibbleDotProductIsExactAtItsLongestRun) {
  // The largest magnitude: 255 * -8 on every one of QK_DSP_MAX_S4_RUN terms,
  // whose 16-fold sum still fits int32.
  const std::vector<int8_t> input(QK_DSP_MAX_S4_RUN, 127);
  const std::vector<int8_t> weights(QK_DSP_MAX_S4_RUN, -8);
  const std::vector<uint8_t> row = naive::PackRows(weights, 1, weights.size(), 4);
  EXPECT_EQ(qk_dot_s8s4_dsp(input.data(), row.data(), 0, QK_DSP_MAX_S4_RUN, 128),
            static_cast<int32_t>(int64_t{255} * -8 * QK_DSP_MAX_S4_RUN));
}

TEST(DspVariantsTest, DenseIsBitExactWithReference) {
  naive::VectorGenerator generator(4002);
  for (int trial = 0; trial < 300; ++trial) {
    const int bits = RandomBits(generator);
    // Every eighth case longer than a widened patch (QK_DSP_PATCH_MAX):
    // the paths for long inputs.
    const bool long_input = trial % 8 == 7;
    const int inputs = long_input ? generator.Int(1025, 2000) : generator.Int(1, 400);
    const int outputs = generator.Int(1, long_input ? 9 : 33);
    IntegerOp op;
    op.weights = generator.Weights(static_cast<size_t>(inputs) * outputs, bits);
    op.bias = generator.Int32s(outputs, -200000, 200000);
    generator.Quantization(op, outputs);
    ChooseOutputStage(generator, op, trial);
    const std::vector<uint8_t> packed = naive::PackRows(op.weights, outputs, inputs, bits);
    const std::vector<int8_t> input = generator.Int8s(inputs);
    const qk_dense_params params{-generator.Int(-128, 127), generator.Int(-128, 127), {-128, 127}};
    const qk_per_channel_quant quant{op.multiplier.data(), op.shift.data()};
    const qk_packed_weights weights{packed.data(), bits};
    const int32_t* bias = trial % 7 == 0 ? nullptr : op.bias.data();
    std::vector<int8_t> reference(outputs), optimized(outputs);
    ASSERT_EQ(qk_dense_s8_reference(&params, &quant, inputs, input.data(), &weights, bias, outputs, reference.data()),
              QK_OK);
    ASSERT_EQ(qk_dense_s8_dsp(&params, &quant, inputs, input.data(), &weights, bias, outputs, optimized.data()), QK_OK);
    ASSERT_EQ(optimized, reference) << "trial " << trial << " " << inputs << " -> " << outputs;
  }
}

TEST(DspVariantsTest, Conv2dIsBitExactWithReference) {
  naive::VectorGenerator generator(4003);
  for (int trial = 0; trial < 300; ++trial) {
    const int bits = RandomBits(generator);
    // Every tenth case a window longer than a widened patch (5x5x41 and up).
    const bool long_window = trial % 10 == 9;
    const int kernel_h = long_window ? 5 : generator.Int(1, 5), kernel_w = long_window ? 5 : generator.Int(1, 5);
    const int stride = generator.Int(1, 3);
    const int padding = generator.Int(0, std::min(kernel_h, kernel_w) - 1);
    const qk_dims in_dims{generator.Int(std::max(1, kernel_h - 2 * padding), 14),
                          generator.Int(std::max(1, kernel_w - 2 * padding), 14),
                          long_window ? generator.Int(41, 64) : generator.Int(1, 17)};
    const qk_dims out_dims{(in_dims.height + 2 * padding - kernel_h) / stride + 1,
                           (in_dims.width + 2 * padding - kernel_w) / stride + 1, generator.Int(1, 12)};
    const size_t row_length = static_cast<size_t>(kernel_h) * kernel_w * in_dims.channels;
    const std::vector<int8_t> unpacked = generator.Weights(row_length * out_dims.channels, bits);
    const std::vector<uint8_t> packed = naive::PackRows(unpacked, out_dims.channels, row_length, bits);
    const std::vector<int8_t> input =
        generator.Int8s(static_cast<size_t>(in_dims.height) * in_dims.width * in_dims.channels);
    IntegerOp op;
    op.bias = generator.Int32s(out_dims.channels, -100000, 100000);
    generator.Quantization(op, out_dims.channels);
    ChooseOutputStage(generator, op, trial);
    const qk_conv_params params{-generator.Int(-128, 127),
                                generator.Int(-128, 127),
                                kernel_h,
                                kernel_w,
                                stride,
                                padding,
                                {generator.Int(-128, -1), generator.Int(0, 127)}};
    const qk_per_channel_quant quant{op.multiplier.data(), op.shift.data()};
    const qk_packed_weights weights{packed.data(), bits};
    const size_t output_size = static_cast<size_t>(out_dims.height) * out_dims.width * out_dims.channels;
    std::vector<int8_t> reference(output_size), optimized(output_size);
    ASSERT_EQ(qk_conv2d_s8_reference(&params, &quant, &in_dims, input.data(), &weights, op.bias.data(), &out_dims,
                                     reference.data()),
              QK_OK);
    ASSERT_EQ(qk_conv2d_s8_dsp(&params, &quant, &in_dims, input.data(), &weights, op.bias.data(), &out_dims,
                               optimized.data()),
              QK_OK);
    ASSERT_EQ(optimized, reference) << "trial " << trial << " bits " << bits << " k " << kernel_h << "x" << kernel_w
                                    << " in " << in_dims.height << "x" << in_dims.width << "x" << in_dims.channels
                                    << " out c " << out_dims.channels << " pad " << padding << " stride " << stride;
  }
}

TEST(DspVariantsTest, DepthwiseConv2dIsBitExactWithReference) {
  naive::VectorGenerator generator(4007);
  for (int trial = 0; trial < 400; ++trial) {
    const int bits = trial % 4 == 0 ? generator.Int(5, 8) : RandomBits(generator);
    const int kernel_h = generator.Int(1, 5), kernel_w = generator.Int(1, 5), stride = generator.Int(1, 3);
    const int padding = generator.Int(0, std::min(kernel_h, kernel_w) - 1);
    const int channels = generator.Int(1, 19);  // odd counts and remainders of 4
    const qk_dims in_dims{generator.Int(std::max(1, kernel_h - 2 * padding), 14),
                          generator.Int(std::max(1, kernel_w - 2 * padding), 14), channels};
    const qk_dims out_dims{(in_dims.height + 2 * padding - kernel_h) / stride + 1,
                           (in_dims.width + 2 * padding - kernel_w) / stride + 1, channels};
    const size_t taps = static_cast<size_t>(kernel_h) * kernel_w;
    const std::vector<int8_t> unpacked = generator.Weights(taps * channels, bits);
    const std::vector<uint8_t> packed = naive::PackRows(unpacked, taps, static_cast<size_t>(channels), bits);
    const std::vector<int8_t> input =
        generator.Int8s(static_cast<size_t>(in_dims.height) * in_dims.width * in_dims.channels);
    IntegerOp op;
    op.bias = generator.Int32s(channels, -100000, 100000);
    generator.Quantization(op, channels);
    ChooseOutputStage(generator, op, trial);
    const qk_conv_params params{-generator.Int(-128, 127),
                                generator.Int(-128, 127),
                                kernel_h,
                                kernel_w,
                                stride,
                                padding,
                                {generator.Int(-128, -1), generator.Int(0, 127)}};
    const qk_per_channel_quant quant{op.multiplier.data(), op.shift.data()};
    const qk_packed_weights weights{packed.data(), bits};
    const int32_t* bias = trial % 5 == 0 ? nullptr : op.bias.data();
    const size_t output_size = static_cast<size_t>(out_dims.height) * out_dims.width * out_dims.channels;
    std::vector<int8_t> reference(output_size), optimized(output_size);
    ASSERT_EQ(qk_depthwise_conv2d_s8_reference(&params, &quant, &in_dims, input.data(), &weights, bias, &out_dims,
                                               reference.data()),
              QK_OK);
    ASSERT_EQ(qk_depthwise_conv2d_s8_dsp(&params, &quant, &in_dims, input.data(), &weights, bias, &out_dims,
                                         optimized.data()),
              QK_OK);
    ASSERT_EQ(optimized, reference) << "trial " << trial << " bits " << bits << " c " << channels << " k " << kernel_h
                                    << "x" << kernel_w << " s " << stride << " p " << padding;
  }
}

TEST(DspVariantsTest, MaxPoolIsBitExactWithReference) {
  naive::VectorGenerator generator(4011);
  for (int trial = 0; trial < 300; ++trial) {
    const int kernel_h = generator.Int(1, 4), kernel_w = generator.Int(1, 4), stride = generator.Int(1, 3);
    const int padding = generator.Int(0, std::min(kernel_h, kernel_w) - 1);
    const int channels = generator.Int(1, 19);  // remainders of 4
    const qk_dims in_dims{generator.Int(std::max(1, kernel_h - 2 * padding), 12),
                          generator.Int(std::max(1, kernel_w - 2 * padding), 12), channels};
    const qk_dims out_dims{(in_dims.height + 2 * padding - kernel_h) / stride + 1,
                           (in_dims.width + 2 * padding - kernel_w) / stride + 1, channels};
    const std::vector<int8_t> input =
        generator.Int8s(static_cast<size_t>(in_dims.height) * in_dims.width * in_dims.channels);
    const int act_min = generator.Int(-128, 20);
    const qk_pool_params params{kernel_h, kernel_w, stride, padding, {act_min, generator.Int(act_min, 127)}};
    const size_t output_size = static_cast<size_t>(out_dims.height) * out_dims.width * channels;
    std::vector<int8_t> reference(output_size), optimized(output_size);
    ASSERT_EQ(qk_maxpool_s8_reference(&params, &in_dims, input.data(), &out_dims, reference.data()), QK_OK);
    ASSERT_EQ(qk_maxpool_s8_dsp(&params, &in_dims, input.data(), &out_dims, optimized.data()), QK_OK);
    ASSERT_EQ(optimized, reference) << "trial " << trial << " c " << channels << " k " << kernel_h << "x" << kernel_w;
  }
}

TEST(DspVariantsTest, BothVariantsRejectTheSameBadArguments) {
  const std::vector<int8_t> input(8, 0);
  const std::vector<uint8_t> packed(8, 0);
  const std::vector<int32_t> multiplier(2, 1 << 30), shift(2, -40);
  const qk_per_channel_quant quant{multiplier.data(), shift.data()};
  const qk_packed_weights weights{packed.data(), 8};
  const qk_dense_params params{0, 0, {-128, 127}};
  std::vector<int8_t> output(2);
  EXPECT_EQ(qk_dense_s8_reference(&params, &quant, 4, input.data(), &weights, nullptr, 2, output.data()),
            QK_ERR_ARGUMENT);
  EXPECT_EQ(qk_dense_s8_dsp(&params, &quant, 4, input.data(), &weights, nullptr, 2, output.data()), QK_ERR_ARGUMENT);
}

}  // namespace
}  // namespace qatlab
