#include "worker/run_record.h"

#include <filesystem>
#include <string_view>

#include "data/mnist.h"
#include "digest/sha256.h"
#include "engine/job_spec.h"
#include "version/version.h"

namespace qatlab {
namespace {

void AddFile(std::string_view role, const std::string& source, const std::string& path, v1::RunRecord* record) {
  if (path.empty()) return;
  StatusOr<std::string> sha256 = Sha256OfFile(path);
  std::error_code error;
  const auto size = std::filesystem::file_size(path, error);
  if (!sha256.ok() || error) return;
  v1::InputFileRecord* input = record->add_inputs();
  input->set_role(std::string(role));
  input->set_source(source);
  input->set_sha256(*sha256);
  input->set_size(static_cast<int64_t>(size));
}

}  // namespace

v1::RunRecord RecordRunInputs(const v1::JobSpec& submitted, const v1::JobSpec& resolved,
                              const RunConditions& conditions) {
  v1::RunRecord record;
  v1::JobSpec defaulted = submitted;
  ApplyJobSpecDefaults(&defaulted);
  record.set_seed(defaulted.seed());
  record.set_engine_version(QatlabVersion());
  record.set_threads(conditions.threads);
  record.set_worker_id(conditions.worker_id);
  record.set_attempt(conditions.attempt);

  constexpr std::string_view kRoles[] = {"train_images", "train_labels", "test_images", "test_labels"};
  const v1::DataSpec& named = submitted.data();
  const v1::DataSpec& local = resolved.data();
  if (named.source().empty() || named.source() == "mnist") {
    for (size_t i = 0; i < kMnist10kFiles.size(); ++i) {
      v1::InputFileRecord* input = record.add_inputs();
      input->set_role(std::string(kRoles[i]));
      input->set_source(std::string("mnist10k/") + kMnist10kFiles[i].name);
      input->set_sha256(kMnist10kFiles[i].sha256);
    }
  } else {
    AddFile(kRoles[0], named.train_images(), local.train_images(), &record);
    AddFile(kRoles[1], named.train_labels(), local.train_labels(), &record);
    AddFile(kRoles[2], named.test_images(), local.test_images(), &record);
    AddFile(kRoles[3], named.test_labels(), local.test_labels(), &record);
  }
  AddFile("model", submitted.model().onnx(), resolved.model().onnx(), &record);
  return record;
}

void RecordRunOutputs(const std::vector<VariantArtifact>& artifacts, v1::RunRecord* record) {
  for (const VariantArtifact& artifact : artifacts) {
    v1::OutputFileRecord* model = record->add_models();
    model->set_name(artifact.file_name);
    model->set_sha256(
        Sha256Hex(std::string_view(reinterpret_cast<const char*>(artifact.qmodel.data()), artifact.qmodel.size())));
    model->set_size(static_cast<int64_t>(artifact.qmodel.size()));
  }
}

}  // namespace qatlab
