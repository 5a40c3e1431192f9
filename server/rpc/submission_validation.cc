#include "server/rpc/submission_validation.h"

#include <fmt/format.h>

#include <string_view>
#include <vector>

#include "engine/job_spec.h"

namespace qatlab::server {

namespace {

constexpr int kMaxAttemptsLimit = 100;
constexpr int kMaxLabels = 64;
constexpr size_t kMaxNameLength = 256;

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

Status CheckOneModelKind(const v1::ModelSpec& model) {
  std::vector<std::string> given;
  if (!model.preset().empty()) given.push_back("preset");
  if (model.layers_size() > 0) given.push_back("layers");
  if (!model.onnx().empty()) given.push_back("onnx");
  if (given.size() == 1) return Status::Ok();
  if (given.empty())
    return Status::InvalidArgument("model: give one of preset (mlp, cnn, cnn_bn, ds_cnn), layers or onnx");
  return Status::InvalidArgument(
      fmt::format("model: give exactly one of preset, layers or onnx, not {}", fmt::join(given, " and ")));
}

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

// The engine validates a spec together with its model's layers, which for an
// ONNX model only the import on the worker produces. The rest of the spec is
// checked here on a copy that stands a preset in for the model; per-layer bit
// lists are left to the worker, which knows how many weighted layers the
// import made.
Status ValidateOnnxJobSpec(const v1::JobSpec& spec) {
  v1::JobSpec stand_in = spec;
  stand_in.mutable_model()->Clear();
  stand_in.mutable_model()->set_preset("mlp");
  for (v1::QuantConfig& config : *stand_in.mutable_configs()) config.clear_layer_weight_bits();
  return ValidateJobSpec(stand_in);
}

}  // namespace

Status PrepareSubmission(v1::JobSpec* spec, const SubmissionLookups& lookups) {
  // The server's own rules first: they are about the queue, not the model.
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

  QATLAB_RETURN_IF_ERROR(CheckOneModelKind(spec->model()));
  ApplyJobSpecDefaults(spec);
  const std::string& onnx = spec->model().onnx();
  if (onnx.empty()) {
    QATLAB_RETURN_IF_ERROR(ValidateJobSpec(*spec));
  } else {
    QATLAB_RETURN_IF_ERROR(ValidateOnnxJobSpec(*spec));
    if (onnx.rfind(kModelReferencePrefix, 0) == 0) QATLAB_RETURN_IF_ERROR(CheckUploadedModel(*spec, onnx, lookups));
  }

  const v1::DataSpec& data = spec->data();
  QATLAB_RETURN_IF_ERROR(CheckDatasetReference("train_images", data.train_images(), lookups.dataset_exists));
  QATLAB_RETURN_IF_ERROR(CheckDatasetReference("train_labels", data.train_labels(), lookups.dataset_exists));
  QATLAB_RETURN_IF_ERROR(CheckDatasetReference("test_images", data.test_images(), lookups.dataset_exists));
  QATLAB_RETURN_IF_ERROR(CheckDatasetReference("test_labels", data.test_labels(), lookups.dataset_exists));
  return Status::Ok();
}

}  // namespace qatlab::server
