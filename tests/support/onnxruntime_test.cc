// The onnxruntime harness itself: a model built here with the ONNX classes
// runs in onnxruntime-node and gives the values the operator defines.
#include "tests/support/onnxruntime.h"

#include <gtest/gtest.h>
#include <onnx/checker.h>
#include <onnx/onnx_pb.h>

#include <fstream>

#include "tests/support/temp_dir.h"

namespace qatlab::test_support {
namespace {

void AddTensorValue(onnx::ValueInfoProto* value, const std::string& name, int64_t size) {
  value->set_name(name);
  auto* type = value->mutable_type()->mutable_tensor_type();
  type->set_elem_type(onnx::TensorProto::FLOAT);
  type->mutable_shape()->add_dim()->set_dim_value(1);
  type->mutable_shape()->add_dim()->set_dim_value(size);
}

TEST(Onnxruntime, RunsAModelAndReturnsItsOutput) {
  onnx::ModelProto model;
  model.set_ir_version(8);
  model.add_opset_import()->set_version(13);
  auto* graph = model.mutable_graph();
  graph->set_name("relu");
  auto* node = graph->add_node();
  node->set_op_type("Relu");
  node->add_input("x");
  node->add_output("y");
  AddTensorValue(graph->add_input(), "x", 4);
  AddTensorValue(graph->add_output(), "y", 4);
  onnx::checker::check_model(model);

  TempDir dir;
  const std::string path = dir.File("relu.onnx");
  {
    std::ofstream out(path, std::ios::binary);
    ASSERT_TRUE(model.SerializeToOstream(&out));
  }
  auto run = RunOnnxruntime(path, {-1.5f, 0.0f, 2.25f, -0.0f}, {1, 4}, dir.path());
  ASSERT_TRUE(run.ok()) << run.status().ToString();
  EXPECT_EQ(run->output_dims, (std::vector<int64_t>{1, 4}));
  EXPECT_EQ(run->output, (std::vector<float>{0.0f, 0.0f, 2.25f, 0.0f}));
}

TEST(Onnxruntime, AnInvalidModelIsAnErrorWithOnnxruntimesReason) {
  TempDir dir;
  const std::string path = dir.File("junk.onnx");
  std::ofstream(path) << "not a model";
  auto run = RunOnnxruntime(path, {1.0f}, {1, 1}, dir.path());
  ASSERT_FALSE(run.ok());
  EXPECT_NE(run.status().message().find("junk.onnx"), std::string::npos) << run.status().ToString();
}

}  // namespace
}  // namespace qatlab::test_support
