// InspectOnnxModel in a child process (model_import/onnx_inspector.h), run
// on the real qatlab-onnx-inspect from the build tree: it answers as the
// in-process check does, and a model that crashes libonnx becomes one
// InvalidArgument instead of the end of this test's process.
#include "model_import/onnx_inspector.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <fstream>
#include <sstream>

namespace qatlab {
namespace {

std::string ReadSourceFile(const std::string& relative) {
  std::ifstream in(std::string(QATLAB_SOURCE_DIR) + "/" + relative, std::ios::binary);
  EXPECT_TRUE(in) << relative;
  std::ostringstream bytes;
  bytes << in.rdbuf();
  return bytes.str();
}

TEST(OnnxInspector, AValidModelGetsTheSameSummaryAsInProcess) {
  const std::string bytes = ReadSourceFile("fuzz/corpus/onnx/cnn.onnx");
  auto in_process = InspectOnnxModel(bytes);
  ASSERT_TRUE(in_process.ok()) << in_process.status().ToString();
  auto in_child = InspectOnnxModelInChild(bytes);
  ASSERT_TRUE(in_child.ok()) << in_child.status().ToString();
  EXPECT_EQ(in_child->input, in_process->input);
  EXPECT_EQ(in_child->num_classes, in_process->num_classes);
  EXPECT_EQ(in_child->layer_count, in_process->layer_count);
  EXPECT_EQ(in_child->parameters, in_process->parameters);
  EXPECT_EQ(in_child->opset, in_process->opset);
}

TEST(OnnxInspector, ARefusedModelGetsTheImportersMessage) {
  const std::string bytes = ReadSourceFile("fuzz/corpus/onnx/regression-zero-stride-in-shape-inference");
  auto in_process = InspectOnnxModel(bytes);
  ASSERT_FALSE(in_process.ok());
  auto in_child = InspectOnnxModelInChild(bytes);
  ASSERT_FALSE(in_child.ok());
  EXPECT_EQ(in_child.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(in_child.status().message(), in_process.status().message());
}

TEST(OnnxInspector, AModelThatCrashesLibonnxIsAnInvalidArgument) {
  // Found by fuzz/onnx_fuzzer.cc: a SIGSEGV in libonnx 1.12's
  // convPoolShapeInference. Never run in this process.
  const std::string bytes = ReadSourceFile("fuzz/crashes/onnx/segv-in-conv-pool-shape-inference");
  ASSERT_FALSE(bytes.empty());
  auto in_child = InspectOnnxModelInChild(bytes);
  ASSERT_FALSE(in_child.ok());
  EXPECT_EQ(in_child.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(in_child.status().message(), "the ONNX model could not be checked: the inspector crashed (signal 11)");
}

TEST(OnnxInspector, AJobsModelFileThatCrashesLibonnxFailsTheImportNotTheProcess) {
  const std::string path = std::string(QATLAB_SOURCE_DIR) + "/fuzz/crashes/onnx/segv-in-conv-pool-shape-inference";
  auto imported = ImportOnnxModelFileCheckedInChild(path);
  ASSERT_FALSE(imported.ok());
  EXPECT_EQ(imported.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(imported.status().message(),
            "ONNX model '" + path + "': the ONNX model could not be checked: the inspector crashed (signal 11)");
  auto valid = ImportOnnxModelFileCheckedInChild(std::string(QATLAB_SOURCE_DIR) + "/fuzz/corpus/onnx/cnn.onnx");
  ASSERT_TRUE(valid.ok()) << valid.status().ToString();
  EXPECT_FALSE(valid->layers.empty());
}

TEST(OnnxInspector, AMissingInspectorIsNotFoundNamingWhereItLooked) {
  ::setenv("QATLAB_ONNX_INSPECTOR", "/nonexistent/qatlab-onnx-inspect", 1);
  auto found = FindOnnxInspector();
  auto inspected = InspectOnnxModelInChild(ReadSourceFile("fuzz/corpus/onnx/cnn.onnx"));
  ::unsetenv("QATLAB_ONNX_INSPECTOR");
  ASSERT_FALSE(found.ok());
  EXPECT_EQ(found.status().code(), StatusCode::kNotFound);
  EXPECT_NE(found.status().message().find("/nonexistent/qatlab-onnx-inspect"), std::string::npos);
  ASSERT_FALSE(inspected.ok());
  EXPECT_EQ(inspected.status().code(), StatusCode::kNotFound);
  EXPECT_TRUE(FindOnnxInspector().ok());
}

TEST(OnnxInspector, TheSummaryTextRoundTripsAndGarbageIsRefused) {
  OnnxModelSummary summary;
  summary.input = {28, 27, 3};
  summary.num_classes = 10;
  summary.layer_count = 7;
  summary.parameters = 5'000'000'000;
  summary.opset = 17;
  auto parsed = ParseOnnxModelSummary(FormatOnnxModelSummary(summary));
  ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
  EXPECT_EQ(parsed->input, summary.input);
  EXPECT_EQ(parsed->num_classes, 10);
  EXPECT_EQ(parsed->layer_count, 7);
  EXPECT_EQ(parsed->parameters, 5'000'000'000);
  EXPECT_EQ(parsed->opset, 17);
  EXPECT_FALSE(ParseOnnxModelSummary("input_height 28\n").ok());
  EXPECT_FALSE(ParseOnnxModelSummary("input_height twenty\n").ok());
}

}  // namespace
}  // namespace qatlab
