// Runs a .qmodel on the host through the same C interpreter and kernels the
// firmware uses (kernels/include/qatlab_kernels/qmodel.h), so host results
// are the bit-exact reference for on-device outputs.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <vector>

#include "qatlab_kernels/qmodel.h"
#include "status/status.h"

namespace qatlab {

// Quantizes an 8-bit image to int8 model input, taking the real pixel value
// as pixel / 255: q = clamp(round_half_even(pixel / 255 / scale) + zero_point).
// For scale 1/255 and zero point -128 this is exactly pixel - 128. The
// kernels' qk_input_from_u8 (qatlab_kernels/input_conversion.h), which a
// firmware calls too. REQUIRES: scale > 0, zero_point in -128..127; `out` holds `count` values.
void QuantizeImage(const uint8_t* pixels, size_t count, float scale, int32_t zero_point, int8_t* out);

class IntegerRunner {
 public:
  // Takes the .qmodel bytes, opens and fully validates them (qk_model_open)
  // and allocates an aligned arena of the planned size. Errors: corruption
  // (truncated, bad magic, CRC mismatch, malformed), failed precondition
  // (unknown version, unsupported op or bit width).
  static StatusOr<IntegerRunner> Open(std::vector<uint8_t> qmodel_bytes);

  IntegerRunner(IntegerRunner&&) noexcept = default;
  IntegerRunner& operator=(IntegerRunner&&) noexcept = default;
  IntegerRunner(const IntegerRunner&) = delete;
  IntegerRunner& operator=(const IntegerRunner&) = delete;

  // Runs one inference. REQUIRES: input holds input_bytes() values and
  // logits has room for output_bytes(). Thread-safe: concurrent calls take
  // turns on the one arena.
  Status Run(const int8_t* input, int8_t* logits) const;

  // As Run, calling `after_op(index, kind)` after each op (kind as in
  // qk_op_kind_name).
  Status RunWithOpHook(const int8_t* input, int8_t* logits,
                       const std::function<void(uint32_t index, uint32_t kind)>& after_op) const;

  // QuantizeImage with this model's input scale and zero point.
  // REQUIRES: pixels holds input_bytes() values; input as in Run.
  void QuantizeImage(const uint8_t* pixels, int8_t* input) const;

  // Quantizes, runs and returns the index of the largest logit.
  StatusOr<int> Classify(const uint8_t* pixels) const;

  int64_t arena_bytes() const { return model_.arena_bytes; }
  int64_t flash_bytes() const { return model_.size; }
  int64_t input_bytes() const { return model_.input_bytes; }
  int64_t output_bytes() const { return model_.output_bytes; }
  int input_height() const { return static_cast<int>(model_.input_height); }
  int input_width() const { return static_cast<int>(model_.input_width); }
  int input_channels() const { return static_cast<int>(model_.input_channels); }
  float input_scale() const;
  int32_t input_zero_point() const { return model_.input_zero_point; }
  int op_count() const { return static_cast<int>(model_.op_count); }
  // The opened model, e.g. for qk_model_op_info.
  const qk_model& model() const { return model_; }
  const std::vector<uint8_t>& bytes() const { return bytes_; }

 private:
  IntegerRunner() = default;

  // Constant after Open. model_.base points into bytes_, whose heap buffer
  // keeps its address when the runner is moved.
  std::vector<uint8_t> bytes_;
  qk_model model_{};
  // The activation arena, 4-byte aligned; guarded by *arena_mutex_.
  std::unique_ptr<uint32_t[]> arena_;
  std::unique_ptr<std::mutex> arena_mutex_;
};

}  // namespace qatlab
