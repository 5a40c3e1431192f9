// The .qmodel writer and the C reader/interpreter together: round trips
// against the naive reference, sizes, arena planning, and files that are
// truncated, flipped, or structurally wrong under a valid CRC.
#include "qatlab_kernels/qmodel.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "engine/qmodel_writer.h"
#include "qatlab_kernels/qmodel_format.h"
#include "tests/kernels/naive_integer_reference.h"
#include "tests/kernels/small_models.h"

namespace qatlab {
namespace {

uint32_t ReadU32(const std::vector<uint8_t>& bytes, size_t at) {
  return bytes[at] | (bytes[at + 1] << 8) | (bytes[at + 2] << 16) | (static_cast<uint32_t>(bytes[at + 3]) << 24);
}

void WriteU32(std::vector<uint8_t>& bytes, size_t at, uint32_t value) {
  for (int i = 0; i < 4; ++i) bytes[at + i] = static_cast<uint8_t>(value >> (8 * i));
}

// Recomputes the CRC so that only the structural checks can catch a change.
void Reseal(std::vector<uint8_t>& bytes) {
  const uint32_t total = ReadU32(bytes, QK_HEADER_TOTAL_BYTES);
  WriteU32(bytes, QK_HEADER_CRC32, qk_crc32(0, bytes.data() + QK_CRC_START, total - QK_CRC_START));
}

size_t TensorRecord(const std::vector<uint8_t>& bytes, uint32_t index) {
  return ReadU32(bytes, QK_HEADER_HEADER_BYTES) + index * QK_TENSOR_RECORD_BYTES;
}

size_t OpRecord(const std::vector<uint8_t>& bytes, uint32_t index) {
  return TensorRecord(bytes, ReadU32(bytes, QK_HEADER_TENSOR_COUNT)) + index * QK_OP_RECORD_BYTES;
}

qk_status Open(const std::vector<uint8_t>& bytes, size_t size) {
  qk_model model;
  return qk_model_open(&model, bytes.data(), static_cast<uint32_t>(size));
}

qk_status Open(const std::vector<uint8_t>& bytes) { return Open(bytes, bytes.size()); }

std::vector<uint8_t> WriteOrDie(const IntegerModel& model) {
  StatusOr<std::vector<uint8_t>> bytes = WriteQModel(model);
  EXPECT_TRUE(bytes.ok()) << bytes.status().ToString();
  return bytes.ok() ? *bytes : std::vector<uint8_t>{};
}

struct HookLog {
  std::vector<uint32_t> indices, kinds;
};

void RecordOp(void* context, uint32_t index, uint32_t kind) {
  static_cast<HookLog*>(context)->indices.push_back(index);
  static_cast<HookLog*>(context)->kinds.push_back(kind);
}

TEST(QModelTest, Crc32IsTheZlibCrc) {
  const char* check = "123456789";  // the standard CRC-32 check input
  EXPECT_EQ(qk_crc32(0, reinterpret_cast<const uint8_t*>(check), 9), 0xCBF43926u);
  // Bitwise reflected CRC-32 in the test, over random data, in two chunks.
  naive::VectorGenerator generator(5000);
  const std::vector<int8_t> data = generator.Int8s(1000);
  uint32_t expected = 0xFFFFFFFFu;
  for (int8_t byte : data) {
    expected ^= static_cast<uint8_t>(byte);
    for (int bit = 0; bit < 8; ++bit) expected = (expected >> 1) ^ (0xEDB88320u & (0u - (expected & 1u)));
  }
  expected = ~expected;
  const auto* raw = reinterpret_cast<const uint8_t*>(data.data());
  EXPECT_EQ(qk_crc32(qk_crc32(0, raw, 400), raw + 400, 600), expected);
}

TEST(QModelTest, WriteOpenInvokeMatchesNaiveEvaluation) {
  for (int dense_bits : {8, 5, 3}) {
    naive::VectorGenerator generator(5100 + dense_bits);
    const IntegerModel model = test_models::MixedModel(generator, dense_bits);
    const std::vector<uint8_t> bytes = WriteOrDie(model);
    qk_model opened;
    ASSERT_EQ(qk_model_open(&opened, bytes.data(), static_cast<uint32_t>(bytes.size())), QK_OK);
    EXPECT_EQ(opened.op_count, model.ops.size());
    EXPECT_EQ(opened.input_bytes, 8u * 8u * 3u);
    EXPECT_EQ(opened.output_bytes, 10u);
    EXPECT_EQ(opened.input_zero_point, model.tensors[0].zero_point);

    std::vector<uint32_t> arena((opened.arena_bytes + 3) / 4);
    int distinct_outputs = 0;
    std::vector<int8_t> previous;
    for (int sample = 0; sample < 20; ++sample) {
      const std::vector<int8_t> input = generator.Int8s(opened.input_bytes);
      std::vector<int8_t> logits(10);
      HookLog log;
      ASSERT_EQ(qk_model_invoke(&opened, input.data(), logits.data(), reinterpret_cast<uint8_t*>(arena.data()),
                                opened.arena_bytes, RecordOp, &log),
                QK_OK);
      ASSERT_EQ(logits, naive::Evaluate(model, input)) << "dense bits " << dense_bits << " sample " << sample;
      ASSERT_EQ(log.indices.size(), model.ops.size());
      for (size_t i = 0; i < model.ops.size(); ++i) {
        EXPECT_EQ(log.indices[i], i);
        EXPECT_EQ(log.kinds[i], static_cast<uint32_t>(model.ops[i].kind));
      }
      if (logits != previous) ++distinct_outputs;
      previous = logits;
    }
    // The comparison means something only if the model is not saturated flat.
    EXPECT_GT(distinct_outputs, 10);
  }
}

TEST(QModelTest, ArenaPlanSharesMemoryButNeverBetweenLiveTensors) {
  naive::VectorGenerator generator(5200);
  const IntegerModel model = test_models::MixedModel(generator);
  StatusOr<ArenaPlan> plan = PlanArena(model);
  ASSERT_TRUE(plan.ok()) << plan.status().ToString();
  int64_t all_tensors = 0, largest_step = 0;
  auto bytes = [&](int t) {
    const IntegerTensor& s = model.tensors[t];
    return static_cast<int64_t>(s.height) * s.width * s.channels;
  };
  for (size_t t = 0; t < model.tensors.size(); ++t) all_tensors += bytes(static_cast<int>(t));
  for (const IntegerOp& op : model.ops) {
    const int64_t step = bytes(op.input) + bytes(op.output) + (op.kind == IntegerOpKind::kAdd ? bytes(op.input2) : 0);
    largest_step = std::max(largest_step, step);
  }
  EXPECT_LT(plan->arena_bytes, all_tensors);   // something is shared
  EXPECT_GE(plan->arena_bytes, largest_step);  // cannot beat one op's working set
  for (uint32_t offset : plan->offsets) EXPECT_EQ(offset % 4, 0u);
  // The reader re-checks liveness, so opening the written file proves the
  // plan has no overlap between tensors alive together.
  EXPECT_EQ(Open(WriteOrDie(model)), QK_OK);
}

TEST(QModelTest, MlpFilesFitTheirSizeBudgets) {
  naive::VectorGenerator generator(5300);
  for (int bits : {8, 4}) {
    const IntegerModel model = test_models::Mlp(generator, bits);
    StatusOr<ModelFootprint> footprint = ComputeFootprint(model);
    ASSERT_TRUE(footprint.ok()) << footprint.status().ToString();
    EXPECT_EQ(footprint->parameters, 784 * 128 + 128 + 128 * 64 + 64 + 64 * 10 + 10);
    EXPECT_EQ(footprint->macs, 784 * 128 + 128 * 64 + 64 * 10);
    // A dense chain needs one layer's input and output at a time.
    EXPECT_EQ(footprint->arena_bytes, 784 + 128);
    const int64_t float_bytes = 4 * footprint->parameters;
    if (bits == 8) {
      EXPECT_LE(footprint->flash_bytes * 100, float_bytes * 26) << footprint->flash_bytes;
    } else {
      EXPECT_LE(footprint->flash_bytes * 100, float_bytes * 14) << footprint->flash_bytes;
    }
    StatusOr<ModelFootprint> from_file = ComputeQModelFootprint(WriteOrDie(model));
    ASSERT_TRUE(from_file.ok());
    EXPECT_EQ(from_file->flash_bytes, footprint->flash_bytes);
    std::printf("[ info ] MLP int%d: %lld bytes (%.2f%% of float32), arena %lld bytes\n", bits,
                static_cast<long long>(footprint->flash_bytes), 100.0 * footprint->flash_bytes / float_bytes,
                static_cast<long long>(footprint->arena_bytes));
  }
}

TEST(QModelTest, WriterRejectsInvalidModelsNamingTheProblem) {
  naive::VectorGenerator generator(5400);
  const IntegerModel good = test_models::MixedModel(generator);
  struct Case {
    std::string expected_fragment;
    void (*damage)(IntegerModel&);
  };
  const Case cases[] = {
      {"outside ±7 for 4 bits", [](IntegerModel& m) { m.ops[0].weights[5] = 8; }},
      {"has 5 biases, needs 6", [](IntegerModel& m) { m.ops[0].bias.resize(5); }},
      {"weight_bits 9", [](IntegerModel& m) { m.ops[6].weight_bits = 9; }},
      {"reads a tensor that no earlier op produces", [](IntegerModel& m) { std::swap(m.ops[0], m.ops[1]); }},
      {"num_classes 12", [](IntegerModel& m) { m.num_classes = 12; }},
      {"shift 0 = 31", [](IntegerModel& m) { m.ops[1].shift[0] = 31; }},
      {"pools keep scale and zero point", [](IntegerModel& m) { m.tensors[4].zero_point += 1; }},
      {"does not fit input",
       [](IntegerModel& m) {
         m.ops[0].kernel_h = m.ops[0].kernel_w = 11;
         m.ops[0].padding = 0;
       }},
      {"needs 3 multipliers", [](IntegerModel& m) { m.ops[2].multiplier.pop_back(); }},
  };
  for (const Case& c : cases) {
    IntegerModel bad = good;
    c.damage(bad);
    StatusOr<std::vector<uint8_t>> bytes = WriteQModel(bad);
    ASSERT_FALSE(bytes.ok()) << c.expected_fragment;
    EXPECT_EQ(bytes.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(bytes.status().message().find(c.expected_fragment), std::string::npos) << bytes.status().message();
  }
}

class CorruptionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    naive::VectorGenerator generator(5500);
    bytes_ = WriteOrDie(test_models::MixedModel(generator));
    ASSERT_EQ(Open(bytes_), QK_OK);
  }
  std::vector<uint8_t> bytes_;
};

TEST_F(CorruptionTest, EveryTruncationIsReported) {
  for (size_t size = 0; size < bytes_.size(); ++size) {
    ASSERT_EQ(Open(bytes_, size), QK_ERR_TRUNCATED) << "size " << size;
  }
}

TEST_F(CorruptionTest, AnyFlippedContentByteFailsTheCrc) {
  for (size_t at = QK_CRC_START; at < bytes_.size(); ++at) {
    std::vector<uint8_t> flipped = bytes_;
    flipped[at] ^= 0x10;
    ASSERT_EQ(Open(flipped), QK_ERR_CRC) << "byte " << at;
  }
  std::vector<uint8_t> bad_crc = bytes_;
  bad_crc[QK_HEADER_CRC32] ^= 1;
  EXPECT_EQ(Open(bad_crc), QK_ERR_CRC);
}

TEST_F(CorruptionTest, BadMagicAndVersionAreNamed) {
  std::vector<uint8_t> magic = bytes_;
  magic[0] = 'X';
  EXPECT_EQ(Open(magic), QK_ERR_MAGIC);
  std::vector<uint8_t> version = bytes_;
  WriteU32(version, QK_HEADER_VERSION, QK_FORMAT_VERSION + 1);
  EXPECT_EQ(Open(version), QK_ERR_VERSION);
  std::vector<uint8_t> too_long = bytes_;
  WriteU32(too_long, QK_HEADER_TOTAL_BYTES, static_cast<uint32_t>(bytes_.size()) + 4);
  EXPECT_EQ(Open(too_long), QK_ERR_TRUNCATED);
}

TEST_F(CorruptionTest, StructuralDamageUnderAValidCrcIsMalformed) {
  const uint32_t total = static_cast<uint32_t>(bytes_.size());
  const uint32_t arena = ReadU32(bytes_, QK_HEADER_ARENA_BYTES);
  struct Patch {
    const char* what;
    size_t at;
    uint32_t value;
    qk_status expected;
  };
  const Patch patches[] = {
      {"weights past the end", OpRecord(bytes_, 0) + QK_OP_WEIGHTS_OFFSET, total - 4, QK_ERR_MALFORMED},
      {"weights into the header", OpRecord(bytes_, 0) + QK_OP_WEIGHTS_OFFSET, 8, QK_ERR_MALFORMED},
      {"huge weights offset", OpRecord(bytes_, 0) + QK_OP_WEIGHTS_OFFSET, 0xFFFFFFF0u, QK_ERR_MALFORMED},
      {"misaligned bias", OpRecord(bytes_, 0) + QK_OP_BIAS_OFFSET,
       ReadU32(bytes_, OpRecord(bytes_, 0) + QK_OP_BIAS_OFFSET) + 2, QK_ERR_MALFORMED},
      {"shifts past the end", OpRecord(bytes_, 6) + QK_OP_SHIFT_OFFSET, total - 8, QK_ERR_MALFORMED},
      {"wrong weight size", OpRecord(bytes_, 6) + QK_OP_WEIGHTS_BYTES, 1, QK_ERR_MALFORMED},
      {"tensor beyond the arena", TensorRecord(bytes_, 3) + QK_TENSOR_ARENA_OFFSET, arena, QK_ERR_MALFORMED},
      {"tensor index out of range", OpRecord(bytes_, 3) + QK_OP_INPUT, 8, QK_ERR_MALFORMED},
      {"reads a later op's output", OpRecord(bytes_, 1) + QK_OP_INPUT, 3, QK_ERR_MALFORMED},
      {"input shape disagrees with header", TensorRecord(bytes_, 0) + QK_TENSOR_HEIGHT, 9, QK_ERR_MALFORMED},
      {"zero-sized tensor", TensorRecord(bytes_, 5) + QK_TENSOR_CHANNELS, 0, QK_ERR_MALFORMED},
      {"kernel does not fit", OpRecord(bytes_, 0) + QK_OP_KERNEL_H, 20, QK_ERR_MALFORMED},
      {"shift out of range", ReadU32(bytes_, OpRecord(bytes_, 0) + QK_OP_SHIFT_OFFSET), 45, QK_ERR_MALFORMED},
      {"too many ops", QK_HEADER_OP_COUNT, QK_MAX_OPS + 1, QK_ERR_MALFORMED},
      {"op table past the end", QK_HEADER_TENSOR_COUNT, 60, QK_ERR_MALFORMED},
      {"arena smaller than a tensor", QK_HEADER_ARENA_BYTES, 16, QK_ERR_MALFORMED},
      {"activation below int8", OpRecord(bytes_, 2) + QK_OP_ACT_MAX, static_cast<uint32_t>(-129), QK_ERR_MALFORMED},
      {"unknown op kind", OpRecord(bytes_, 4) + QK_OP_KIND, 42, QK_ERR_UNSUPPORTED},
      {"nine-bit weights", OpRecord(bytes_, 6) + QK_OP_WEIGHT_BITS, 9, QK_ERR_UNSUPPORTED},
      {"one-bit weights", OpRecord(bytes_, 0) + QK_OP_WEIGHT_BITS, 1, QK_ERR_UNSUPPORTED},
  };
  for (const Patch& patch : patches) {
    std::vector<uint8_t> damaged = bytes_;
    WriteU32(damaged, patch.at, patch.value);
    Reseal(damaged);
    EXPECT_EQ(Open(damaged), patch.expected) << patch.what;
  }
}

TEST_F(CorruptionTest, LiveTensorsSharingArenaBytesAreMalformed) {
  // The conv output (tensor 1) is still needed by the add (op 2) when the
  // depthwise output (tensor 2) is written: moving 2 onto 1 must be refused.
  std::vector<uint8_t> damaged = bytes_;
  WriteU32(damaged, TensorRecord(damaged, 2) + QK_TENSOR_ARENA_OFFSET,
           ReadU32(damaged, TensorRecord(damaged, 1) + QK_TENSOR_ARENA_OFFSET));
  Reseal(damaged);
  EXPECT_EQ(Open(damaged), QK_ERR_MALFORMED);
}

TEST_F(CorruptionTest, RandomDamageUnderValidCrcNeverOpensIntoSomethingUnsafe) {
  // Bounded: 3000 mutations of 1..4 words in the header and tables. Whatever
  // opens must also run without error on an arena of its stated size (up to
  // 1 MiB, to stay fast).
  naive::VectorGenerator generator(5600);
  const size_t tables_end = OpRecord(bytes_, ReadU32(bytes_, QK_HEADER_OP_COUNT));
  int opened = 0;
  for (int trial = 0; trial < 3000; ++trial) {
    std::vector<uint8_t> damaged = bytes_;
    for (int k = generator.Int(1, 4); k > 0; --k) {
      const size_t at = QK_CRC_START + 4 * generator.Int(0, static_cast<int>((tables_end - QK_CRC_START) / 4) - 1);
      const uint32_t value = generator.Int(0, 3) == 0 ? static_cast<uint32_t>(generator.Int(0, 1 << 30))
                                                      : ReadU32(damaged, at) + generator.Int(-3, 3);
      WriteU32(damaged, at, value);
    }
    Reseal(damaged);
    qk_model model;
    if (qk_model_open(&model, damaged.data(), static_cast<uint32_t>(damaged.size())) != QK_OK) continue;
    ++opened;
    if (model.arena_bytes > (1u << 20)) continue;  // a damaged arena size can be huge; keep the test fast
    std::vector<uint32_t> arena((model.arena_bytes + 3) / 4 + 1);
    std::vector<int8_t> input(model.input_bytes, 1), output(model.output_bytes);
    ASSERT_EQ(qk_model_invoke(&model, input.data(), output.data(), reinterpret_cast<uint8_t*>(arena.data()),
                              model.arena_bytes, nullptr, nullptr),
              QK_OK)
        << "trial " << trial;
  }
  std::printf("[ info ] %d of 3000 damaged files still opened (and ran)\n", opened);
}

TEST_F(CorruptionTest, ArenaTooSmallAndMisalignedBuffersAreRefused) {
  qk_model model;
  ASSERT_EQ(qk_model_open(&model, bytes_.data(), static_cast<uint32_t>(bytes_.size())), QK_OK);
  std::vector<uint32_t> arena(model.arena_bytes / 4 + 2);
  std::vector<int8_t> input(model.input_bytes), output(model.output_bytes);
  auto* arena_bytes = reinterpret_cast<uint8_t*>(arena.data());
  EXPECT_EQ(qk_model_invoke(&model, input.data(), output.data(), arena_bytes, model.arena_bytes - 1, nullptr, nullptr),
            QK_ERR_ARENA_TOO_SMALL);
  EXPECT_EQ(qk_model_invoke(&model, input.data(), output.data(), arena_bytes + 1, model.arena_bytes, nullptr, nullptr),
            QK_ERR_ARGUMENT);
  EXPECT_EQ(qk_model_invoke(&model, input.data(), output.data(), arena_bytes, model.arena_bytes, nullptr, nullptr),
            QK_OK);
  // A copy of the file one byte into an aligned buffer is refused, not read.
  std::vector<uint32_t> shifted(bytes_.size() / 4 + 2);
  auto* unaligned = reinterpret_cast<uint8_t*>(shifted.data()) + 1;
  std::memcpy(unaligned, bytes_.data(), bytes_.size());
  EXPECT_EQ(qk_model_open(&model, unaligned, static_cast<uint32_t>(bytes_.size())), QK_ERR_ARGUMENT);
}

TEST(QModelTest, OpInfoDescribesEachLayer) {
  naive::VectorGenerator generator(5700);
  const IntegerModel model = test_models::MixedModel(generator);
  const std::vector<uint8_t> bytes = WriteOrDie(model);
  qk_model opened;
  ASSERT_EQ(qk_model_open(&opened, bytes.data(), static_cast<uint32_t>(bytes.size())), QK_OK);
  qk_op_info conv;
  ASSERT_EQ(qk_model_op_info(&opened, 0, &conv), QK_OK);
  EXPECT_EQ(std::string(qk_op_kind_name(conv.kind)), "conv2d");
  EXPECT_EQ(conv.weight_bits, 4u);
  EXPECT_EQ(conv.macs, 8u * 8u * 6u * 3u * 3u * 3u);
  EXPECT_EQ(conv.parameters, model.ops[0].weights.size() + model.ops[0].bias.size());
  qk_op_info dense;
  ASSERT_EQ(qk_model_op_info(&opened, 6, &dense), QK_OK);
  EXPECT_EQ(dense.macs, 60u);
  qk_op_info none;
  EXPECT_EQ(qk_model_op_info(&opened, 7, &none), QK_ERR_ARGUMENT);
}

}  // namespace
}  // namespace qatlab
