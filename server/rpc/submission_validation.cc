#include "server/rpc/submission_validation.h"

#include <fmt/format.h>

#include <string_view>

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
      return Status::InvalidArgument(
          fmt::format("labels[{}]: key or value longer than {} characters", key.substr(0, 32), kMaxNameLength));
    }
  }
  if (spec->max_attempts() == 0) spec->set_max_attempts(3);

  ApplyJobSpecDefaults(spec);
  QATLAB_RETURN_IF_ERROR(ValidateJobSpec(*spec));

  const v1::DataSpec& data = spec->data();
  QATLAB_RETURN_IF_ERROR(CheckDatasetReference("train_images", data.train_images(), dataset_exists));
  QATLAB_RETURN_IF_ERROR(CheckDatasetReference("train_labels", data.train_labels(), dataset_exists));
  QATLAB_RETURN_IF_ERROR(CheckDatasetReference("test_images", data.test_images(), dataset_exists));
  QATLAB_RETURN_IF_ERROR(CheckDatasetReference("test_labels", data.test_labels(), dataset_exists));
  return Status::Ok();
}

}  // namespace qatlab::server
