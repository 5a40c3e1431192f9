#include "tests/server/tiny_onnx_model.h"

#include <onnx/onnx_pb.h>

#include <cmath>

namespace qatlab::testing {
namespace {

void SetShape(onnx::ValueInfoProto* value, const std::string& name, std::initializer_list<int64_t> dims) {
  value->set_name(name);
  onnx::TypeProto_Tensor* tensor = value->mutable_type()->mutable_tensor_type();
  tensor->set_elem_type(onnx::TensorProto::FLOAT);
  for (int64_t dim : dims) tensor->mutable_shape()->add_dim()->set_dim_value(dim);
}

}  // namespace

std::string TinyOnnxLinearModel(int classes, int height, int width, int channels) {
  const int64_t features = static_cast<int64_t>(height) * width * channels;
  onnx::ModelProto model;
  model.set_ir_version(8);
  model.set_producer_name("qatlab-tests");
  onnx::OperatorSetIdProto* opset = model.add_opset_import();
  opset->set_domain("");
  opset->set_version(13);
  onnx::GraphProto* graph = model.mutable_graph();
  graph->set_name("tiny_linear");
  SetShape(graph->add_input(), "input", {1, channels, height, width});
  SetShape(graph->add_output(), "logits", {1, classes});

  onnx::TensorProto* weight = graph->add_initializer();
  weight->set_name("fc.weight");
  weight->set_data_type(onnx::TensorProto::FLOAT);
  weight->add_dims(classes);
  weight->add_dims(features);
  for (int64_t i = 0; i < classes * features; ++i) weight->add_float_data(0.01f * std::sin(0.37f * i));
  onnx::TensorProto* bias = graph->add_initializer();
  bias->set_name("fc.bias");
  bias->set_data_type(onnx::TensorProto::FLOAT);
  bias->add_dims(classes);
  for (int c = 0; c < classes; ++c) bias->add_float_data(0.1f * c);

  onnx::NodeProto* flatten = graph->add_node();
  flatten->set_op_type("Flatten");
  flatten->set_name("flatten");
  flatten->add_input("input");
  flatten->add_output("flat");
  onnx::AttributeProto* axis = flatten->add_attribute();
  axis->set_name("axis");
  axis->set_type(onnx::AttributeProto::INT);
  axis->set_i(1);

  onnx::NodeProto* gemm = graph->add_node();
  gemm->set_op_type("Gemm");
  gemm->set_name("fc");
  gemm->add_input("flat");
  gemm->add_input("fc.weight");
  gemm->add_input("fc.bias");
  gemm->add_output("logits");
  onnx::AttributeProto* trans_b = gemm->add_attribute();
  trans_b->set_name("transB");
  trans_b->set_type(onnx::AttributeProto::INT);
  trans_b->set_i(1);

  std::string bytes;
  model.SerializeToString(&bytes);
  return bytes;
}

}  // namespace qatlab::testing
