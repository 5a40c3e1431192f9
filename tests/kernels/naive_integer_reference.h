// An independent, deliberately plain implementation of docs/quant-spec.md's
// integer arithmetic for the kernel tests: 128-bit intermediates instead of
// the nudge tricks, explicitly padded inputs instead of skipped taps, and
// unpacked weights. The kernels must agree with it bit for bit.
#pragma once

#include <algorithm>
#include <cstdint>
#include <random>
#include <vector>

#include "engine/integer_model.h"

namespace qatlab::naive {

// x * M0 / 2^(31 - shift) with 128-bit arithmetic, rounded to nearest with
// halves away from zero (from the magnitude), saturated to int32.
inline int32_t Requantize(int32_t x, int32_t multiplier, int32_t shift) {
  const __int128 product = static_cast<__int128>(x) * multiplier;
  const __int128 magnitude = product < 0 ? -product : product;
  const int e = 31 - shift;
  __int128 quotient = magnitude >> e;
  if (2 * (magnitude - (quotient << e)) >= (static_cast<__int128>(1) << e)) ++quotient;
  const __int128 value = product < 0 ? -quotient : quotient;
  return static_cast<int32_t>(std::clamp<__int128>(value, INT32_MIN, INT32_MAX));
}

inline int8_t Output(int64_t accumulator, int32_t multiplier, int32_t shift, int32_t zero_point, int32_t low,
                     int32_t high) {
  const auto wrapped = static_cast<int32_t>(static_cast<uint32_t>(accumulator));
  return static_cast<int8_t>(std::clamp(Requantize(wrapped, multiplier, shift) + zero_point, low, high));
}

// A tensor of int8 values with its shape, NHWC.
struct Activations {
  int height = 1, width = 1, channels = 1;
  std::vector<int8_t> values;
  int8_t at(int y, int x, int c) const { return values[(static_cast<size_t>(y) * width + x) * channels + c]; }
};

// The input surrounded by `padding` positions holding the zero point.
inline Activations Padded(const Activations& in, int padding, int32_t zero_point) {
  Activations out{in.height + 2 * padding, in.width + 2 * padding, in.channels, {}};
  out.values.assign(static_cast<size_t>(out.height) * out.width * out.channels, static_cast<int8_t>(zero_point));
  for (int y = 0; y < in.height; ++y)
    for (int x = 0; x < in.width; ++x)
      for (int c = 0; c < in.channels; ++c)
        out.values[((static_cast<size_t>(y) + padding) * out.width + x + padding) * out.channels + c] = in.at(y, x, c);
  return out;
}

inline std::vector<int8_t> Dense(const IntegerOp& op, const std::vector<int8_t>& in, int32_t z_in, int32_t z_out,
                                 int outputs) {
  std::vector<int8_t> out(outputs);
  const size_t n = in.size();
  for (int o = 0; o < outputs; ++o) {
    int64_t acc = op.bias[o];
    for (size_t i = 0; i < n; ++i) acc += (in[i] - z_in) * op.weights[o * n + i];
    out[o] = Output(acc, op.multiplier[o], op.shift[o], z_out, op.act_min, op.act_max);
  }
  return out;
}

// Conv2d (depthwise = false: weights [oc][ky][kx][ic]) or depthwise
// (weights [ky][kx][c]) over the explicitly padded input.
inline Activations Convolution(const IntegerOp& op, const Activations& input, int32_t z_in, int32_t z_out,
                               int out_channels, bool depthwise) {
  const Activations in = Padded(input, op.padding, z_in);
  Activations out{
      (in.height - op.kernel_h) / op.stride + 1, (in.width - op.kernel_w) / op.stride + 1, out_channels, {}};
  for (int oy = 0; oy < out.height; ++oy)
    for (int ox = 0; ox < out.width; ++ox)
      for (int oc = 0; oc < out_channels; ++oc) {
        int64_t acc = op.bias[oc];
        for (int ky = 0; ky < op.kernel_h; ++ky)
          for (int kx = 0; kx < op.kernel_w; ++kx) {
            const int y = oy * op.stride + ky, x = ox * op.stride + kx;
            if (depthwise) {
              acc += (in.at(y, x, oc) - z_in) *
                     op.weights[(static_cast<size_t>(ky) * op.kernel_w + kx) * in.channels + oc];
            } else {
              for (int ic = 0; ic < in.channels; ++ic)
                acc += (in.at(y, x, ic) - z_in) *
                       op.weights[((static_cast<size_t>(oc) * op.kernel_h + ky) * op.kernel_w + kx) * in.channels + ic];
            }
          }
        out.values.push_back(Output(acc, op.multiplier[oc], op.shift[oc], z_out, op.act_min, op.act_max));
      }
  return out;
}

// Max or average pooling; padded positions are not part of the window.
inline Activations Pool(const IntegerOp& op, const Activations& in, bool average) {
  Activations out{(in.height + 2 * op.padding - op.kernel_h) / op.stride + 1,
                  (in.width + 2 * op.padding - op.kernel_w) / op.stride + 1,
                  in.channels,
                  {}};
  for (int oy = 0; oy < out.height; ++oy)
    for (int ox = 0; ox < out.width; ++ox)
      for (int c = 0; c < in.channels; ++c) {
        std::vector<int> window;
        for (int ky = 0; ky < op.kernel_h; ++ky)
          for (int kx = 0; kx < op.kernel_w; ++kx) {
            const int y = oy * op.stride - op.padding + ky, x = ox * op.stride - op.padding + kx;
            if (y >= 0 && y < in.height && x >= 0 && x < in.width) window.push_back(in.at(y, x, c));
          }
        int value;
        if (average) {
          int sum = 0;
          for (int v : window) sum += v;
          const int n = static_cast<int>(window.size());
          // Round half away from zero via the magnitude.
          const int magnitude = (std::abs(sum) * 2 + n) / (2 * n);
          value = sum < 0 ? -magnitude : magnitude;
        } else {
          value = *std::max_element(window.begin(), window.end());
        }
        out.values.push_back(static_cast<int8_t>(std::clamp(value, op.act_min, op.act_max)));
      }
  return out;
}

inline Activations GlobalAveragePool(const IntegerOp& op, const Activations& in) {
  IntegerOp whole = op;
  whole.kernel_h = in.height;
  whole.kernel_w = in.width;
  whole.stride = 1;
  whole.padding = 0;
  return Pool(whole, in, true);
}

inline std::vector<int8_t> Add(const IntegerOp& op, const std::vector<int8_t>& a, int32_t z_a,
                               const std::vector<int8_t>& b, int32_t z_b, int32_t z_out, int left_shift) {
  std::vector<int8_t> out(a.size());
  for (size_t i = 0; i < a.size(); ++i) {
    const int32_t scaled_a = Requantize((a[i] - z_a) * (1 << left_shift), op.multiplier[0], op.shift[0]);
    const int32_t scaled_b = Requantize((b[i] - z_b) * (1 << left_shift), op.multiplier[1], op.shift[1]);
    const int32_t sum = static_cast<int32_t>(std::clamp<int64_t>(int64_t{scaled_a} + scaled_b, INT32_MIN, INT32_MAX));
    out[i] =
        static_cast<int8_t>(std::clamp(Requantize(sum, op.multiplier[2], op.shift[2]) + z_out, op.act_min, op.act_max));
  }
  return out;
}

// Runs a whole IntegerModel with the functions above.
inline std::vector<int8_t> Evaluate(const IntegerModel& model, const std::vector<int8_t>& input) {
  std::vector<Activations> values(model.tensors.size());
  auto shaped = [&](int t) {
    const IntegerTensor& s = model.tensors[t];
    return Activations{s.height, s.width, s.channels, {}};
  };
  values[model.input_tensor] = shaped(model.input_tensor);
  values[model.input_tensor].values = input;
  for (const IntegerOp& op : model.ops) {
    const IntegerTensor& in = model.tensors[op.input];
    const IntegerTensor& out = model.tensors[op.output];
    Activations result = shaped(op.output);
    switch (op.kind) {
      case IntegerOpKind::kDense:
        result.values =
            Dense(op, values[op.input].values, in.zero_point, out.zero_point, out.height * out.width * out.channels);
        break;
      case IntegerOpKind::kConv2D:
      case IntegerOpKind::kDepthwiseConv2D:
        result.values = Convolution(op, values[op.input], in.zero_point, out.zero_point, out.channels,
                                    op.kind == IntegerOpKind::kDepthwiseConv2D)
                            .values;
        break;
      case IntegerOpKind::kMaxPool:
      case IntegerOpKind::kAvgPool:
        result.values = Pool(op, values[op.input], op.kind == IntegerOpKind::kAvgPool).values;
        break;
      case IntegerOpKind::kGlobalAvgPool: result.values = GlobalAveragePool(op, values[op.input]).values; break;
      case IntegerOpKind::kAdd:
        result.values = Add(op, values[op.input].values, in.zero_point, values[op.input2].values,
                            model.tensors[op.input2].zero_point, out.zero_point, 20);
        break;
    }
    values[op.output] = std::move(result);
  }
  return values[model.output_tensor].values;
}

// Packs rows of weights bit by bit: a `container`-bit two's complement field
// per value, the first value of a row at the row's lowest bit, rows starting
// on whole bytes (container 2 for 2 bits, 4 for 3..4, 8 for 5..8).
inline std::vector<uint8_t> PackRows(const std::vector<int8_t>& weights, size_t rows, size_t row_length, int bits) {
  const int container = bits == 2 ? 2 : (bits <= 4 ? 4 : 8);
  const size_t row_bytes = (row_length * container + 7) / 8;
  std::vector<uint8_t> packed(rows * row_bytes, 0);
  for (size_t r = 0; r < rows; ++r)
    for (size_t k = 0; k < row_length; ++k) {
      const unsigned field = static_cast<unsigned>(weights[r * row_length + k]) & ((1u << container) - 1);
      for (int bit = 0; bit < container; ++bit) {
        const size_t position = r * row_bytes * 8 + k * container + bit;
        if (field & (1u << bit)) packed[position / 8] |= static_cast<uint8_t>(1u << (position % 8));
      }
    }
  return packed;
}

// Seeded test-vector generation.
class VectorGenerator {
 public:
  explicit VectorGenerator(uint32_t seed) : engine_(seed) {}
  int Int(int low, int high) { return std::uniform_int_distribution<int>(low, high)(engine_); }
  std::vector<int8_t> Int8s(size_t n, int low = -128, int high = 127) {
    std::vector<int8_t> v(n);
    for (auto& x : v) x = static_cast<int8_t>(Int(low, high));
    return v;
  }
  std::vector<int32_t> Int32s(size_t n, int32_t low, int32_t high) {
    std::vector<int32_t> v(n);
    for (auto& x : v) x = std::uniform_int_distribution<int32_t>(low, high)(engine_);
    return v;
  }
  // Weights in the narrow range of `bits`.
  std::vector<int8_t> Weights(size_t n, int bits) {
    const int limit = (1 << (bits - 1)) - 1;
    return Int8s(n, -limit, limit);
  }
  // A requantization that keeps typical accumulators in range: M0 in
  // [2^30, 2^31), shift mostly in -14..-4, sometimes positive.
  void Quantization(IntegerOp& op, size_t channels) {
    op.multiplier = Int32s(channels, 1 << 30, INT32_MAX);
    op.shift.resize(channels);
    for (auto& s : op.shift) s = Int(0, 9) == 0 ? Int(-31, 2) : Int(-14, -4);
  }
  std::mt19937& engine() { return engine_; }

 private:
  std::mt19937 engine_;
};

}  // namespace qatlab::naive
