// Packed weights: round trips for every width and the byte layout the
// format promises (first element in the low bits, rows on whole bytes).
#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

#include "qatlab_kernels/kernels.h"
#include "tests/kernels/naive_integer_reference.h"

namespace qatlab {
namespace {

class PackingTest : public ::testing::TestWithParam<int> {};

TEST_P(PackingTest, PackThenUnpackGivesTheValuesBack) {
  const int bits = GetParam();
  naive::VectorGenerator generator(2000 + bits);
  for (int trial = 0; trial < 50; ++trial) {
    const size_t rows = generator.Int(1, 6);
    const size_t row_length = generator.Int(1, 37);
    const std::vector<int8_t> weights = generator.Weights(rows * row_length, bits);
    const int container = qk_weight_container_bits(bits);
    const uint32_t row_bytes = qk_packed_row_bytes(static_cast<uint32_t>(row_length), bits);
    ASSERT_EQ(row_bytes, (row_length * container + 7) / 8);

    std::vector<uint8_t> packed(rows * row_bytes, 0);
    for (size_t r = 0; r < rows; ++r)
      for (size_t k = 0; k < row_length; ++k)
        qk_pack_weight(packed.data() + r * row_bytes, static_cast<uint32_t>(k), container, weights[r * row_length + k]);

    // The kernels' packer and the bit-by-bit one in the test agree on every byte.
    ASSERT_EQ(packed, naive::PackRows(weights, rows, row_length, bits));
    for (size_t r = 0; r < rows; ++r)
      for (size_t k = 0; k < row_length; ++k)
        ASSERT_EQ(qk_unpack_weight(packed.data() + r * row_bytes, static_cast<uint32_t>(k), container),
                  weights[r * row_length + k]);
  }
}

TEST_P(PackingTest, RepackingOneElementLeavesItsNeighboursAlone) {
  const int bits = GetParam();
  naive::VectorGenerator generator(2100 + bits);
  const int container = qk_weight_container_bits(bits);
  std::vector<int8_t> weights = generator.Weights(16, bits);
  std::vector<uint8_t> packed = naive::PackRows(weights, 1, weights.size(), bits);
  for (uint32_t k = 0; k < weights.size(); ++k) {
    weights[k] = generator.Weights(1, bits)[0];
    qk_pack_weight(packed.data(), k, container, weights[k]);
    ASSERT_EQ(packed, naive::PackRows(weights, 1, weights.size(), bits)) << "after element " << k;
  }
}

INSTANTIATE_TEST_SUITE_P(AllWidths, PackingTest, ::testing::Values(2, 3, 4, 5, 6, 7, 8));

TEST(PackingLayoutTest, FirstElementSitsInTheLowBits) {
  naive::VectorGenerator generator(2200);
  const std::vector<int8_t> int4 = generator.Weights(2, 4);
  const std::vector<uint8_t> packed4 = naive::PackRows(int4, 1, 2, 4);
  EXPECT_EQ(packed4[0], ((int4[0] & 0xF) | ((int4[1] & 0xF) << 4)));
  const std::vector<int8_t> int2 = generator.Weights(4, 2);
  const std::vector<uint8_t> packed2 = naive::PackRows(int2, 1, 4, 2);
  EXPECT_EQ(packed2[0], ((int2[0] & 3) | ((int2[1] & 3) << 2) | ((int2[2] & 3) << 4) | ((int2[3] & 3) << 6)));
  EXPECT_EQ(qk_packed_row_bytes(3, 4), 2u);  // three int4 values: padded to two bytes
  EXPECT_EQ(qk_packed_row_bytes(5, 2), 2u);
  EXPECT_EQ(qk_packed_row_bytes(5, 8), 5u);
}

}  // namespace
}  // namespace qatlab
