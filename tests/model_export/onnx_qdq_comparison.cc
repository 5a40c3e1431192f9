#include "tests/model_export/onnx_qdq_comparison.h"

#include <gtest/gtest.h>
#include <onnx/checker.h>
#include <onnx/onnx_pb.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>

#include "engine/integer_runner.h"
#include "model_export/model_export.h"
#include "qatlab_kernels/qmodel.h"
#include "tests/support/onnxruntime.h"
#include "tests/support/temp_dir.h"

namespace qatlab {
namespace {

// Operators of onnxruntime's integer kernels as its QDQ fusions leave them
// (ONNX and com.microsoft domains).
const std::set<std::string> kIntegerOps = {"QLinearConv",
                                           "QLinearMatMul",
                                           "ConvInteger",
                                           "MatMulInteger",
                                           "QGemm",
                                           "QLinearAdd",
                                           "QLinearAveragePool",
                                           "QLinearGlobalAveragePool",
                                           "MatMulIntegerToFloat",
                                           "DynamicQuantizeMatMul"};
const std::set<std::string> kFloatMatrixOps = {"Conv", "Gemm", "MatMul", "FusedConv", "FusedGemm", "FusedMatMul"};

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream contents;
  contents << in.rdbuf();
  return contents.str();
}

// The scale and zero point of the graph's output, read from the initializers
// of the DequantizeLinear that writes it.
void OutputQuantization(const onnx::ModelProto& model, float* scale, int32_t* zero_point) {
  const onnx::NodeProto* last = nullptr;
  for (const auto& node : model.graph().node()) {
    if (node.output(0) == model.graph().output(0).name()) last = &node;
  }
  ASSERT_NE(last, nullptr);
  ASSERT_EQ(last->op_type(), "DequantizeLinear");
  bool found_scale = false, found_zero_point = false;
  for (const auto& init : model.graph().initializer()) {
    if (init.name() == last->input(1) && init.raw_data().size() == 4) {
      std::memcpy(scale, init.raw_data().data(), 4);
      found_scale = true;
    }
    if (init.name() == last->input(2) && init.raw_data().size() == 1) {
      // uint8 activations: the int8 zero point plus 128.
      *zero_point = static_cast<uint8_t>(init.raw_data()[0]) - 128;
      found_zero_point = true;
    }
  }
  ASSERT_TRUE(found_scale && found_zero_point);
}

}  // namespace

std::string OnnxComparison::OpList() const {
  std::string list;
  for (const auto& [op, n] : op_counts) list += (list.empty() ? "" : ", ") + op + " x" + std::to_string(n);
  return list;
}

int OnnxComparison::IntegerOps() const {
  int n = 0;
  for (const auto& [op, count] : op_counts) n += kIntegerOps.count(op) != 0 ? count : 0;
  return n;
}

std::vector<std::string> OnnxComparison::FloatMatrixOps() const {
  std::vector<std::string> ops;
  for (const auto& [op, count] : op_counts) {
    if (kFloatMatrixOps.count(op) != 0) ops.push_back(op);
  }
  return ops;
}

void CompareOnnxWithKernels(const std::vector<uint8_t>& qmodel, const std::string& name, const uint8_t* pixels,
                            int count, OnnxComparison* result) {
  auto exported = ExportModel(std::string(qmodel.begin(), qmodel.end()), ExportFormat::kOnnx, name);
  ASSERT_TRUE(exported.ok()) << exported.status().ToString();
  ASSERT_EQ(exported->size(), 1u);
  EXPECT_EQ((*exported)[0].name, name + ".onnx");
  const std::string& onnx_bytes = (*exported)[0].contents;
  onnx::ModelProto model;
  ASSERT_TRUE(model.ParseFromString(onnx_bytes));
  EXPECT_NO_THROW(onnx::checker::check_model(model));
  float output_scale = 0;
  int32_t output_zero_point = 0;
  ASSERT_NO_FATAL_FAILURE(OutputQuantization(model, &output_scale, &output_zero_point));
  ASSERT_GT(output_scale, 0.0f);

  auto runner = IntegerRunner::Open(qmodel);
  ASSERT_TRUE(runner.ok()) << runner.status().ToString();
  const int h = runner->input_height(), w = runner->input_width(), c = runner->input_channels();
  const size_t image_size = static_cast<size_t>(h) * w * c;
  const int classes = static_cast<int>(runner->output_bytes());

  std::vector<float> input(count * image_size);
  for (int i = 0; i < count; ++i) {
    const uint8_t* image = pixels + i * image_size;
    float* chw = input.data() + i * image_size;
    for (int y = 0; y < h; ++y) {
      for (int x = 0; x < w; ++x) {
        for (int ch = 0; ch < c; ++ch) chw[(ch * h + y) * w + x] = image[(y * w + x) * c + ch] / 255.0f;
      }
    }
  }
  test_support::TempDir dir;
  test_support::OnnxruntimeRequest request;
  request.model_path = dir.File(name + ".onnx");
  {
    std::ofstream out(request.model_path, std::ios::binary);
    out << onnx_bytes;
  }
  request.input_bytes.assign(reinterpret_cast<const char*>(input.data()), input.size() * sizeof(float));
  request.dims = {count, c, h, w};
  request.optimized_model_path = dir.File(name + ".optimized.onnx");
  request.optimization = "all";
  auto run = test_support::RunOnnxruntime(request, dir.path());
  ASSERT_TRUE(run.ok()) << run.status().ToString();
  ASSERT_EQ(run->output_dims, (std::vector<int64_t>{count, classes}));

  std::vector<int8_t> quantized(image_size), logits(classes);
  for (int i = 0; i < count; ++i) {
    runner->QuantizeImage(pixels + i * image_size, quantized.data());
    ASSERT_TRUE(runner->Run(quantized.data(), logits.data()).ok());
    const float* onnx_logits = run->output.data() + static_cast<size_t>(i) * classes;
    int onnx_best = 0;
    for (int k = 0; k < classes; ++k) {
      if (onnx_logits[k] > onnx_logits[onnx_best]) onnx_best = k;
      const long onnx_q = std::lround(onnx_logits[k] / output_scale) + output_zero_point;
      ++result->logits;
      if (onnx_q == logits[k]) ++result->same_logit;
      if (std::labs(onnx_q - logits[k]) <= 1) ++result->within_one_lsb;
      result->max_lsb_difference =
          std::max(result->max_lsb_difference, static_cast<int>(std::labs(onnx_q - logits[k])));
    }
    const int best = static_cast<int>(qk_argmax_s8(logits.data(), static_cast<uint32_t>(classes)));
    int runner_up = -128 - 1;
    for (int k = 0; k < classes; ++k) {
      if (k != best) runner_up = std::max<int>(runner_up, logits[k]);
    }
    const bool decisive = logits[best] - runner_up > 4;

    ++result->images;
    result->same_class += onnx_best == best ? 1 : 0;
    result->decisive += decisive ? 1 : 0;
    result->decisive_same_class += decisive && onnx_best == best ? 1 : 0;
  }

  onnx::ModelProto optimized;
  ASSERT_TRUE(optimized.ParseFromString(ReadFile(request.optimized_model_path)))
      << "onnxruntime wrote no readable optimized model at " << request.optimized_model_path;
  for (const auto& node : optimized.graph().node()) ++result->op_counts[node.op_type()];
}

}  // namespace qatlab
