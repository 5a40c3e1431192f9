// The ONNX (QDQ) export op by op, on a model built here with random weights
// and every layout question the presets leave out: two input channels (NCHW
// against the kernels' HWC, in the input and in a dense layer's columns),
// 2-, 3- and 4-bit weights, average pooling with padding, a residual add,
// clamps narrower than the output range (fused ReLU / ReLU6 with a zero point
// above -128), and a dense layer after a dense layer. Also: the weights and
// the recovered scales are the .qmodel's, and bad input is refused.
#include <gtest/gtest.h>
#include <onnx/onnx_pb.h>

#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "engine/integer_export.h"
#include "engine/integer_model.h"
#include "engine/qmodel_writer.h"
#include "model_export/model_export.h"
#include "model_export/onnx_qdq_export.h"
#include "tests/model_export/onnx_qdq_comparison.h"

namespace qatlab {
namespace {

IntegerTensor Tensor(int height, int width, int channels, float scale, int zero_point) {
  IntegerTensor t;
  t.height = height;
  t.width = width;
  t.channels = channels;
  t.scale = scale;
  t.zero_point = zero_point;
  return t;
}

// A weighted op with random weights in the narrow range of `bits`, per-channel
// scales around 1/sqrt(fan_in) for the real weights and small random biases.
// The multipliers are derived as the engine derives them.
IntegerOp Weighted(IntegerOpKind kind, int input, int output, int bits, int kernel, int stride, int padding,
                   const std::vector<IntegerTensor>& tensors, std::mt19937* random, std::vector<float>* weight_scales) {
  IntegerOp op;
  op.kind = kind;
  op.input = input;
  op.output = output;
  op.weight_bits = bits;
  op.kernel_h = op.kernel_w = kernel;
  op.stride = stride;
  op.padding = padding;
  const IntegerTensor& in = tensors[input];
  const IntegerTensor& out = tensors[output];
  const int channels = kind == IntegerOpKind::kDense ? out.height * out.width * out.channels : out.channels;
  int fan_in = in.height * in.width * in.channels;
  if (kind == IntegerOpKind::kConv2D) fan_in = kernel * kernel * in.channels;
  if (kind == IntegerOpKind::kDepthwiseConv2D) fan_in = kernel * kernel;
  const int qmax = (1 << (bits - 1)) - 1;
  std::uniform_int_distribution<int> weight(-qmax, qmax);
  std::uniform_real_distribution<float> spread(0.5f, 1.5f), real_bias(-0.2f, 0.2f);
  op.weights.resize(static_cast<size_t>(channels) * fan_in);
  for (int8_t& w : op.weights) w = static_cast<int8_t>(weight(*random));
  weight_scales->clear();
  for (int c = 0; c < channels; ++c) {
    const float scale = spread(*random) / (static_cast<float>(qmax) * std::sqrt(static_cast<float>(fan_in)));
    weight_scales->push_back(scale);
    const double bias_scale = static_cast<double>(in.scale) * scale;
    op.bias.push_back(static_cast<int32_t>(std::lround(real_bias(*random) / bias_scale)));
    int32_t multiplier = 0, shift = 0;
    QuantizeMultiplier(bias_scale / out.scale, &multiplier, &shift);
    op.multiplier.push_back(multiplier);
    op.shift.push_back(shift);
  }
  return op;
}

IntegerOp Pool(IntegerOpKind kind, int input, int output, int kernel, int stride, int padding) {
  IntegerOp op;
  op.kind = kind;
  op.input = input;
  op.output = output;
  op.kernel_h = op.kernel_w = kernel;
  op.stride = stride;
  op.padding = padding;
  op.weight_bits = 0;
  return op;
}

struct TestModel {
  IntegerModel model;
  std::vector<float> conv_weight_scales;  // of op 0
  std::vector<uint8_t> qmodel;
};

// 12x12x2 → conv 3x3 (4-bit, clamp [-100, 90]) → avgpool 3/2 pad 1 →
// depthwise 3x3 (2-bit) → add with the pool's output (ReLU) → maxpool 2 →
// dense 16 (8-bit, ReLU at zero point -110) → dense 10 (3-bit).
TestModel BuildTestModel() {
  TestModel test;
  IntegerModel& m = test.model;
  m.name = "ops";
  std::mt19937 random(7);
  m.tensors = {Tensor(12, 12, 2, 1.0f / 255.0f, -128),  // input
               Tensor(12, 12, 4, 2.0f / 255.0f, -100),  // conv
               Tensor(6, 6, 4, 2.0f / 255.0f, -100),    // avgpool
               Tensor(6, 6, 4, 3.0f / 255.0f, -20),     // depthwise
               Tensor(6, 6, 4, 4.0f / 255.0f, -60),     // add
               Tensor(3, 3, 4, 4.0f / 255.0f, -60),     // maxpool
               Tensor(1, 1, 16, 4.0f / 255.0f, -110),   // dense
               Tensor(1, 1, 10, 1.5f / 255.0f, 5)};     // logits
  std::vector<float> unused;
  IntegerOp conv = Weighted(IntegerOpKind::kConv2D, 0, 1, 4, 3, 1, 1, m.tensors, &random, &test.conv_weight_scales);
  conv.act_min = -100;
  conv.act_max = 90;
  m.ops.push_back(conv);
  m.ops.push_back(Pool(IntegerOpKind::kAvgPool, 1, 2, 3, 2, 1));
  m.ops.push_back(Weighted(IntegerOpKind::kDepthwiseConv2D, 2, 3, 2, 3, 1, 1, m.tensors, &random, &unused));
  IntegerOp add;
  add.kind = IntegerOpKind::kAdd;
  add.input = 3;
  add.input2 = 2;
  add.output = 4;
  add.weight_bits = 0;
  add.act_min = -60;
  const double twice_max = 2.0 * std::max(m.tensors[3].scale, m.tensors[2].scale);
  add.multiplier.resize(3);
  add.shift.resize(3);
  QuantizeMultiplier(m.tensors[3].scale / twice_max, &add.multiplier[0], &add.shift[0]);
  QuantizeMultiplier(m.tensors[2].scale / twice_max, &add.multiplier[1], &add.shift[1]);
  QuantizeMultiplier(twice_max / (static_cast<double>(1 << 20) * m.tensors[4].scale), &add.multiplier[2],
                     &add.shift[2]);
  m.ops.push_back(add);
  m.ops.push_back(Pool(IntegerOpKind::kMaxPool, 4, 5, 2, 2, 0));
  IntegerOp hidden = Weighted(IntegerOpKind::kDense, 5, 6, 8, 1, 1, 0, m.tensors, &random, &unused);
  hidden.act_min = -110;
  m.ops.push_back(hidden);
  m.ops.push_back(Weighted(IntegerOpKind::kDense, 6, 7, 3, 1, 1, 0, m.tensors, &random, &unused));
  m.input_tensor = 0;
  m.output_tensor = 7;
  m.num_classes = 10;
  auto bytes = WriteQModel(m);
  EXPECT_TRUE(bytes.ok()) << bytes.status().ToString();
  if (bytes.ok()) test.qmodel = std::move(*bytes);
  return test;
}

std::string AsString(const std::vector<uint8_t>& bytes) { return std::string(bytes.begin(), bytes.end()); }

const onnx::TensorProto* Initializer(const onnx::ModelProto& model, const std::string& name) {
  for (const auto& init : model.graph().initializer()) {
    if (init.name() == name) return &init;
  }
  return nullptr;
}

TEST(OnnxQdqExportOps, EveryOpAgreesWithTheIntegerKernels) {
  const TestModel test = BuildTestModel();
  ASSERT_FALSE(test.qmodel.empty());
  const int count = 500;
  std::mt19937 random(11);
  std::uniform_int_distribution<int> pixel(0, 255);
  // Images of random 3x3 blocks (independent pixels would average out in the
  // pools and leave every image with nearly the same logits).
  std::vector<uint8_t> pixels(static_cast<size_t>(count) * 12 * 12 * 2);
  for (int i = 0; i < count; ++i) {
    uint8_t blocks[4][4][2];
    for (auto& row : blocks) {
      for (auto& block : row) {
        for (uint8_t& value : block) value = static_cast<uint8_t>(pixel(random));
      }
    }
    for (int y = 0; y < 12; ++y) {
      for (int x = 0; x < 12; ++x) {
        for (int c = 0; c < 2; ++c)
          pixels[((static_cast<size_t>(i) * 12 + y) * 12 + x) * 2 + c] = blocks[y / 3][x / 3][c];
      }
    }
  }

  OnnxComparison comparison;
  ASSERT_NO_FATAL_FAILURE(CompareOnnxWithKernels(test.qmodel, "ops", pixels.data(), count, &comparison));
  std::printf(
      "ops model: %d of %d images agree (%.2f%%), %d of %d with a lead over 4 LSB; logits equal %d, within "
      "one LSB %d of %d, at most %d LSB off; optimized graph: %s\n",
      comparison.same_class, comparison.images, comparison.class_agreement_percent(), comparison.decisive_same_class,
      comparison.decisive, comparison.same_logit, comparison.within_one_lsb, comparison.logits,
      comparison.max_lsb_difference, comparison.OpList().c_str());
  // Rounding differs (onnxruntime requantizes in float, rounds halves to
  // even and averages dequantized values), so an activation may be one LSB
  // off and a logit one or two; a wrong layout or scale would move most of
  // them by many. Random weights leave many near-ties between classes, so the
  // class is checked where the kernels' lead is wider than such differences.
  EXPECT_GE(comparison.within_one_lsb, comparison.logits * 97 / 100);
  EXPECT_LE(comparison.max_lsb_difference, 3);
  EXPECT_GE(comparison.same_logit, comparison.logits / 2);
  EXPECT_GE(comparison.decisive, comparison.images / 5);
  EXPECT_EQ(comparison.decisive_same_class, comparison.decisive);
  EXPECT_TRUE(comparison.FloatMatrixOps().empty()) << comparison.OpList();
  for (const char* op : {"QLinearConv", "QLinearAveragePool", "QLinearAdd", "QGemm"}) {
    EXPECT_GT(comparison.op_counts[op], 0) << op << " missing from " << comparison.OpList();
  }
}

TEST(OnnxQdqExportOps, WeightsAndScalesAreTheQmodels) {
  const TestModel test = BuildTestModel();
  ASSERT_FALSE(test.qmodel.empty());
  auto exported = QmodelToQdqOnnx(AsString(test.qmodel), "ops");
  ASSERT_TRUE(exported.ok()) << exported.status().ToString();
  onnx::ModelProto model;
  ASSERT_TRUE(model.ParseFromString(*exported));

  // The 4-bit conv: int8 values in ±7, [C_out][C_in][kh][kw] from the
  // kernels' [C_out][kh][kw][C_in].
  const IntegerOp& conv = test.model.ops[0];
  const onnx::TensorProto* weight = Initializer(model, "op0.weight");
  ASSERT_NE(weight, nullptr);
  EXPECT_EQ(weight->data_type(), onnx::TensorProto::INT8);
  ASSERT_EQ(weight->dims_size(), 4);
  EXPECT_EQ(weight->dims(0), 4);
  EXPECT_EQ(weight->dims(1), 2);
  ASSERT_EQ(weight->raw_data().size(), conv.weights.size());
  for (int o = 0; o < 4; ++o) {
    for (int c = 0; c < 2; ++c) {
      for (int ky = 0; ky < 3; ++ky) {
        for (int kx = 0; kx < 3; ++kx) {
          EXPECT_EQ(static_cast<int8_t>(weight->raw_data()[((o * 2 + c) * 3 + ky) * 3 + kx]),
                    conv.weights[((o * 3 + ky) * 3 + kx) * 2 + c]);
        }
      }
    }
  }
  // Per-channel scales on axis 0, recovered from the multipliers.
  const onnx::TensorProto* scale = Initializer(model, "op0.weight.scale");
  ASSERT_NE(scale, nullptr);
  ASSERT_EQ(scale->raw_data().size(), 4 * test.conv_weight_scales.size());
  for (size_t c = 0; c < test.conv_weight_scales.size(); ++c) {
    float recovered = 0;
    std::memcpy(&recovered, scale->raw_data().data() + 4 * c, 4);
    EXPECT_NEAR(recovered, test.conv_weight_scales[c], test.conv_weight_scales[c] * 1e-6f) << "channel " << c;
  }
  const onnx::TensorProto* bias = Initializer(model, "op0.bias");
  ASSERT_NE(bias, nullptr);
  EXPECT_EQ(bias->data_type(), onnx::TensorProto::INT32);

  // The clamps narrower than their output range (ops 0, 3 and 5) are Clips
  // on the quantized values.
  int clips = 0;
  for (const auto& node : model.graph().node()) clips += node.op_type() == "Clip" ? 1 : 0;
  EXPECT_EQ(clips, 3);
}

TEST(OnnxQdqExportOps, BadInputIsOneInvalidArgument) {
  const TestModel test = BuildTestModel();
  ASSERT_FALSE(test.qmodel.empty());
  std::string truncated = AsString(test.qmodel).substr(0, test.qmodel.size() / 2);
  std::string corrupt = AsString(test.qmodel);
  corrupt[corrupt.size() - 5] = static_cast<char>(corrupt[corrupt.size() - 5] ^ 0x10);
  const struct {
    std::string bytes;
    std::string reason;
  } cases[] = {{"", "truncated"},
               {"ir_version: 7 (an ONNX model, not a .qmodel)", "bad magic"},
               {truncated, "truncated"},
               {corrupt, "CRC mismatch"}};
  for (const auto& c : cases) {
    auto onnx = QmodelToQdqOnnx(c.bytes, "bad");
    ASSERT_FALSE(onnx.ok());
    EXPECT_EQ(onnx.status().code(), StatusCode::kInvalidArgument);
    EXPECT_EQ(onnx.status().message(), "not a valid .qmodel: " + c.reason);
    auto files = ExportModel(c.bytes, ExportFormat::kOnnx, "bad");
    ASSERT_FALSE(files.ok());
    EXPECT_EQ(files.status().code(), StatusCode::kInvalidArgument);
  }
}

}  // namespace
}  // namespace qatlab
