#include "engine/integer_runner.h"

#include <algorithm>
#include <bit>
#include <limits>
#include <string>

#include "qatlab_kernels/input_conversion.h"

namespace qatlab {
namespace {

Status FromKernelStatus(qk_status status, const std::string& what) {
  const std::string message = what + ": " + qk_status_name(status);
  switch (status) {
    case QK_OK: return Status::Ok();
    case QK_ERR_TRUNCATED:
    case QK_ERR_MAGIC:
    case QK_ERR_CRC:
    case QK_ERR_MALFORMED: return Status::Corruption(message);
    case QK_ERR_VERSION:
    case QK_ERR_UNSUPPORTED: return Status::FailedPrecondition(message);
    case QK_ERR_ARENA_TOO_SMALL: return Status::ResourceExhausted(message);
    case QK_ERR_ARGUMENT: return Status::InvalidArgument(message);
  }
  return Status::Internal(message);
}

struct HookContext {
  const std::function<void(uint32_t, uint32_t)>* after_op;
};

void CallHook(void* context, uint32_t index, uint32_t kind) {
  (*static_cast<HookContext*>(context)->after_op)(index, kind);
}

}  // namespace

void QuantizeImage(const uint8_t* pixels, size_t count, float scale, int32_t zero_point, int8_t* out) {
  // The kernels' conversion, the one a firmware calls (input_conversion.h).
  constexpr size_t kChunk = std::numeric_limits<uint32_t>::max();
  for (size_t done = 0; done < count; done += kChunk) {
    qk_input_from_u8(pixels + done, static_cast<uint32_t>(std::min(kChunk, count - done)), scale, zero_point,
                     out + done);
  }
}

StatusOr<IntegerRunner> IntegerRunner::Open(std::vector<uint8_t> qmodel_bytes) {
  if (qmodel_bytes.size() > std::numeric_limits<uint32_t>::max()) {
    return Status::InvalidArgument(".qmodel larger than 4 GiB");
  }
  IntegerRunner runner;
  runner.bytes_ = std::move(qmodel_bytes);
  // operator new aligns a vector's buffer to at least 8 bytes, as
  // qk_model_open requires 4; an empty vector is simply too short.
  const qk_status status =
      qk_model_open(&runner.model_, runner.bytes_.data(), static_cast<uint32_t>(runner.bytes_.size()));
  if (status != QK_OK) return FromKernelStatus(status, "opening .qmodel");
  runner.arena_ = std::make_unique<uint32_t[]>((runner.model_.arena_bytes + 3) / 4);
  runner.arena_mutex_ = std::make_unique<std::mutex>();
  return runner;
}

Status IntegerRunner::Run(const int8_t* input, int8_t* logits) const {
  std::lock_guard<std::mutex> lock(*arena_mutex_);
  const qk_status status = qk_model_invoke(&model_, input, logits, reinterpret_cast<uint8_t*>(arena_.get()),
                                           model_.arena_bytes, nullptr, nullptr);
  return FromKernelStatus(status, "running .qmodel");
}

Status IntegerRunner::RunWithOpHook(const int8_t* input, int8_t* logits,
                                    const std::function<void(uint32_t, uint32_t)>& after_op) const {
  std::lock_guard<std::mutex> lock(*arena_mutex_);
  HookContext context{&after_op};
  const qk_status status = qk_model_invoke(&model_, input, logits, reinterpret_cast<uint8_t*>(arena_.get()),
                                           model_.arena_bytes, after_op ? CallHook : nullptr, &context);
  return FromKernelStatus(status, "running .qmodel");
}

float IntegerRunner::input_scale() const { return std::bit_cast<float>(model_.input_scale_bits); }

void IntegerRunner::QuantizeImage(const uint8_t* pixels, int8_t* input) const {
  qatlab::QuantizeImage(pixels, static_cast<size_t>(model_.input_bytes), input_scale(), model_.input_zero_point, input);
}

StatusOr<int> IntegerRunner::Classify(const uint8_t* pixels) const {
  std::vector<int8_t> input(static_cast<size_t>(model_.input_bytes));
  std::vector<int8_t> logits(static_cast<size_t>(model_.output_bytes));
  QuantizeImage(pixels, input.data());
  QATLAB_RETURN_IF_ERROR(Run(input.data(), logits.data()));
  return static_cast<int>(qk_argmax_s8(logits.data(), model_.output_bytes));
}

}  // namespace qatlab
