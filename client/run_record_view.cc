#include "client/run_record_view.h"

#include <fmt/format.h>

namespace qatlab {

std::string RenderRunRecord(const v1::RunRecord& record) {
  if (record.engine_version().empty() && record.inputs_size() == 0 && record.models_size() == 0) return "";
  std::string text =
      fmt::format("run: engine {}  seed {}  threads {}", record.engine_version(), record.seed(), record.threads());
  if (!record.worker_id().empty()) text += fmt::format("  worker {} attempt {}", record.worker_id(), record.attempt());
  text += "\n";
  for (const v1::InputFileRecord& input : record.inputs()) {
    text += fmt::format("  input  {:<13} {}  sha256 {}\n", input.role(), input.source(), input.sha256());
  }
  for (const v1::OutputFileRecord& model : record.models()) {
    text += fmt::format("  model  {:<13} {} bytes  sha256 {}\n", model.name(), model.size(), model.sha256());
  }
  return text;
}

}  // namespace qatlab
