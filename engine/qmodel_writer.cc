#include "engine/qmodel_writer.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <limits>
#include <string>

#include "qatlab_kernels/fixed_point.h"
#include "qatlab_kernels/kernels.h"
#include "qatlab_kernels/qmodel.h"
#include "qatlab_kernels/qmodel_format.h"

namespace qatlab {
namespace {

constexpr int32_t kAddLeftShift = 20;  // fixed by engine/integer_model.h

const char* KindName(IntegerOpKind kind) { return qk_op_kind_name(static_cast<uint32_t>(kind)); }

bool IsWeighted(IntegerOpKind kind) {
  return kind == IntegerOpKind::kDense || kind == IntegerOpKind::kConv2D || kind == IntegerOpKind::kDepthwiseConv2D;
}

bool IsWindowed(IntegerOpKind kind) {
  return kind == IntegerOpKind::kConv2D || kind == IntegerOpKind::kDepthwiseConv2D || kind == IntegerOpKind::kMaxPool ||
         kind == IntegerOpKind::kAvgPool;
}

int64_t Elements(const IntegerTensor& t) { return static_cast<int64_t>(t.height) * t.width * t.channels; }

std::string Shape(const IntegerTensor& t) {
  return std::to_string(t.height) + "x" + std::to_string(t.width) + "x" + std::to_string(t.channels);
}

// The output size of one axis of a window op, or -1 if the window does not fit.
int64_t WindowOutput(int64_t in, int64_t kernel, int64_t stride, int64_t padding) {
  if (in + 2 * padding < kernel) return -1;
  return (in + 2 * padding - kernel) / stride + 1;
}

// Packed rows and their length for a weighted op (see kernels.h).
struct WeightLayout {
  int64_t rows = 0;
  int64_t row_length = 0;
  int64_t channels = 0;  // entries of bias / multiplier / shift
};

WeightLayout LayoutOf(const IntegerOp& op, const IntegerTensor& in, const IntegerTensor& out) {
  switch (op.kind) {
    case IntegerOpKind::kDense: return {Elements(out), Elements(in), Elements(out)};
    case IntegerOpKind::kConv2D:
      return {out.channels, static_cast<int64_t>(op.kernel_h) * op.kernel_w * in.channels, out.channels};
    case IntegerOpKind::kDepthwiseConv2D:
      return {static_cast<int64_t>(op.kernel_h) * op.kernel_w, in.channels, in.channels};
    default: return {};
  }
}

Status ValidateTensors(const IntegerModel& model) {
  if (model.tensors.size() < 2 || model.tensors.size() > QK_MAX_TENSORS) {
    return Status::InvalidArgument("model has " + std::to_string(model.tensors.size()) +
                                   " tensors; a .qmodel holds 2.." + std::to_string(QK_MAX_TENSORS));
  }
  for (size_t t = 0; t < model.tensors.size(); ++t) {
    const IntegerTensor& tensor = model.tensors[t];
    const std::string name = "tensor " + std::to_string(t);
    if (tensor.height < 1 || tensor.width < 1 || tensor.channels < 1 ||
        tensor.height > static_cast<int32_t>(QK_MAX_DIM) || tensor.width > static_cast<int32_t>(QK_MAX_DIM) ||
        tensor.channels > static_cast<int32_t>(QK_MAX_DIM)) {
      return Status::InvalidArgument(name + ": shape " + Shape(tensor) + " needs each side in 1..65535");
    }
    if (Elements(tensor) > std::numeric_limits<int32_t>::max() / 4) {
      return Status::InvalidArgument(name + ": shape " + Shape(tensor) + " is too large for an arena");
    }
    if (tensor.zero_point < -128 || tensor.zero_point > 127) {
      return Status::InvalidArgument(name + ": zero point " + std::to_string(tensor.zero_point) +
                                     " is outside the int8 range");
    }
    if (!std::isfinite(tensor.scale) || tensor.scale <= 0.0f) {
      return Status::InvalidArgument(name + ": scale must be positive and finite");
    }
  }
  const auto tensor_count = static_cast<int32_t>(model.tensors.size());
  if (model.input_tensor < 0 || model.input_tensor >= tensor_count || model.output_tensor < 0 ||
      model.output_tensor >= tensor_count || model.input_tensor == model.output_tensor) {
    return Status::InvalidArgument("input tensor " + std::to_string(model.input_tensor) + " and output tensor " +
                                   std::to_string(model.output_tensor) + " must be two different tensors of " +
                                   std::to_string(tensor_count));
  }
  if (Elements(model.tensors[model.output_tensor]) != model.num_classes) {
    return Status::InvalidArgument("num_classes " + std::to_string(model.num_classes) + " but output tensor is " +
                                   Shape(model.tensors[model.output_tensor]));
  }
  return Status::Ok();
}

Status ValidateQuantization(const IntegerOp& op, int64_t channels, const std::string& where) {
  if (static_cast<int64_t>(op.multiplier.size()) != channels || static_cast<int64_t>(op.shift.size()) != channels) {
    return Status::InvalidArgument(where + ": needs " + std::to_string(channels) + " multipliers and shifts, has " +
                                   std::to_string(op.multiplier.size()) + " and " + std::to_string(op.shift.size()));
  }
  for (int64_t c = 0; c < channels; ++c) {
    if (op.multiplier[c] < 0) {
      return Status::InvalidArgument(where + ": multiplier " + std::to_string(c) + " is negative");
    }
    if (op.shift[c] < QK_MIN_SHIFT || op.shift[c] > QK_MAX_SHIFT) {
      return Status::InvalidArgument(where + ": shift " + std::to_string(c) + " = " + std::to_string(op.shift[c]) +
                                     " is outside -31..30");
    }
  }
  return Status::Ok();
}

Status ValidateOp(const IntegerModel& model, size_t index, const IntegerOp& op) {
  const std::string where = "op " + std::to_string(index) + " (" + KindName(op.kind) + ")";
  const IntegerTensor& in = model.tensors[op.input];
  const IntegerTensor& out = model.tensors[op.output];
  if (op.act_min < -128 || op.act_min > op.act_max || op.act_max > 127) {
    return Status::InvalidArgument(where + ": activation range [" + std::to_string(op.act_min) + ", " +
                                   std::to_string(op.act_max) + "] is not within -128..127");
  }
  if (IsWindowed(op.kind)) {
    if (op.kernel_h < 1 || op.kernel_w < 1 || op.kernel_h > 65535 || op.kernel_w > 65535 || op.stride < 1 ||
        op.stride > 65535 || op.padding < 0 || op.padding >= std::min(op.kernel_h, op.kernel_w)) {
      return Status::InvalidArgument(where + ": kernel " + std::to_string(op.kernel_h) + "x" +
                                     std::to_string(op.kernel_w) + ", stride " + std::to_string(op.stride) +
                                     ", padding " + std::to_string(op.padding) +
                                     " (needs kernel >= 1, stride >= 1, 0 <= padding < kernel)");
    }
    const int64_t out_h = WindowOutput(in.height, op.kernel_h, op.stride, op.padding);
    const int64_t out_w = WindowOutput(in.width, op.kernel_w, op.stride, op.padding);
    if (out_h < 1 || out_w < 1) {
      return Status::InvalidArgument(where + ": kernel " + std::to_string(op.kernel_h) + "x" +
                                     std::to_string(op.kernel_w) + " does not fit input " + Shape(in));
    }
    if (out_h != out.height || out_w != out.width) {
      return Status::InvalidArgument(where + ": output is " + Shape(out) + " but input " + Shape(in) + " gives " +
                                     std::to_string(out_h) + "x" + std::to_string(out_w));
    }
  }
  const bool keeps_channels = op.kind != IntegerOpKind::kDense && op.kind != IntegerOpKind::kConv2D;
  if (keeps_channels && in.channels != out.channels) {
    return Status::InvalidArgument(where + ": input " + Shape(in) + " and output " + Shape(out) +
                                   " must have the same channels");
  }
  if (op.kind == IntegerOpKind::kGlobalAvgPool && (out.height != 1 || out.width != 1)) {
    return Status::InvalidArgument(where + ": output " + Shape(out) + " must be 1x1xC");
  }
  if (op.kind == IntegerOpKind::kMaxPool || op.kind == IntegerOpKind::kAvgPool ||
      op.kind == IntegerOpKind::kGlobalAvgPool) {
    if (in.zero_point != out.zero_point || in.scale != out.scale) {
      return Status::InvalidArgument(where + ": pools keep scale and zero point, but input and output differ");
    }
    if (!op.weights.empty() || !op.bias.empty() || !op.multiplier.empty() || !op.shift.empty()) {
      return Status::InvalidArgument(where + ": pools take no weights, bias, multipliers or shifts");
    }
    return Status::Ok();
  }
  if (op.kind == IntegerOpKind::kAdd) {
    const IntegerTensor& in2 = model.tensors[op.input2];
    if (in.height != in2.height || in.width != in2.width || in.channels != in2.channels || in.height != out.height ||
        in.width != out.width) {
      return Status::InvalidArgument(where + ": inputs " + Shape(in) + " and " + Shape(in2) + " and output " +
                                     Shape(out) + " must have one shape");
    }
    if (!op.weights.empty() || !op.bias.empty()) {
      return Status::InvalidArgument(where + ": add takes no weights or bias");
    }
    return ValidateQuantization(op, 3, where);
  }
  // Weighted ops.
  if (op.weight_bits < 2 || op.weight_bits > 8) {
    return Status::InvalidArgument(where + ": weight_bits " + std::to_string(op.weight_bits) + " is outside 2..8");
  }
  const WeightLayout layout = LayoutOf(op, in, out);
  if (static_cast<int64_t>(op.weights.size()) != layout.rows * layout.row_length) {
    return Status::InvalidArgument(where + ": has " + std::to_string(op.weights.size()) + " weights, shape needs " +
                                   std::to_string(layout.rows) + " x " + std::to_string(layout.row_length));
  }
  if (static_cast<int64_t>(op.bias.size()) != layout.channels) {
    return Status::InvalidArgument(where + ": has " + std::to_string(op.bias.size()) + " biases, needs " +
                                   std::to_string(layout.channels));
  }
  const int32_t limit = (1 << (op.weight_bits - 1)) - 1;
  for (size_t i = 0; i < op.weights.size(); ++i) {
    if (op.weights[i] < -limit || op.weights[i] > limit) {
      return Status::InvalidArgument(where + ": weight " + std::to_string(i) + " = " + std::to_string(op.weights[i]) +
                                     " is outside ±" + std::to_string(limit) + " for " +
                                     std::to_string(op.weight_bits) + " bits");
    }
  }
  return ValidateQuantization(op, layout.channels, where);
}

// Lifetimes in op steps: the input from -1 (copied in before op 0), every
// other tensor from the op producing it to its last reader, the output to
// ops.size() (copied out after the last op).
struct Lifetime {
  int64_t first = 0;
  int64_t last = 0;
};

std::vector<Lifetime> Lifetimes(const IntegerModel& model) {
  std::vector<Lifetime> lifetimes(model.tensors.size());
  lifetimes[model.input_tensor] = {-1, -1};
  for (size_t i = 0; i < model.ops.size(); ++i) {
    const IntegerOp& op = model.ops[i];
    lifetimes[op.output] = {static_cast<int64_t>(i), static_cast<int64_t>(i)};
    lifetimes[op.input].last = static_cast<int64_t>(i);
    if (op.kind == IntegerOpKind::kAdd) lifetimes[op.input2].last = static_cast<int64_t>(i);
  }
  lifetimes[model.output_tensor].last = static_cast<int64_t>(model.ops.size());
  return lifetimes;
}

uint32_t AlignTo4(uint64_t value) { return static_cast<uint32_t>((value + 3) & ~uint64_t{3}); }

// Little-endian appends and patches.
class ByteWriter {
 public:
  size_t size() const { return bytes_.size(); }
  void PutU32(uint32_t value) {
    for (int i = 0; i < 4; ++i) bytes_.push_back(static_cast<uint8_t>(value >> (8 * i)));
  }
  void PutS32(int32_t value) { PutU32(static_cast<uint32_t>(value)); }
  void PatchU32(size_t at, uint32_t value) {
    for (int i = 0; i < 4; ++i) bytes_[at + i] = static_cast<uint8_t>(value >> (8 * i));
  }
  void PadTo4() {
    while (bytes_.size() % 4 != 0) bytes_.push_back(0);
  }
  // Appends `count` zero bytes and returns where they start.
  size_t Reserve(size_t count) {
    const size_t at = bytes_.size();
    bytes_.resize(at + count, 0);
    return at;
  }
  uint8_t* at(size_t offset) { return bytes_.data() + offset; }
  std::vector<uint8_t> Take() { return std::move(bytes_); }

 private:
  std::vector<uint8_t> bytes_;
};

uint32_t ScaleBits(float scale) { return std::bit_cast<uint32_t>(scale); }

// Appends an int32 array (4-byte aligned) and returns its offset.
uint32_t PutInt32Block(ByteWriter& writer, const std::vector<int32_t>& values) {
  writer.PadTo4();
  const auto offset = static_cast<uint32_t>(writer.size());
  for (int32_t value : values) writer.PutS32(value);
  return offset;
}

}  // namespace

Status ValidateIntegerModel(const IntegerModel& model) {
  QATLAB_RETURN_IF_ERROR(ValidateTensors(model));
  if (model.ops.empty() || model.ops.size() > QK_MAX_OPS) {
    return Status::InvalidArgument("model has " + std::to_string(model.ops.size()) + " ops; a .qmodel holds 1.." +
                                   std::to_string(QK_MAX_OPS));
  }
  const auto tensor_count = static_cast<int32_t>(model.tensors.size());
  std::vector<bool> available(model.tensors.size(), false);
  available[model.input_tensor] = true;
  for (size_t i = 0; i < model.ops.size(); ++i) {
    const IntegerOp& op = model.ops[i];
    const std::string where = "op " + std::to_string(i) + " (" + KindName(op.kind) + ")";
    if (static_cast<uint8_t>(op.kind) < QK_OP_DENSE || static_cast<uint8_t>(op.kind) > QK_OP_ADD) {
      return Status::InvalidArgument(where + ": unknown op kind " + std::to_string(static_cast<int>(op.kind)));
    }
    const bool is_add = op.kind == IntegerOpKind::kAdd;
    for (int32_t tensor : {op.input, op.output}) {
      if (tensor < 0 || tensor >= tensor_count) {
        return Status::InvalidArgument(where + ": tensor index " + std::to_string(tensor) + " is out of range");
      }
    }
    if (is_add && (op.input2 < 0 || op.input2 >= tensor_count)) {
      return Status::InvalidArgument(where + ": second input " + std::to_string(op.input2) + " is out of range");
    }
    if (!available[op.input] || (is_add && !available[op.input2])) {
      return Status::InvalidArgument(where + ": reads a tensor that no earlier op produces");
    }
    if (available[op.output]) {
      return Status::InvalidArgument(where + ": output tensor " + std::to_string(op.output) +
                                     " is already the input or another op's output");
    }
    QATLAB_RETURN_IF_ERROR(ValidateOp(model, i, op));
    available[op.output] = true;
  }
  for (size_t t = 0; t < model.tensors.size(); ++t) {
    if (!available[t]) {
      return Status::InvalidArgument("tensor " + std::to_string(t) + " is neither the input nor produced by an op");
    }
  }
  return Status::Ok();
}

StatusOr<ArenaPlan> PlanArena(const IntegerModel& model) {
  QATLAB_RETURN_IF_ERROR(ValidateIntegerModel(model));
  const std::vector<Lifetime> lifetimes = Lifetimes(model);
  std::vector<size_t> order(model.tensors.size());
  for (size_t t = 0; t < order.size(); ++t) order[t] = t;
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return Elements(model.tensors[a]) > Elements(model.tensors[b]); });
  ArenaPlan plan;
  plan.offsets.assign(model.tensors.size(), 0);
  std::vector<size_t> placed;
  uint64_t peak = 0;
  for (size_t t : order) {
    const uint64_t size = static_cast<uint64_t>(Elements(model.tensors[t]));
    std::vector<size_t> conflicts;
    for (size_t other : placed) {
      if (lifetimes[t].first <= lifetimes[other].last && lifetimes[other].first <= lifetimes[t].last) {
        conflicts.push_back(other);
      }
    }
    std::sort(conflicts.begin(), conflicts.end(),
              [&](size_t a, size_t b) { return plan.offsets[a] < plan.offsets[b]; });
    uint64_t candidate = 0;
    for (size_t other : conflicts) {
      if (candidate + size <= plan.offsets[other]) break;  // fits in the gap below `other`
      candidate = std::max<uint64_t>(
          candidate, AlignTo4(plan.offsets[other] + static_cast<uint64_t>(Elements(model.tensors[other]))));
    }
    if (candidate + size > std::numeric_limits<int32_t>::max()) {
      return Status::ResourceExhausted("activation arena would exceed 2 GiB");
    }
    plan.offsets[t] = static_cast<uint32_t>(candidate);
    peak = std::max(peak, candidate + size);
    placed.push_back(t);
  }
  plan.arena_bytes = AlignTo4(peak);
  return plan;
}

StatusOr<std::vector<uint8_t>> WriteQModel(const IntegerModel& model) {
  StatusOr<ArenaPlan> plan = PlanArena(model);
  if (!plan.ok()) return plan.status().WithContext("writing .qmodel for \"" + model.name + "\"");
  const IntegerTensor& input = model.tensors[model.input_tensor];

  ByteWriter writer;
  writer.Reserve(QK_HEADER_BYTES);
  std::memcpy(writer.at(QK_HEADER_MAGIC), "QMDL", 4);
  writer.PatchU32(QK_HEADER_VERSION, QK_FORMAT_VERSION);
  writer.PatchU32(QK_HEADER_HEADER_BYTES, QK_HEADER_BYTES);
  writer.PatchU32(QK_HEADER_OP_COUNT, static_cast<uint32_t>(model.ops.size()));
  writer.PatchU32(QK_HEADER_TENSOR_COUNT, static_cast<uint32_t>(model.tensors.size()));
  writer.PatchU32(QK_HEADER_ARENA_BYTES, plan->arena_bytes);
  writer.PatchU32(QK_HEADER_INPUT_TENSOR, static_cast<uint32_t>(model.input_tensor));
  writer.PatchU32(QK_HEADER_OUTPUT_TENSOR, static_cast<uint32_t>(model.output_tensor));
  writer.PatchU32(QK_HEADER_INPUT_HEIGHT, static_cast<uint32_t>(input.height));
  writer.PatchU32(QK_HEADER_INPUT_WIDTH, static_cast<uint32_t>(input.width));
  writer.PatchU32(QK_HEADER_INPUT_CHANNELS, static_cast<uint32_t>(input.channels));
  writer.PatchU32(QK_HEADER_INPUT_ZERO_POINT, static_cast<uint32_t>(input.zero_point));
  writer.PatchU32(QK_HEADER_INPUT_SCALE_BITS, ScaleBits(input.scale));
  writer.PatchU32(QK_HEADER_OUTPUT_COUNT, static_cast<uint32_t>(Elements(model.tensors[model.output_tensor])));

  for (size_t t = 0; t < model.tensors.size(); ++t) {
    const IntegerTensor& tensor = model.tensors[t];
    writer.PutU32(static_cast<uint32_t>(tensor.height));
    writer.PutU32(static_cast<uint32_t>(tensor.width));
    writer.PutU32(static_cast<uint32_t>(tensor.channels));
    writer.PutS32(tensor.zero_point);
    writer.PutU32(ScaleBits(tensor.scale));
    writer.PutU32(plan->offsets[t]);
  }
  const size_t op_table = writer.Reserve(model.ops.size() * QK_OP_RECORD_BYTES);

  for (size_t i = 0; i < model.ops.size(); ++i) {
    const IntegerOp& op = model.ops[i];
    const size_t record = op_table + i * QK_OP_RECORD_BYTES;
    const bool weighted = IsWeighted(op.kind);
    writer.PatchU32(record + QK_OP_KIND, static_cast<uint32_t>(op.kind));
    writer.PatchU32(record + QK_OP_INPUT, static_cast<uint32_t>(op.input));
    writer.PatchU32(record + QK_OP_INPUT2,
                    op.kind == IntegerOpKind::kAdd ? static_cast<uint32_t>(op.input2) : QK_NO_TENSOR);
    writer.PatchU32(record + QK_OP_OUTPUT, static_cast<uint32_t>(op.output));
    writer.PatchU32(record + QK_OP_KERNEL_H, static_cast<uint32_t>(op.kernel_h));
    writer.PatchU32(record + QK_OP_KERNEL_W, static_cast<uint32_t>(op.kernel_w));
    writer.PatchU32(record + QK_OP_STRIDE, static_cast<uint32_t>(op.stride));
    writer.PatchU32(record + QK_OP_PADDING, static_cast<uint32_t>(op.padding));
    writer.PatchU32(record + QK_OP_WEIGHT_BITS, weighted ? static_cast<uint32_t>(op.weight_bits) : 0u);
    writer.PatchU32(record + QK_OP_ACT_MIN, static_cast<uint32_t>(op.act_min));
    writer.PatchU32(record + QK_OP_ACT_MAX, static_cast<uint32_t>(op.act_max));
    writer.PatchU32(record + QK_OP_ADD_LEFT_SHIFT, op.kind == IntegerOpKind::kAdd ? kAddLeftShift : 0u);
    writer.PatchU32(record + QK_OP_CHANNEL_COUNT, static_cast<uint32_t>(op.multiplier.size()));
    if (weighted) {
      const WeightLayout layout = LayoutOf(op, model.tensors[op.input], model.tensors[op.output]);
      const uint32_t row_bytes = qk_packed_row_bytes(static_cast<uint32_t>(layout.row_length), op.weight_bits);
      const int32_t container = qk_weight_container_bits(op.weight_bits);
      writer.PadTo4();
      const size_t weights = writer.Reserve(static_cast<size_t>(layout.rows) * row_bytes);
      for (int64_t row = 0; row < layout.rows; ++row) {
        uint8_t* packed = writer.at(weights + static_cast<size_t>(row) * row_bytes);
        for (int64_t k = 0; k < layout.row_length; ++k) {
          qk_pack_weight(packed, static_cast<uint32_t>(k), container, op.weights[row * layout.row_length + k]);
        }
      }
      writer.PatchU32(record + QK_OP_WEIGHTS_OFFSET, static_cast<uint32_t>(weights));
      writer.PatchU32(record + QK_OP_WEIGHTS_BYTES, static_cast<uint32_t>(layout.rows * row_bytes));
      writer.PatchU32(record + QK_OP_BIAS_OFFSET, PutInt32Block(writer, op.bias));
    }
    if (!op.multiplier.empty()) {
      writer.PatchU32(record + QK_OP_MULTIPLIER_OFFSET, PutInt32Block(writer, op.multiplier));
      writer.PatchU32(record + QK_OP_SHIFT_OFFSET, PutInt32Block(writer, op.shift));
    }
  }
  writer.PadTo4();
  if (writer.size() > std::numeric_limits<uint32_t>::max()) {
    return Status::ResourceExhausted("model \"" + model.name + "\" does not fit a 4 GiB .qmodel");
  }
  const auto total = static_cast<uint32_t>(writer.size());
  writer.PatchU32(QK_HEADER_TOTAL_BYTES, total);
  writer.PatchU32(QK_HEADER_CRC32, qk_crc32(0, writer.at(QK_CRC_START), total - QK_CRC_START));
  return writer.Take();
}

StatusOr<ModelFootprint> ComputeFootprint(const IntegerModel& model) {
  QATLAB_ASSIGN_OR_RETURN(const std::vector<uint8_t> bytes, WriteQModel(model));
  return ComputeQModelFootprint(bytes);
}

StatusOr<ModelFootprint> ComputeQModelFootprint(const std::vector<uint8_t>& qmodel) {
  // qk_model_open needs 4-byte aligned data; a std::vector's buffer comes from
  // operator new, which aligns to at least that.
  if (qmodel.size() > std::numeric_limits<uint32_t>::max()) {
    return Status::InvalidArgument(".qmodel larger than 4 GiB");
  }
  qk_model model;
  const qk_status status = qk_model_open(&model, qmodel.data(), static_cast<uint32_t>(qmodel.size()));
  if (status != QK_OK) {
    return Status::Corruption(std::string("cannot open .qmodel: ") + qk_status_name(status));
  }
  ModelFootprint footprint;
  footprint.arena_bytes = model.arena_bytes;
  footprint.flash_bytes = model.size;
  for (uint32_t i = 0; i < model.op_count; ++i) {
    qk_op_info info;
    if (qk_model_op_info(&model, i, &info) != QK_OK) {
      return Status::Internal("op " + std::to_string(i) + " of an opened .qmodel cannot be described");
    }
    footprint.parameters += info.parameters;
    footprint.macs += info.macs;
  }
  return footprint;
}

}  // namespace qatlab
