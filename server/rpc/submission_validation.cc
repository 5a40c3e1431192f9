#include "server/rpc/submission_validation.h"

#include <fmt/format.h>
#include <google/protobuf/descriptor.h>
#include <google/protobuf/reflection.h>

#include <algorithm>
#include <cmath>
#include <optional>
#include <string_view>
#include <vector>

#include "engine/job_spec.h"

namespace qatlab::server {

namespace {

constexpr int kMaxAttemptsLimit = 100;
constexpr int kMaxLabels = 64;
constexpr size_t kMaxNameLength = 256;
// Any string of a spec (paths included); names have tighter bounds below.
constexpr size_t kMaxStringLength = 4096;
constexpr size_t kMaxLayerNameLength = 128;
constexpr int kMaxMeasureOn = 16;
// Per-layer settings, bounded whatever the input shape: wide enough for any
// model a microcontroller could hold, narrow enough that no shape
// arithmetic overflows.
constexpr int kMaxUnits = 1 << 20;
constexpr int kMaxWindow = 1024;  // kernel, stride, padding, pool

Status CheckDatasetReference(std::string_view field, const std::string& path,
                             const std::function<bool(const std::string&)>& dataset_exists) {
  std::string_view prefix = kDatasetReferencePrefix;
  if (path.compare(0, prefix.size(), prefix) != 0) return Status::Ok();
  std::string name = path.substr(prefix.size());
  if (name.empty()) return Status::InvalidArgument(fmt::format("data.{}: '{}' names no data set", field, path));
  if (!dataset_exists(name)) {
    return Status::InvalidArgument(
        fmt::format("data.{}: data set '{}' has not been uploaded (see ListDatasets)", field, name));
  }
  return Status::Ok();
}

// The built-in data set's samples and classes (docs/architecture.md, "Data").
constexpr int kMnistSide = 28;
constexpr int kMnistClasses = 10;

// The checks of an uploaded model against the job's data that need no file.
Status CheckUploadedModel(const v1::JobSpec& spec, const std::string& reference, const SubmissionLookups& lookups) {
  const std::string name = reference.substr(std::string_view(kModelReferencePrefix).size());
  if (name.empty()) return Status::InvalidArgument(fmt::format("model.onnx: '{}' names no model", reference));
  StatusOr<v1::Model> model = lookups.find_model(name);
  if (!model.ok()) {
    if (model.status().code() != StatusCode::kNotFound) return model.status();
    return Status::InvalidArgument(
        fmt::format("model.onnx: model '{}' has not been uploaded (see ListModels, qatctl models ls)", name));
  }
  const v1::DataSpec& data = spec.data();
  if (data.source() == "mnist") {
    if (model->input_height() != kMnistSide || model->input_width() != kMnistSide || model->input_channels() != 1) {
      return Status::InvalidArgument(
          fmt::format("model.onnx: model '{}' takes {}x{}x{} inputs (HWC) but the mnist data are {}x{}x1", name,
                      model->input_height(), model->input_width(), model->input_channels(), kMnistSide, kMnistSide));
    }
    if (model->num_classes() != kMnistClasses) {
      return Status::InvalidArgument(
          fmt::format("model.onnx: model '{}' has {} outputs but the mnist data have {} classes", name,
                      model->num_classes(), kMnistClasses));
    }
  } else if (data.num_classes() > 0 && model->num_classes() != data.num_classes()) {
    return Status::InvalidArgument(fmt::format("model.onnx: model '{}' has {} outputs but data.num_classes is {}", name,
                                               model->num_classes(), data.num_classes()));
  }
  return Status::Ok();
}

// Every string field of `message`, at any depth, is at most
// kMaxStringLength bytes. `path` names `message` in errors ("model.layers[3]").
Status CheckStringLengths(const google::protobuf::Message& message, const std::string& path) {
  using google::protobuf::FieldDescriptor;
  const google::protobuf::Reflection* reflection = message.GetReflection();
  std::vector<const FieldDescriptor*> fields;
  reflection->ListFields(message, &fields);
  for (const FieldDescriptor* field : fields) {
    const std::string name = path.empty() ? field->name() : path + "." + field->name();
    if (field->cpp_type() == FieldDescriptor::CPPTYPE_STRING) {
      const int count = field->is_repeated() ? reflection->FieldSize(message, field) : 1;
      for (int i = 0; i < count; ++i) {
        std::string scratch;
        const std::string& value = field->is_repeated()
                                       ? reflection->GetRepeatedStringReference(message, field, i, &scratch)
                                       : reflection->GetStringReference(message, field, &scratch);
        if (value.size() > kMaxStringLength) {
          return Status::InvalidArgument(fmt::format("{}{}: {} bytes, over the limit of {}", name,
                                                     field->is_repeated() ? fmt::format("[{}]", i) : "", value.size(),
                                                     kMaxStringLength));
        }
      }
    } else if (field->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE) {
      if (field->is_repeated()) {
        for (int i = 0; i < reflection->FieldSize(message, field); ++i) {
          QATLAB_RETURN_IF_ERROR(
              CheckStringLengths(reflection->GetRepeatedMessage(message, field, i), fmt::format("{}[{}]", name, i)));
        }
      } else {
        QATLAB_RETURN_IF_ERROR(CheckStringLengths(reflection->GetMessage(message, field), name));
      }
    }
  }
  return Status::Ok();
}

Status CheckSpecSize(const v1::JobSpec& spec, const SubmissionLimits& limits) {
  const size_t bytes = spec.ByteSizeLong();
  if (static_cast<int64_t>(bytes) > limits.max_spec_bytes) {
    return Status::InvalidArgument(
        fmt::format("spec: {} bytes serialized, over the limit of {} (--max-spec-kib)", bytes, limits.max_spec_bytes));
  }
  QATLAB_RETURN_IF_ERROR(CheckStringLengths(spec, ""));
  if (spec.model().layers_size() > limits.max_layers) {
    return Status::InvalidArgument(fmt::format("model.layers: {} layers, over the limit of {} (--max-layers)",
                                               spec.model().layers_size(), limits.max_layers));
  }
  if (spec.configs_size() > limits.max_configs) {
    return Status::InvalidArgument(
        fmt::format("configs: {} configs, over the limit of {}", spec.configs_size(), limits.max_configs));
  }
  if (spec.measure_on_size() > kMaxMeasureOn) {
    return Status::InvalidArgument(
        fmt::format("measure_on: {} board kinds, over the limit of {}", spec.measure_on_size(), kMaxMeasureOn));
  }
  for (int i = 0; i < spec.model().layers_size(); ++i) {
    const v1::LayerSpec& layer = spec.model().layers(i);
    const std::string label = fmt::format("model.layers[{}]", i);
    if (layer.name().size() > kMaxLayerNameLength || layer.from().size() > kMaxLayerNameLength) {
      return Status::InvalidArgument(
          fmt::format("{}: name or from longer than {} characters", label, kMaxLayerNameLength));
    }
    if (layer.type().size() > kMaxLayerNameLength) {
      return Status::InvalidArgument(fmt::format("{}: type longer than {} characters", label, kMaxLayerNameLength));
    }
    const std::pair<const char*, int> units[] = {{"units", layer.units()}, {"filters", layer.filters()}};
    for (const auto& [field, value] : units) {
      if (value > kMaxUnits) {
        return Status::InvalidArgument(
            fmt::format("{}.{}: {} is over the limit of {}", label, field, value, kMaxUnits));
      }
    }
    const std::pair<const char*, int> windows[] = {
        {"kernel", layer.kernel()}, {"stride", layer.stride()}, {"padding", layer.padding()}, {"pool", layer.pool()}};
    for (const auto& [field, value] : windows) {
      if (value > kMaxWindow) {
        return Status::InvalidArgument(
            fmt::format("{}.{}: {} is over the limit of {}", label, field, value, kMaxWindow));
      }
    }
  }
  return Status::Ok();
}

// What a model costs, in doubles: exact enough to compare with the limits,
// and no overflow however large the layers.
struct ModelCost {
  double parameters = 0;
  double macs = 0;
  double activation_values = 0;  // per sample, every layer's output and the input
};

// nullopt when the layers do not chain (the worker's shape check reports it
// with the data at hand).
std::optional<ModelCost> EstimateModelCost(const std::vector<LayerConfig>& layers, const ImageShape& input) {
  struct Shape {
    double height, width, channels;
    double size() const { return height * width * channels; }
  };
  std::vector<Shape> shapes = {{double(input.height), double(input.width), double(input.channels)}};
  ModelCost cost;
  cost.activation_values = shapes[0].size();
  for (const LayerConfig& layer : layers) {
    const Shape in = shapes.back();
    Shape out = in;
    switch (layer.kind) {
      case LayerKind::kDense:
        cost.parameters += in.size() * layer.dense.units + layer.dense.units;
        cost.macs += in.size() * layer.dense.units;
        out = {1, 1, double(layer.dense.units)};
        break;
      case LayerKind::kConv2D:
      case LayerKind::kDepthwiseConv2D: {
        const ConvolutionSettings& c = layer.convolution;
        const double extent_h = in.height + 2.0 * c.padding - c.kernel;
        const double extent_w = in.width + 2.0 * c.padding - c.kernel;
        if (extent_h < 0 || extent_w < 0) return std::nullopt;
        const bool depthwise = layer.kind == LayerKind::kDepthwiseConv2D;
        const double filters = depthwise ? in.channels : c.filters;
        out = {std::floor(extent_h / c.stride) + 1, std::floor(extent_w / c.stride) + 1, filters};
        const double per_output = double(c.kernel) * c.kernel * (depthwise ? 1 : in.channels);
        cost.parameters += per_output * filters + filters;
        cost.macs += out.size() * per_output;
        break;
      }
      case LayerKind::kMaxPool:
      case LayerKind::kAvgPool:
        out = {std::floor(in.height / layer.pool.pool), std::floor(in.width / layer.pool.pool), in.channels};
        if (out.size() <= 0) return std::nullopt;
        break;
      case LayerKind::kGlobalAvgPool: out = {1, 1, in.channels}; break;
      case LayerKind::kFlatten: out = {1, 1, in.size()}; break;
      case LayerKind::kBatchNorm:
      case LayerKind::kRelu:
      case LayerKind::kRelu6:
      case LayerKind::kAdd: break;
    }
    cost.activation_values += out.size();
    shapes.push_back(out);
  }
  return cost;
}

std::string Figure(double value) {
  return value < 1e15 ? fmt::format("{}", static_cast<int64_t>(value)) : fmt::format("{:.3g}", value);
}

Status CheckModelCost(const v1::JobSpec& spec, const SubmissionLimits& limits) {
  const std::optional<ImageShape> input = KnownInputShape(spec.data());
  // An ONNX model's size is its file's: bounded by the upload limit.
  if (!input.has_value() || !spec.model().onnx().empty()) return Status::Ok();
  QATLAB_ASSIGN_OR_RETURN(const std::vector<LayerConfig> layers, TranslateModel(spec.model()));
  const std::optional<ModelCost> cost = EstimateModelCost(layers, *input);
  if (!cost.has_value()) return Status::Ok();
  const std::string shape = ShapeText(*input);
  if (cost->parameters > static_cast<double>(limits.max_parameters)) {
    return Status::InvalidArgument(
        fmt::format("model: {} parameters on {} inputs, over the limit of {} (--max-model-parameters)",
                    Figure(cost->parameters), shape, limits.max_parameters));
  }
  if (cost->macs > static_cast<double>(limits.max_macs)) {
    return Status::InvalidArgument(
        fmt::format("model: {} multiply-accumulates per inference on {} inputs, over the limit of {} "
                    "(--max-model-macs)",
                    Figure(cost->macs), shape, limits.max_macs));
  }
  const double batch_bytes = cost->activation_values * sizeof(float) * spec.training().batch_size();
  if (batch_bytes > static_cast<double>(limits.max_activation_bytes)) {
    return Status::InvalidArgument(
        fmt::format("model: {} bytes of activations for a training batch of {} on {} inputs, over the limit of {} "
                    "(--max-activation-mib; a smaller training.batch_size needs less)",
                    Figure(batch_bytes), spec.training().batch_size(), shape, limits.max_activation_bytes));
  }
  return Status::Ok();
}

}  // namespace

std::optional<ImageShape> KnownInputShape(const v1::DataSpec& data) {
  if (data.source() == "mnist" || data.source() == "fashion-mnist") return ImageShape{28, 28, 1};
  if (data.source() == "csv" && data.height() > 0 && data.width() > 0) {
    return ImageShape{data.height(), data.width(), data.channels() > 0 ? data.channels() : 1};
  }
  return std::nullopt;
}

Status PrepareSubmission(v1::JobSpec* spec, const SubmissionLookups& lookups, const SubmissionLimits& limits) {
  // Size first: every later check reads (and may echo) what the spec holds.
  QATLAB_RETURN_IF_ERROR(CheckSpecSize(*spec, limits));
  // The server's own rules next: they are about the queue, not the model.
  if (spec->max_attempts() < 0 || spec->max_attempts() > kMaxAttemptsLimit) {
    return Status::InvalidArgument(
        fmt::format("max_attempts: {} is outside 1..{} (0: default 3)", spec->max_attempts(), kMaxAttemptsLimit));
  }
  if (spec->experiment().size() > kMaxNameLength) {
    return Status::InvalidArgument(fmt::format("experiment: longer than {} characters", kMaxNameLength));
  }
  if (spec->labels_size() > kMaxLabels) {
    return Status::InvalidArgument(fmt::format("labels: {} labels, at most {}", spec->labels_size(), kMaxLabels));
  }
  for (const auto& [key, value] : spec->labels()) {
    if (key.empty()) return Status::InvalidArgument("labels: a label has an empty key");
    if (key.size() > kMaxNameLength || value.size() > kMaxNameLength) {
      return Status::InvalidArgument(
          fmt::format("labels[{}]: key or value longer than {} characters", key.substr(0, 32), kMaxNameLength));
    }
  }
  if (spec->max_attempts() == 0) spec->set_max_attempts(3);

  ApplyJobSpecDefaults(spec);
  // The engine's checks, exactly one model kind among them; an ONNX model's
  // per-layer bit lists wait for the worker, which knows its layers.
  QATLAB_RETURN_IF_ERROR(ValidateJobSpec(*spec));
  const std::string& onnx = spec->model().onnx();
  if (onnx.empty()) {
    QATLAB_RETURN_IF_ERROR(CheckModelCost(*spec, limits));
  } else if (onnx.rfind(kModelReferencePrefix, 0) == 0) {
    QATLAB_RETURN_IF_ERROR(CheckUploadedModel(*spec, onnx, lookups));
  }

  const v1::DataSpec& data = spec->data();
  QATLAB_RETURN_IF_ERROR(CheckDatasetReference("train_images", data.train_images(), lookups.dataset_exists));
  QATLAB_RETURN_IF_ERROR(CheckDatasetReference("train_labels", data.train_labels(), lookups.dataset_exists));
  QATLAB_RETURN_IF_ERROR(CheckDatasetReference("test_images", data.test_images(), lookups.dataset_exists));
  QATLAB_RETURN_IF_ERROR(CheckDatasetReference("test_labels", data.test_labels(), lookups.dataset_exists));
  return Status::Ok();
}

}  // namespace qatlab::server
