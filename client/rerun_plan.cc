#include "client/rerun_plan.h"

#include <map>

#include <fmt/format.h>

namespace qatlab {
namespace {

constexpr std::string_view kDatasetPrefix = "dataset:";
constexpr std::string_view kModelPrefix = "model:";

// The sha256 stored now under `name`, or "" when there is none.
template <typename Stored>
std::string CurrentSha256(const std::vector<Stored>& stored, const std::string& name) {
  for (const Stored& entry : stored) {
    if (entry.name() == name) return entry.sha256();
  }
  return "";
}

}  // namespace

RerunPlan PlanRerun(const v1::GetResultsResponse& original, const std::vector<v1::Dataset>& datasets,
                    const std::vector<v1::Model>& models, std::string_view client_version) {
  const v1::Job& job = original.job();
  RerunPlan plan;
  plan.spec = job.spec();
  (*plan.spec.mutable_labels())[std::string(kRerunOfLabel)] = job.id();

  if (!original.has_result() || !original.result().has_run()) {
    plan.notes.push_back(fmt::format("job {} has no run record (it is {}): its inputs cannot be checked", job.id(),
                                     v1::JobState_Name(job.state())));
    return plan;
  }
  const v1::RunRecord& record = original.result().run();
  for (const v1::InputFileRecord& input : record.inputs()) {
    const std::string& source = input.source();
    std::string current;
    std::string what;
    if (source.starts_with(kDatasetPrefix)) {
      const std::string name = source.substr(kDatasetPrefix.size());
      current = CurrentSha256(datasets, name);
      what = fmt::format("data set '{}'", name);
    } else if (source.starts_with(kModelPrefix)) {
      const std::string name = source.substr(kModelPrefix.size());
      current = CurrentSha256(models, name);
      what = fmt::format("model '{}'", name);
    } else if (source.starts_with("mnist10k/")) {
      continue;  // the built-in set: the loader accepts only the recorded sums
    } else {
      plan.notes.push_back(
          fmt::format("{}: {} is a file on the worker, not checked before submission (recorded "
                      "sha256 {})",
                      input.role(), source, input.sha256()));
      continue;
    }
    if (current.empty()) {
      plan.changed.push_back(fmt::format("{}: {} is no longer stored on the server (recorded sha256 {})", input.role(),
                                         what, input.sha256()));
    } else if (current != input.sha256()) {
      plan.changed.push_back(
          fmt::format("{}: {} has changed: recorded sha256 {}, now {}", input.role(), what, input.sha256(), current));
    }
  }
  if (record.engine_version() != client_version) {
    plan.notes.push_back(fmt::format("job {} was run by engine {}; this qatctl is {} (the worker's engine decides)",
                                     job.id(), record.engine_version(), client_version));
  }
  return plan;
}

RunComparison CompareRunRecords(const v1::RunRecord& original, const v1::RunRecord& rerun) {
  RunComparison comparison;
  std::vector<std::string>& lines = comparison.lines;
  std::map<std::string, std::string> inputs;
  for (const v1::InputFileRecord& input : original.inputs()) inputs[input.role()] = input.sha256();
  for (const v1::InputFileRecord& input : rerun.inputs()) {
    auto it = inputs.find(input.role());
    if (it != inputs.end() && it->second != input.sha256()) {
      comparison.same_inputs = false;
      lines.push_back(
          fmt::format("input {} differs: sha256 {} then, {} now", input.role(), it->second, input.sha256()));
    }
  }
  if (original.engine_version() != rerun.engine_version()) {
    comparison.same_engine = false;
    lines.push_back(fmt::format("engine differs: {} then, {} now", original.engine_version(), rerun.engine_version()));
  }
  std::map<std::string, std::string> models;
  for (const v1::OutputFileRecord& model : rerun.models()) models[model.name()] = model.sha256();
  int same = 0;
  for (const v1::OutputFileRecord& model : original.models()) {
    auto it = models.find(model.name());
    if (it == models.end()) {
      lines.push_back(fmt::format("model {}: missing from the re-run", model.name()));
    } else if (it->second != model.sha256()) {
      lines.push_back(
          fmt::format("model {}: differs: sha256 {} then, {} now", model.name(), model.sha256(), it->second));
    } else {
      ++same;
    }
  }
  comparison.identical_models = same == original.models_size() && original.models_size() == rerun.models_size();
  lines.push_back(fmt::format("models: {} of {} byte-identical", same, original.models_size()));
  return comparison;
}

}  // namespace qatlab
