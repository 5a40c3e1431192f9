#include "tests/model_import/onnx_model_builder.h"

namespace qatlab::test_support {

OnnxModelBuilder::OnnxModelBuilder(int64_t opset, const std::vector<int64_t>& input_dims, uint32_t seed)
    : random_(seed) {
  model_.set_ir_version(8);
  model_.set_producer_name("qatlab-tests");
  model_.add_opset_import()->set_version(opset);
  auto* graph = model_.mutable_graph();
  graph->set_name("test");
  auto* input = graph->add_input();
  input->set_name(kInput);
  auto* type = input->mutable_type()->mutable_tensor_type();
  type->set_elem_type(onnx::TensorProto::FLOAT);
  for (size_t i = 0; i < input_dims.size(); ++i) {
    auto* dim = type->mutable_shape()->add_dim();
    if (input_dims[i] < 0) {
      dim->set_dim_param(i == 0 ? "N" : "d" + std::to_string(i));
    } else {
      dim->set_dim_value(input_dims[i]);
    }
  }
}

std::string OnnxModelBuilder::Random(const std::string& name, const std::vector<int64_t>& dims, float low, float high) {
  int64_t count = 1;
  for (int64_t d : dims) count *= d;
  std::uniform_real_distribution<float> uniform(low, high);
  std::vector<float> values(count);
  for (float& v : values) v = uniform(random_);
  return Floats(name, dims, values);
}

std::string OnnxModelBuilder::Floats(const std::string& name, const std::vector<int64_t>& dims,
                                     const std::vector<float>& values) {
  auto* tensor = model_.mutable_graph()->add_initializer();
  tensor->set_name(name);
  tensor->set_data_type(onnx::TensorProto::FLOAT);
  for (int64_t d : dims) tensor->add_dims(d);
  // raw_data, as exporters write large tensors.
  tensor->set_raw_data(std::string(reinterpret_cast<const char*>(values.data()), values.size() * sizeof(float)));
  return name;
}

std::string OnnxModelBuilder::Int64s(const std::string& name, const std::vector<int64_t>& values) {
  auto* tensor = model_.mutable_graph()->add_initializer();
  tensor->set_name(name);
  tensor->set_data_type(onnx::TensorProto::INT64);
  tensor->add_dims(static_cast<int64_t>(values.size()));
  for (int64_t v : values) tensor->add_int64_data(v);
  return name;
}

onnx::NodeProto* OnnxModelBuilder::Node(const std::string& op, const std::string& name,
                                        const std::vector<std::string>& inputs,
                                        const std::vector<std::string>& outputs) {
  auto* node = model_.mutable_graph()->add_node();
  node->set_op_type(op);
  node->set_name(name);
  for (const auto& input : inputs) node->add_input(input);
  for (const auto& output : outputs) node->add_output(output);
  return node;
}

void OnnxModelBuilder::SetInts(onnx::NodeProto* node, const std::string& name, const std::vector<int64_t>& values) {
  auto* attribute = node->add_attribute();
  attribute->set_name(name);
  attribute->set_type(onnx::AttributeProto::INTS);
  for (int64_t v : values) attribute->add_ints(v);
}

void OnnxModelBuilder::SetInt(onnx::NodeProto* node, const std::string& name, int64_t value) {
  auto* attribute = node->add_attribute();
  attribute->set_name(name);
  attribute->set_type(onnx::AttributeProto::INT);
  attribute->set_i(value);
}

void OnnxModelBuilder::SetFloat(onnx::NodeProto* node, const std::string& name, float value) {
  auto* attribute = node->add_attribute();
  attribute->set_name(name);
  attribute->set_type(onnx::AttributeProto::FLOAT);
  attribute->set_f(value);
}

void OnnxModelBuilder::SetString(onnx::NodeProto* node, const std::string& name, const std::string& value) {
  auto* attribute = node->add_attribute();
  attribute->set_name(name);
  attribute->set_type(onnx::AttributeProto::STRING);
  attribute->set_s(value);
}

std::string OnnxModelBuilder::Conv(const std::string& name, const std::string& input, int64_t in_channels,
                                   int64_t out_channels, int64_t kernel, int64_t stride, int64_t pad, int64_t group,
                                   bool bias) {
  std::vector<std::string> inputs = {input,
                                     Random(name + ".weight", {out_channels, in_channels / group, kernel, kernel})};
  if (bias) inputs.push_back(Random(name + ".bias", {out_channels}));
  auto* node = Node("Conv", name, inputs, {name + ".out"});
  SetInts(node, "kernel_shape", {kernel, kernel});
  SetInts(node, "strides", {stride, stride});
  SetInts(node, "pads", {pad, pad, pad, pad});
  if (group != 1) SetInt(node, "group", group);
  return name + ".out";
}

std::string OnnxModelBuilder::BatchNorm(const std::string& name, const std::string& input, int64_t channels,
                                        float epsilon) {
  auto* node = Node("BatchNormalization", name,
                    {input, Random(name + ".gamma", {channels}, 0.5f, 1.5f), Random(name + ".beta", {channels}),
                     Random(name + ".mean", {channels}), Random(name + ".var", {channels}, 0.2f, 2.0f)},
                    {name + ".out"});
  SetFloat(node, "epsilon", epsilon);
  return name + ".out";
}

std::string OnnxModelBuilder::Unary(const std::string& op, const std::string& name, const std::string& input) {
  Node(op, name, {input}, {name + ".out"});
  return name + ".out";
}

std::string OnnxModelBuilder::Pool(const std::string& op, const std::string& name, const std::string& input,
                                   int64_t window) {
  auto* node = Node(op, name, {input}, {name + ".out"});
  SetInts(node, "kernel_shape", {window, window});
  SetInts(node, "strides", {window, window});
  return name + ".out";
}

std::string OnnxModelBuilder::Gemm(const std::string& name, const std::string& input, int64_t in, int64_t out,
                                   bool trans_b) {
  const std::vector<int64_t> dims = trans_b ? std::vector<int64_t>{out, in} : std::vector<int64_t>{in, out};
  auto* node = Node("Gemm", name, {input, Random(name + ".weight", dims, -0.2f, 0.2f), Random(name + ".bias", {out})},
                    {name + ".out"});
  if (trans_b) SetInt(node, "transB", 1);
  return name + ".out";
}

std::string OnnxModelBuilder::Serialize(const std::string& output, const std::vector<int64_t>& dims) {
  auto* value = model_.mutable_graph()->add_output();
  value->set_name(output);
  auto* type = value->mutable_type()->mutable_tensor_type();
  type->set_elem_type(onnx::TensorProto::FLOAT);
  for (int64_t d : dims) {
    if (d < 0) {
      type->mutable_shape()->add_dim()->set_dim_param("N");
    } else {
      type->mutable_shape()->add_dim()->set_dim_value(d);
    }
  }
  return model_.SerializeAsString();
}

}  // namespace qatlab::test_support
