#include "device_agent/measurement.h"

#include <algorithm>

#include "engine/integer_model.h"
#include "qatlab_kernels/qmodel.h"

namespace qatlab {
namespace {

// The host's run of the same kernels the firmware runs: the reference the
// board's logits must match bit for bit.
class HostReference {
 public:
  static StatusOr<HostReference> Open(std::span<const uint8_t> qmodel) {
    HostReference host;
    host.bytes_.assign(qmodel.begin(), qmodel.end());
    qk_status opened = qk_model_open(&host.model_, host.bytes_.data(), static_cast<uint32_t>(host.bytes_.size()));
    if (opened != QK_OK) {
      return Status::InvalidArgument(std::string("the model does not open on the host: ") + qk_status_name(opened));
    }
    host.arena_.resize((host.model_.arena_bytes + 3) / 4 + 1);
    return host;
  }

  HostReference(HostReference&& other) noexcept { *this = std::move(other); }
  HostReference& operator=(HostReference&& other) noexcept {
    bytes_ = std::move(other.bytes_);
    arena_ = std::move(other.arena_);
    model_ = other.model_;
    // qk_model points into the buffer it was opened on; a moved vector keeps
    // its heap block, so only `base` needs to follow.
    model_.base = bytes_.data();
    return *this;
  }

  const qk_model& model() const { return model_; }

  StatusOr<std::vector<int8_t>> Run(const std::vector<int8_t>& input) {
    std::vector<int8_t> logits(model_.output_bytes);
    qk_status status = qk_model_invoke(&model_, input.data(), logits.data(), reinterpret_cast<uint8_t*>(arena_.data()),
                                       static_cast<uint32_t>(arena_.size() * 4), nullptr, nullptr);
    if (status != QK_OK) {
      return Status::Internal(std::string("host reference inference failed: ") + qk_status_name(status));
    }
    return logits;
  }

 private:
  HostReference() = default;

  std::vector<uint8_t> bytes_;
  std::vector<uint32_t> arena_;  // uint32_t: the arena must be 4-byte aligned
  qk_model model_{};
};

double CyclesToMicroseconds(uint64_t cycles, uint32_t clock_hz) {
  return clock_hz == 0 ? 0.0 : static_cast<double>(cycles) * 1e6 / clock_hz;
}

// True when the board has this very model loaded (same size and CRC-32 of
// the .qmodel bytes), as a model in flash is from boot: no upload needed.
bool BoardHoldsModel(const BoardInfo& board, std::span<const uint8_t> qmodel) {
  return board.model_loaded && !board.model_source.empty() &&
         board.model_bytes == static_cast<int64_t>(qmodel.size()) && board.model_crc == Crc32(qmodel);
}

// Refuses what the board cannot hold, with the reason, before any upload.
// A model the board already holds (in flash) needs no room in the upload
// buffer: `on_board`.
Status CheckFits(const BoardInfo& board, const qk_model& model, size_t model_bytes, bool on_board) {
  std::string where = "board " + board.board + " (" + board.name + ")";
  if (!on_board && static_cast<int64_t>(model_bytes) > board.model_capacity) {
    return Status::ResourceExhausted("model of " + std::to_string(model_bytes) + " bytes exceeds the model buffer of " +
                                     std::to_string(board.model_capacity) + " bytes on " + where + "; not uploaded");
  }
  if (model.arena_bytes > board.arena_capacity) {
    return Status::ResourceExhausted("model needs " + std::to_string(model.arena_bytes) +
                                     " bytes of activation arena, " + where + " has " +
                                     std::to_string(board.arena_capacity) + "; not uploaded");
  }
  if (model.input_bytes > board.input_capacity) {
    return Status::ResourceExhausted("model input of " + std::to_string(model.input_bytes) +
                                     " bytes exceeds the input buffer of " + std::to_string(board.input_capacity) +
                                     " bytes on " + where + "; not uploaded");
  }
  return Status::Ok();
}

}  // namespace

std::string OpKindName(int op_kind) {
  switch (static_cast<IntegerOpKind>(op_kind)) {
    case IntegerOpKind::kDense: return "dense";
    case IntegerOpKind::kConv2D: return "conv2d";
    case IntegerOpKind::kDepthwiseConv2D: return "depthwise_conv2d";
    case IntegerOpKind::kMaxPool: return "max_pool";
    case IntegerOpKind::kAvgPool: return "avg_pool";
    case IntegerOpKind::kGlobalAvgPool: return "global_avg_pool";
    case IntegerOpKind::kAdd: return "add";
  }
  return "op" + std::to_string(op_kind);
}

StatusOr<v1::MeasurementResult> MeasureModel(DutClient& client, std::span<const uint8_t> qmodel,
                                             const MeasurementInputs& inputs, const MeasurementOptions& options) {
  if (options.timing_model.empty()) {
    return Status::InvalidArgument(
        "MeasureModel: options.timing_model must say how cycles are "
        "obtained (e.g. the QemuBoard's timing_model())");
  }
  if (options.emulated && !(options.virtual_ns_per_instruction > 0)) {
    return Status::InvalidArgument("MeasureModel: an emulated board needs virtual_ns_per_instruction > 0");
  }
  if (options.windows < 1 || options.inferences_per_window < 1 || options.warmup < 0 || options.check_inputs < 1 ||
      options.accuracy_samples < 0) {
    return Status::InvalidArgument(
        "MeasureModel: needs windows >= 1, inferences_per_window >= 1, "
        "warmup >= 0, check_inputs >= 1, accuracy_samples >= 0");
  }
  if (inputs.inputs.empty()) return Status::InvalidArgument("MeasureModel: no test inputs");
  if (!inputs.labels.empty() && inputs.labels.size() != inputs.inputs.size()) {
    return Status::InvalidArgument("MeasureModel: " + std::to_string(inputs.labels.size()) + " labels for " +
                                   std::to_string(inputs.inputs.size()) + " inputs");
  }

  StatusOr<HostReference> host = HostReference::Open(qmodel);
  if (!host.ok()) return host.status().WithContext("MeasureModel");
  const qk_model& model = host->model();
  for (size_t i = 0; i < inputs.inputs.size(); ++i) {
    if (inputs.inputs[i].size() != model.input_bytes) {
      return Status::InvalidArgument("MeasureModel: input " + std::to_string(i) + " has " +
                                     std::to_string(inputs.inputs[i].size()) + " bytes, the model takes " +
                                     std::to_string(model.input_bytes));
    }
  }

  StatusOr<BoardInfo> board = client.Info();
  if (!board.ok()) return board.status().WithContext("MeasureModel");
  const bool on_board = BoardHoldsModel(*board, qmodel);
  QATLAB_RETURN_IF_ERROR(CheckFits(*board, model, qmodel.size(), on_board).WithContext("MeasureModel"));
  if (options.inferences_per_window > board->infer_max || options.warmup > board->infer_max) {
    return Status::InvalidArgument("MeasureModel: the board runs at most " + std::to_string(board->infer_max) +
                                   " inferences per command");
  }

  // The board's copy (a model in flash) is measured where it is; anything
  // else is uploaded.
  StatusOr<LoadedModel> loaded =
      LoadedModel{static_cast<int64_t>(model.input_bytes), static_cast<int64_t>(model.output_bytes),
                  static_cast<int64_t>(model.arena_bytes), static_cast<int64_t>(model.op_count)};
  if (!on_board) loaded = client.UploadModel(qmodel);
  if (!loaded.ok()) return loaded.status().WithContext("MeasureModel upload");

  v1::MeasurementResult result;
  result.set_emulated(options.emulated);
  result.set_timing_model(options.timing_model);
  result.set_clock_hz(board->clock_hz);
  result.set_board(board->board);
  // Board counts to cycles: the same on silicon; on an emulated board one
  // cycle per instruction, the instructions being the virtual time the
  // counter's ticks span.
  const double cycles_per_tick =
      options.emulated && board->clock_hz > 0 ? 1e9 / board->clock_hz / options.virtual_ns_per_instruction : 1.0;
  auto to_cycles = [cycles_per_tick](uint64_t ticks) {
    return static_cast<uint64_t>(static_cast<double>(ticks) * cycles_per_tick + 0.5);
  };
  result.set_kernel_variant(board->kernel_variant);
  result.set_arena_bytes(loaded->arena_bytes);
  result.set_flash_bytes(static_cast<int64_t>(qmodel.size()));

  // Bit-exactness and accuracy share the device runs: every input run on the
  // board is also checked against the host.
  size_t accuracy_count =
      inputs.labels.empty() ? 0 : std::min(inputs.inputs.size(), static_cast<size_t>(options.accuracy_samples));
  size_t run_count =
      std::max(accuracy_count, std::min(inputs.inputs.size(), static_cast<size_t>(options.check_inputs)));
  int bit_exact = 0;
  int correct = 0;
  for (size_t i = 0; i < run_count; ++i) {
    const std::vector<int8_t>& input = inputs.inputs[i];
    QATLAB_RETURN_IF_ERROR(client.SetInput(input).WithContext("MeasureModel input " + std::to_string(i)));
    StatusOr<InferenceOutput> device = client.Output();
    if (!device.ok()) return device.status().WithContext("MeasureModel input " + std::to_string(i));
    StatusOr<std::vector<int8_t>> expected = host->Run(input);
    if (!expected.ok()) return expected.status().WithContext("MeasureModel input " + std::to_string(i));
    if (device->logits == *expected) ++bit_exact;
    if (i < accuracy_count &&
        static_cast<int>(qk_argmax_s8(device->logits.data(), static_cast<uint32_t>(device->logits.size()))) ==
            inputs.labels[i]) {
      ++correct;
    }
  }
  result.set_checked_inputs(static_cast<int32_t>(run_count));
  result.set_bit_exact_inputs(bit_exact);
  result.set_accuracy_samples(static_cast<int32_t>(accuracy_count));
  result.set_device_accuracy(accuracy_count == 0 ? 0.0 : 100.0 * correct / static_cast<double>(accuracy_count));

  // Per-layer cycles of one inference on the first input.
  QATLAB_RETURN_IF_ERROR(client.SetInput(inputs.inputs[0]).WithContext("MeasureModel timing input"));
  StatusOr<InferenceOutput> single = client.Output();
  if (!single.ok()) return single.status().WithContext("MeasureModel layers");
  StatusOr<std::vector<LayerCycles>> layers = client.Layers();
  if (!layers.ok()) return layers.status().WithContext("MeasureModel layers");
  for (const LayerCycles& layer : *layers) {
    v1::LayerCycles* out = result.add_layers();
    out->set_index(layer.index);
    out->set_op(OpKindName(layer.op_kind));
    out->set_cycles(to_cycles(layer.cycles));
  }

  if (options.warmup > 0) {
    StatusOr<CycleStats> warm = client.Infer(options.warmup);
    if (!warm.ok()) return warm.status().WithContext("MeasureModel warm-up");
  }
  std::vector<uint64_t> window_means;
  uint64_t fastest = UINT64_MAX;
  uint64_t slowest = 0;
  for (int w = 0; w < options.windows; ++w) {
    StatusOr<CycleStats> window = client.Infer(options.inferences_per_window);
    if (!window.ok()) return window.status().WithContext("MeasureModel window " + std::to_string(w));
    window_means.push_back(window->total / static_cast<uint64_t>(window->count));
    fastest = std::min(fastest, window->min);
    slowest = std::max(slowest, window->max);
  }
  std::sort(window_means.begin(), window_means.end());
  // The lower median for an even count, as the board does for qm-infer.
  uint64_t median = window_means[(window_means.size() - 1) / 2];
  result.set_windows(options.windows);
  result.set_inferences_per_window(options.inferences_per_window);
  result.set_median_counter_ticks(median);
  result.set_median_cycles(to_cycles(median));
  result.set_min_cycles(to_cycles(fastest));
  result.set_max_cycles(to_cycles(slowest));
  result.set_median_us(CyclesToMicroseconds(result.median_cycles(), board->clock_hz));
  result.set_min_us(CyclesToMicroseconds(result.min_cycles(), board->clock_hz));
  result.set_max_us(CyclesToMicroseconds(result.max_cycles(), board->clock_hz));
  return result;
}

}  // namespace qatlab
