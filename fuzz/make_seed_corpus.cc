// Writes the generated seed corpus: fuzz/corpus/<target>/ for the qmodel,
// dut_reply, dataset and onnx targets (job_spec's seeds are examples/*.json,
// copied by scripts/fuzz.sh). Small valid inputs, so the fuzzer starts from
// files that get past the first checks. Run by hand when a format changes:
//   build-fuzz/fuzz/fuzz_make_seed_corpus fuzz/corpus
#include <onnx/onnx_pb.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "engine/qmodel_writer.h"
#include "tests/kernels/small_models.h"

namespace qatlab {
namespace {

void Write(const std::filesystem::path& path, const std::string& bytes) {
  std::filesystem::create_directories(path.parent_path());
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!out) {
    std::fprintf(stderr, "cannot write %s\n", path.c_str());
    std::exit(1);
  }
}

std::string LittleEndian32(uint32_t value) {
  std::string out;
  for (int shift = 0; shift < 32; shift += 8) out.push_back(static_cast<char>((value >> shift) & 0xFF));
  return out;
}

std::string BigEndian32(uint32_t value) {
  std::string out;
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<char>((value >> shift) & 0xFF));
  return out;
}

// --- qmodel: the kernels tests' small models, written by the engine.
void QModelSeeds(const std::filesystem::path& dir) {
  naive::VectorGenerator generator(7);
  const std::vector<std::pair<std::string, IntegerModel>> models = {
      {"mixed_w8.qmodel", test_models::MixedModel(generator)},
      {"mixed_dense_w4.qmodel", test_models::MixedModel(generator, 4)},
      {"mlp_w2.qmodel", test_models::Mlp(generator, 2)},
  };
  for (const auto& [name, model] : models) {
    StatusOr<std::vector<uint8_t>> bytes = WriteQModel(model);
    if (!bytes.ok()) {
      std::fprintf(stderr, "%s: %s\n", name.c_str(), bytes.status().ToString().c_str());
      std::exit(1);
    }
    Write(dir / name, std::string(bytes->begin(), bytes->end()));
  }
}

// --- dut_reply: replies as the firmware sends them (docs/protocol.md), in
// the order dut_reply_fuzzer.cc issues commands, separated by 0xFF.
void DutSeeds(const std::filesystem::path& dir) {
  const std::string sep = "\xFF";
  const std::string handshake = "m-ready\r\nm-name-dut-[qatlab-mps2-an386]\r\nm-ready\r\n";
  const std::string info =
      "m-qm-info-board=mps2-an386\r\nm-qm-info-core=cortex-m4\r\nm-qm-info-clock_hz=25000000\r\n"
      "m-qm-info-flash_bytes=4194304\r\nm-qm-info-ram_bytes=4194304\r\nm-qm-info-kernels=cortex-m-dsp\r\n"
      "m-qm-info-firmware=0.1.0\r\nm-qm-info-protocol=1\r\nm-qm-info-cycle_counter=systick\r\n"
      "m-qm-info-model_capacity=262144\r\nm-qm-info-arena_capacity=131072\r\nm-qm-info-input_capacity=4096\r\n"
      "m-qm-info-chunk_max=1024\r\nm-qm-info-infer_max=1000\r\nm-qm-info-model=none\r\n"
      "m-ready\r\n";
  std::string upload = "m-qm-begin-chunks=3\r\nm-ready\r\n" + sep;
  for (int seq = 0; seq < 3; ++seq) upload += "m-qm-ack-" + std::to_string(seq) + "\r\nm-ready\r\n" + sep;
  upload +=
      "m-qm-model-input_bytes=8\r\nm-qm-model-output_bytes=3\r\nm-qm-model-arena_bytes=64\r\n"
      "m-qm-model-ops=2\r\nm-ready\r\n";
  const std::string rest = sep + "m-qm-input-bytes=8\r\nm-ready\r\n" + sep +
                           "m-qm-output-[1,-5,127]\r\nm-qm-argmax-2\r\nm-qm-cycles-1234\r\nm-ready\r\n" + sep +
                           "m-qm-infer-count=3\r\nm-qm-infer-min=10\r\nm-qm-infer-median=11\r\n"
                           "m-qm-infer-max=12\r\nm-qm-infer-total=33\r\nm-ready\r\n" +
                           sep + "m-qm-layer-0-0-100\r\nm-qm-layer-1-1-200\r\nm-ready\r\n" + sep +
                           "m-lap-us-1000\r\nm-lap-us-2000\r\nm-infer-done\r\nm-results-[0.1,0.9]\r\nm-ready\r\n" +
                           sep + "m-results-[0.1,0.9]\r\nm-ready\r\n" + sep + "m-qm-raw-bytes=64\r\nm-ready\r\n";
  Write(dir / "full_session", std::string(1, '\x3f') + handshake + sep + info + sep + upload + rest);
  Write(dir / "split_reads", std::string(1, '\x02') + handshake + sep + info + sep + upload + rest);
  Write(dir / "errors", std::string(1, '\x3f') + handshake + sep + info + sep +
                            "e-[qm-begin: model too large]\r\nm-ready\r\n" + sep + "e-[crc mismatch]\r\nm-ready\r\n" +
                            sep + "e-[Unknown command: x]\r\nm-ready\r\n" + sep + "m-init-done\r\n");
  Write(dir / "garbage_then_resync", std::string(1, '\x3f') +
                                         "\x01\x02garbage\r\ne-[timeout after 100 ms]\r\nm-ready\r\n" + sep +
                                         handshake + sep + info);
}

// --- dataset: [format][limit] then the files (see dataset_fuzzer.cc).
std::string IdxBytes(uint8_t type, const std::vector<uint32_t>& dims, const std::string& data) {
  std::string bytes = {0, 0, static_cast<char>(type), static_cast<char>(dims.size())};
  for (uint32_t d : dims) bytes += BigEndian32(d);
  return bytes + data;
}

std::string NpyBytes(const std::string& descr, const std::string& shape, const std::string& data) {
  std::string header = "{'descr': '" + descr + "', 'fortran_order': False, 'shape': " + shape + ", }";
  while ((10 + header.size() + 1) % 64 != 0) header += ' ';
  header += '\n';
  std::string bytes = "\x93NUMPY";
  bytes.push_back(1);
  bytes.push_back(0);
  bytes.push_back(static_cast<char>(header.size() & 0xFF));
  bytes.push_back(static_cast<char>(header.size() >> 8));
  return bytes + header + data;
}

std::string Pixels(size_t n) {
  std::string out;
  for (size_t i = 0; i < n; ++i) out.push_back(static_cast<char>((i * 53) & 0xFF));
  return out;
}

std::string TwoFiles(char format, const std::string& images, const std::string& labels) {
  return std::string{format, 0} + LittleEndian32(static_cast<uint32_t>(images.size())) + images + labels;
}

void DatasetSeeds(const std::filesystem::path& dir) {
  const std::string labels3 = std::string("\x00\x02\x01", 3);
  Write(dir / "idx_rank3", TwoFiles(0, IdxBytes(0x08, {3, 4, 4}, Pixels(48)), IdxBytes(0x08, {3}, labels3)));
  Write(dir / "idx_rank4", TwoFiles(0, IdxBytes(0x08, {3, 2, 2, 3}, Pixels(36)), IdxBytes(0x08, {3}, labels3)));
  Write(dir / "npy_u1_i8",
        TwoFiles(1, NpyBytes("|u1", "(3, 4, 4)", Pixels(48)),
                 NpyBytes("<i8", "(3,)", std::string("\0\0\0\0\0\0\0\0\2\0\0\0\0\0\0\0\1\0\0\0\0\0\0\0", 24))));
  std::string floats;
  for (int i = 0; i < 3 * 9; ++i) {
    float value = static_cast<float>(i % 10) / 10.0f;
    floats.append(reinterpret_cast<const char*>(&value), sizeof value);
  }
  Write(dir / "npy_f4_flat_i4", TwoFiles(1, NpyBytes("<f4", "(3, 9)", floats),
                                         NpyBytes("<i4", "(3,)", std::string("\0\0\0\0\2\0\0\0\1\0\0\0", 12))));
  Write(dir / "npy_u1_labels_u1",
        TwoFiles(1, NpyBytes("|u1", "(3, 2, 2, 1)", Pixels(12)), NpyBytes("|u1", "(3,)", labels3)));
  Write(dir / "csv_2x2", std::string{2, 0, 2, 2, 1} + "label,p0,p1,p2,p3\n0,1,2,3,4\n\n2,255,0,7,9\n1,5,5,5,5\n");
  Write(dir / "csv_inferred", std::string{2, 2, 0, 0, 0} + "3,1,2,3,4,5,6,7,8,9\n0,9,8,7,6,5,4,3,2,1\n");
}

// --- onnx: two tiny float models of the kinds docs/onnx.md lists.
onnx::TensorProto FloatTensor(const std::string& name, const std::vector<int64_t>& dims) {
  onnx::TensorProto tensor;
  tensor.set_name(name);
  tensor.set_data_type(onnx::TensorProto::FLOAT);
  int64_t count = 1;
  for (int64_t d : dims) {
    tensor.add_dims(d);
    count *= d;
  }
  for (int64_t i = 0; i < count; ++i) tensor.add_float_data(static_cast<float>((i * 7) % 11 - 5) / 10.0f);
  return tensor;
}

void SetValueInfo(onnx::ValueInfoProto* info, const std::string& name, const std::vector<int64_t>& dims) {
  info->set_name(name);
  onnx::TypeProto_Tensor* tensor = info->mutable_type()->mutable_tensor_type();
  tensor->set_elem_type(onnx::TensorProto::FLOAT);
  for (int64_t d : dims) tensor->mutable_shape()->add_dim()->set_dim_value(d);
}

onnx::NodeProto* AddNode(onnx::GraphProto* graph, const std::string& op, const std::vector<std::string>& inputs,
                         const std::string& output) {
  onnx::NodeProto* node = graph->add_node();
  node->set_op_type(op);
  node->set_name(output);
  for (const std::string& input : inputs) node->add_input(input);
  node->add_output(output);
  return node;
}

onnx::ModelProto NewModel() {
  onnx::ModelProto model;
  model.set_ir_version(8);
  model.set_producer_name("qatlab fuzz seeds");
  onnx::OperatorSetIdProto* opset = model.add_opset_import();
  opset->set_domain("");
  opset->set_version(13);
  return model;
}

void OnnxSeeds(const std::filesystem::path& dir) {
  {
    onnx::ModelProto model = NewModel();
    onnx::GraphProto* graph = model.mutable_graph();
    graph->set_name("mlp");
    SetValueInfo(graph->add_input(), "x", {1, 1, 4, 4});
    *graph->add_initializer() = FloatTensor("w1", {16, 8});
    *graph->add_initializer() = FloatTensor("b1", {8});
    *graph->add_initializer() = FloatTensor("w2", {8, 3});
    *graph->add_initializer() = FloatTensor("b2", {3});
    AddNode(graph, "Flatten", {"x"}, "flat");
    AddNode(graph, "Gemm", {"flat", "w1", "b1"}, "h");
    AddNode(graph, "Relu", {"h"}, "hr");
    AddNode(graph, "Gemm", {"hr", "w2", "b2"}, "y");
    SetValueInfo(graph->add_output(), "y", {1, 3});
    Write(dir / "mlp.onnx", model.SerializeAsString());
  }
  {
    onnx::ModelProto model = NewModel();
    onnx::GraphProto* graph = model.mutable_graph();
    graph->set_name("cnn");
    SetValueInfo(graph->add_input(), "x", {1, 1, 6, 6});
    *graph->add_initializer() = FloatTensor("k", {2, 1, 3, 3});
    *graph->add_initializer() = FloatTensor("kb", {2});
    *graph->add_initializer() = FloatTensor("w", {8, 3});
    *graph->add_initializer() = FloatTensor("b", {3});
    onnx::NodeProto* conv = AddNode(graph, "Conv", {"x", "k", "kb"}, "c");
    onnx::AttributeProto* kernel = conv->add_attribute();
    kernel->set_name("kernel_shape");
    kernel->set_type(onnx::AttributeProto::INTS);
    kernel->add_ints(3);
    kernel->add_ints(3);
    AddNode(graph, "Relu", {"c"}, "cr");
    onnx::NodeProto* pool = AddNode(graph, "MaxPool", {"cr"}, "p");
    onnx::AttributeProto* pool_kernel = pool->add_attribute();
    pool_kernel->set_name("kernel_shape");
    pool_kernel->set_type(onnx::AttributeProto::INTS);
    pool_kernel->add_ints(2);
    pool_kernel->add_ints(2);
    onnx::AttributeProto* strides = pool->add_attribute();
    strides->set_name("strides");
    strides->set_type(onnx::AttributeProto::INTS);
    strides->add_ints(2);
    strides->add_ints(2);
    AddNode(graph, "Flatten", {"p"}, "flat");
    AddNode(graph, "Gemm", {"flat", "w", "b"}, "y");
    SetValueInfo(graph->add_output(), "y", {1, 3});
    Write(dir / "cnn.onnx", model.SerializeAsString());
  }
}

}  // namespace
}  // namespace qatlab

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s <corpus dir>\n", argv[0]);
    return 2;
  }
  const std::filesystem::path root = argv[1];
  qatlab::QModelSeeds(root / "qmodel");
  qatlab::DutSeeds(root / "dut_reply");
  qatlab::DatasetSeeds(root / "dataset");
  qatlab::OnnxSeeds(root / "onnx");
  return 0;
}
