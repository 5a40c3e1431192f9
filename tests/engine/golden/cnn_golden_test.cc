// The `cnn` preset against PyTorch: one training step (forward, mean
// softmax cross-entropy, backward) on 8 MNIST-10k images with the weights
// of cnn_golden.bin must give PyTorch's logits, loss and parameter
// gradients. make_cnn_golden.py (beside this file) wrote the file and
// documents its format and layouts.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <iterator>
#include <map>
#include <string>
#include <vector>

#include "engine/layers.h"
#include "engine/network.h"
#include "status/status.h"
#include "tests/engine/preset_network.h"

namespace qatlab {
namespace {

constexpr char kMagic[4] = {'Q', 'L', 'G', 'D'};
constexpr uint32_t kVersion = 1;

struct GoldenArray {
  std::vector<uint32_t> dims;
  std::vector<float> values;
};

// Reads little-endian fields from the file's bytes; each read fails rather
// than run past the end.
class ByteReader {
 public:
  explicit ByteReader(const std::string& bytes) : bytes_(bytes) {}
  bool Read(void* out, size_t size) {
    if (bytes_.size() - offset_ < size) return false;
    std::memcpy(out, bytes_.data() + offset_, size);
    offset_ += size;
    return true;
  }
  bool ReadUint32(uint32_t* value) {
    unsigned char b[4];
    if (!Read(b, 4)) return false;
    *value = b[0] | (b[1] << 8) | (b[2] << 16) | (static_cast<uint32_t>(b[3]) << 24);
    return true;
  }
  bool ReadFloat(float* value) {
    uint32_t bits;
    if (!ReadUint32(&bits)) return false;
    std::memcpy(value, &bits, sizeof bits);
    return true;
  }
  bool at_end() const { return offset_ == bytes_.size(); }

 private:
  const std::string& bytes_;
  size_t offset_ = 0;
};

StatusOr<std::map<std::string, GoldenArray>> ReadGoldenFile(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  if (!file) return Status::NotFound(path + ": cannot open");
  const std::string bytes((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
  ByteReader reader(bytes);
  char magic[4];
  uint32_t version = 0, count = 0;
  if (!reader.Read(magic, 4) || std::memcmp(magic, kMagic, 4) != 0) {
    return Status::Corruption(path + ": not a golden file (magic)");
  }
  if (!reader.ReadUint32(&version) || version != kVersion) {
    return Status::Corruption(path + ": version " + std::to_string(version) + ", expected " + std::to_string(kVersion));
  }
  if (!reader.ReadUint32(&count)) return Status::Corruption(path + ": truncated header");
  std::map<std::string, GoldenArray> arrays;
  for (uint32_t a = 0; a < count; ++a) {
    uint32_t name_size = 0, rank = 0;
    if (!reader.ReadUint32(&name_size) || name_size > 256) return Status::Corruption(path + ": bad name");
    std::string name(name_size, '\0');
    if (!reader.Read(name.data(), name_size) || !reader.ReadUint32(&rank) || rank > 8) {
      return Status::Corruption(path + ": bad array header");
    }
    GoldenArray array;
    size_t elements = 1;
    array.dims.resize(rank);
    for (uint32_t& d : array.dims) {
      if (!reader.ReadUint32(&d)) return Status::Corruption(path + ": " + name + ": truncated dims");
      elements *= d;
    }
    if (elements > (1u << 24)) return Status::Corruption(path + ": " + name + ": too large");
    array.values.resize(elements);
    for (float& v : array.values) {
      if (!reader.ReadFloat(&v)) return Status::Corruption(path + ": " + name + ": truncated values");
    }
    arrays[name] = std::move(array);
  }
  if (!reader.at_end()) return Status::Corruption(path + ": trailing bytes");
  return arrays;
}

// PyTorch and the engine sum in different orders: in float32 each result
// differs from the exact value by a few ulps of the terms it sums. The
// script measures PyTorch's float32 step against a float64 one: at most
// 1.1e-7 on logits of magnitude up to 0.24, and 4e-8 on gradients of up to
// 0.17 (relative to each array's largest value, under 1e-6). Two float32
// computations may each be that far off, so allow a relative 1e-5 and an
// absolute 1e-6: ten times the worst error seen, and still far below what
// any wrong weight, layout or index changes (percents of the values).
constexpr double kRelativeTolerance = 1e-5;
constexpr double kAbsoluteTolerance = 1e-6;

// Every element of `actual` is within tolerance of `golden`; reports the
// worst element and how many failed.
void ExpectClose(const std::string& what, const float* actual, size_t size, const GoldenArray& golden) {
  ASSERT_EQ(size, golden.values.size()) << what << ": size";
  size_t failures = 0, worst = 0;
  double worst_excess = -1;
  for (size_t i = 0; i < size; ++i) {
    const double expected = golden.values[i];
    const double allowed = kAbsoluteTolerance + kRelativeTolerance * std::fabs(expected);
    const double excess = std::fabs(actual[i] - expected) - allowed;
    if (excess > 0) ++failures;
    if (excess > worst_excess) {
      worst_excess = excess;
      worst = i;
    }
  }
  EXPECT_EQ(failures, 0u) << what << ": " << failures << " of " << size << " elements differ; worst at " << worst
                          << ": ours " << actual[worst] << ", PyTorch " << golden.values[worst];
}

TEST(CnnGoldenTest, TrainingStepMatchesPyTorch) {
  auto golden = ReadGoldenFile(std::string(QATLAB_GOLDEN_DIR) + "/cnn_golden.bin");
  ASSERT_TRUE(golden.ok()) << golden.status().ToString();
  auto array = [&](const std::string& name) -> const GoldenArray& {
    static const GoldenArray kMissing;
    auto it = golden->find(name);
    EXPECT_NE(it, golden->end()) << "golden file has no array " << name;
    return it == golden->end() ? kMissing : it->second;
  };
  const GoldenArray& input = array("input");
  const GoldenArray& labels = array("labels");
  ASSERT_EQ(input.dims, (std::vector<uint32_t>{8, 28, 28, 1}));
  const int batch = static_cast<int>(input.dims[0]);
  ASSERT_EQ(labels.values.size(), static_cast<size_t>(batch));

  // The seed does not matter: every parameter is overwritten.
  auto net = PresetNetwork("cnn", {28, 28, 1}, 7);
  ASSERT_NE(net, nullptr);
  std::vector<ParameterRef> params;
  net->Parameters(&params);
  const std::vector<std::string> names = {"conv1.weight", "conv1.bias",   "conv2.weight",
                                          "conv2.bias",   "dense.weight", "dense.bias"};
  ASSERT_EQ(params.size(), names.size());
  for (size_t p = 0; p < params.size(); ++p) {
    const GoldenArray& value = array(names[p]);
    ASSERT_EQ(params[p].size, value.values.size()) << names[p];
    std::copy(value.values.begin(), value.values.end(), params[p].value);
  }

  std::vector<int32_t> label_values(batch);
  for (int i = 0; i < batch; ++i) label_values[i] = static_cast<int32_t>(labels.values[i]);
  const Tensor& logits = net->Forward(input.values.data(), batch, /*training=*/true);
  ExpectClose("logits", logits.data.data(), logits.data.size(), array("logits"));
  Tensor grad_logits;
  const double loss = SoftmaxCrossEntropy(logits, label_values.data(), &grad_logits);
  const double golden_loss = array("loss").values.at(0);
  EXPECT_NEAR(loss, golden_loss, kAbsoluteTolerance + kRelativeTolerance * std::fabs(golden_loss));

  net->ZeroGradients();
  net->Backward(grad_logits);
  for (size_t p = 0; p < params.size(); ++p) {
    ExpectClose("grad." + names[p], params[p].grad, params[p].size, array("grad." + names[p]));
  }
  // grad.input is in the file too, but Network::Backward does not compute
  // the gradient of the network's input (no caller needs it), so it is not
  // compared here.
}

}  // namespace
}  // namespace qatlab
