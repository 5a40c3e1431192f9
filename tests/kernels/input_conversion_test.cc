// The kernels' input conversion (qatlab_kernels/input_conversion.h) against
// the formulas it replaced in the engine, written here with the C++ library
// (std::nearbyint in double; round half away in float): the same int8 for
// every pixel value and for float features around every rounding tie, so no
// stored accuracy moved when the engine switched to the C code.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "qatlab_kernels/input_conversion.h"
#include "tests/kernels/naive_integer_reference.h"

namespace qatlab {
namespace {

int8_t ReferenceFromPixel(uint8_t pixel, float scale, int32_t zero_point) {
  if (scale == 1.0f / 255.0f && zero_point == -128) return static_cast<int8_t>(pixel - 128);
  const double q = std::nearbyint(static_cast<double>(pixel) / 255.0 / static_cast<double>(scale)) + zero_point;
  return static_cast<int8_t>(std::fmin(127.0, std::fmax(-128.0, q)));
}

int8_t ReferenceFromFloat(float value, float scale, int32_t zero_point) {
  const float v = value / scale;
  const float rounded = static_cast<float>(static_cast<int>(v + (v >= 0.0f ? 0.5f : -0.5f)));
  return static_cast<int8_t>(std::clamp(rounded + static_cast<float>(zero_point), -128.0f, 127.0f));
}

TEST(InputConversion, PixelsMatchTheEngineFormulaForEveryValue) {
  std::vector<uint8_t> pixels(256);
  for (int p = 0; p < 256; ++p) pixels[p] = static_cast<uint8_t>(p);
  naive::VectorGenerator generator(9101);
  std::vector<float> scales = {1.0f / 255.0f, 2.0f / 255.0f, 1.0f / 510.0f, 0.5f, 1e-6f, 1.0f};
  for (int i = 0; i < 50; ++i) scales.push_back(static_cast<float>(generator.Int(1, 100000)) / 1e6f);
  for (float scale : scales) {
    for (int32_t zero_point : {-128, -7, 0, 42, 127}) {
      std::vector<int8_t> out(256);
      qk_input_from_u8(pixels.data(), 256, scale, zero_point, out.data());
      for (int p = 0; p < 256; ++p) {
        ASSERT_EQ(out[p], ReferenceFromPixel(static_cast<uint8_t>(p), scale, zero_point))
            << "pixel " << p << " scale " << scale << " zero point " << zero_point;
      }
    }
  }
}

TEST(InputConversion, FloatsMatchTheEngineFormulaAroundEveryTie) {
  naive::VectorGenerator generator(9102);
  for (int trial = 0; trial < 40; ++trial) {
    const float scale = static_cast<float>(generator.Int(1, 100000)) / 1e6f;
    const int32_t zero_point = generator.Int(-128, 127);
    std::vector<float> values;
    for (int k = -300; k <= 300; ++k) {
      const float tie = (static_cast<float>(k) + 0.5f) * scale;
      values.insert(values.end(),
                    {tie, std::nextafter(tie, -1e9f), std::nextafter(tie, 1e9f), static_cast<float>(k) * scale});
    }
    std::vector<int8_t> out(values.size());
    qk_input_from_f32(values.data(), static_cast<uint32_t>(values.size()), scale, zero_point, out.data());
    for (size_t i = 0; i < values.size(); ++i) {
      ASSERT_EQ(out[i], ReferenceFromFloat(values[i], scale, zero_point))
          << values[i] << " scale " << scale << " zero point " << zero_point;
    }
  }
}

TEST(InputConversion, FloatsOutOfRangeSaturateAndNanIsTheZeroPoint) {
  const float values[] = {1e30f, -1e30f, std::numeric_limits<float>::infinity(),
                          -std::numeric_limits<float>::infinity(), std::numeric_limits<float>::quiet_NaN()};
  int8_t out[5];
  qk_input_from_f32(values, 5, 1.0f / 255.0f, -5, out);
  EXPECT_EQ(out[0], 127);
  EXPECT_EQ(out[1], -128);
  EXPECT_EQ(out[2], 127);
  EXPECT_EQ(out[3], -128);
  EXPECT_EQ(out[4], -5);
}

TEST(InputConversion, TheModelsScaleIsItsHeaderBits) {
  qk_model model;
  std::memset(&model, 0, sizeof model);
  const float scale = 0.0123f;
  std::memcpy(&model.input_scale_bits, &scale, sizeof scale);
  model.input_zero_point = 3;
  model.input_bytes = 2;
  EXPECT_EQ(qk_model_input_scale(&model), scale);
  const uint8_t pixels[2] = {0, 255};
  int8_t from_model[2], direct[2];
  qk_model_input_from_u8(&model, pixels, from_model);
  qk_input_from_u8(pixels, 2, scale, 3, direct);
  EXPECT_EQ(std::memcmp(from_model, direct, 2), 0);
}

}  // namespace
}  // namespace qatlab
