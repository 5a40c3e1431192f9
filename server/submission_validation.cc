#include "server/submission_validation.h"

#include <fmt/format.h>

#include <string_view>

#ifdef QATLAB_HAVE_ENGINE_JOB_SPEC
#include "engine/job_spec.h"
#endif

namespace qatlab::server {

namespace {

constexpr int kMaxAttemptsLimit = 100;
constexpr int kMaxLabels = 64;
constexpr size_t kMaxNameLength = 256;

#ifndef QATLAB_HAVE_ENGINE_JOB_SPEC
// STAND-IN until engine/job_spec.cc is part of qatlab_engine: the few checks
// the server needs so nothing absurd is queued. The engine's ValidateJobSpec
// replaces this automatically (see server/CMakeLists.txt).
Status MinimalSpecCheckUntilEngineValidates(v1::JobSpec* spec) {
  if (spec->data().source().empty()) spec->mutable_data()->set_source("mnist");
  if (spec->configs_size() == 0) {
    auto* config = spec->add_configs();
    config->set_weight_bits(8);
    config->set_activation_bits(8);
  }
  if (spec->seed() == 0) spec->set_seed(1);
  if (spec->model().layers_size() == 0) {
    const std::string& preset = spec->model().preset();
    if (preset.empty()) return Status::InvalidArgument("model: give a preset (mlp, cnn, cnn_bn, ds_cnn) or layers");
    if (preset != "mlp" && preset != "cnn" && preset != "cnn_bn" && preset != "ds_cnn") {
      return Status::InvalidArgument(
          fmt::format("model.preset: unknown preset '{}' (known: mlp, cnn, cnn_bn, ds_cnn)", preset));
    }
  }
  for (int i = 0; i < spec->configs_size(); ++i) {
    auto* config = spec->mutable_configs(i);
    if (config->weight_bits() == 0) config->set_weight_bits(8);
    if (config->activation_bits() == 0) config->set_activation_bits(8);
    if (config->weight_bits() < 2 || config->weight_bits() > 8) {
      return Status::InvalidArgument(
          fmt::format("configs[{}].weight_bits: {} bits is outside 2..8", i, config->weight_bits()));
    }
    if (config->activation_bits() < 2 || config->activation_bits() > 8) {
      return Status::InvalidArgument(
          fmt::format("configs[{}].activation_bits: {} bits is outside 2..8", i, config->activation_bits()));
    }
  }
  if (spec->training().epochs() < 0) return Status::InvalidArgument("training.epochs: must be >= 0");
  if (spec->training().batch_size() < 0) return Status::InvalidArgument("training.batch_size: must be > 0");
  if (spec->training().learning_rate() < 0) return Status::InvalidArgument("training.learning_rate: must be > 0");
  const std::string& source = spec->data().source();
  if (source != "mnist" && source != "idx" && source != "npy" && source != "csv") {
    return Status::InvalidArgument(
        fmt::format("data.source: unknown source '{}' (known: mnist, idx, npy, csv)", source));
  }
  return Status::Ok();
}
#endif

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

}  // namespace

Status PrepareSubmission(v1::JobSpec* spec, const std::function<bool(const std::string&)>& dataset_exists) {
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
      return Status::InvalidArgument(fmt::format("labels[{}]: key or value longer than {} characters",
                                                 key.substr(0, 32), kMaxNameLength));
    }
  }
  if (spec->max_attempts() == 0) spec->set_max_attempts(3);

#ifdef QATLAB_HAVE_ENGINE_JOB_SPEC
  ApplyJobSpecDefaults(spec);
  QATLAB_RETURN_IF_ERROR(ValidateJobSpec(*spec));
#else
  QATLAB_RETURN_IF_ERROR(MinimalSpecCheckUntilEngineValidates(spec));
#endif

  const v1::DataSpec& data = spec->data();
  QATLAB_RETURN_IF_ERROR(CheckDatasetReference("train_images", data.train_images(), dataset_exists));
  QATLAB_RETURN_IF_ERROR(CheckDatasetReference("train_labels", data.train_labels(), dataset_exists));
  QATLAB_RETURN_IF_ERROR(CheckDatasetReference("test_images", data.test_images(), dataset_exists));
  QATLAB_RETURN_IF_ERROR(CheckDatasetReference("test_labels", data.test_labels(), dataset_exists));
  return Status::Ok();
}

}  // namespace qatlab::server
