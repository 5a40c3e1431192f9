#include "model_import/onnx_import.h"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "model_import/onnx_graph_translator.h"
#include "model_import/onnx_model_reader.h"

namespace qatlab {

StatusOr<ImportedModel> ImportOnnxModel(std::string_view bytes) {
  QATLAB_ASSIGN_OR_RETURN(const CheckedOnnxModel checked, ReadCheckedOnnxModel(bytes));
  return TranslateOnnxGraph(checked);
}

StatusOr<OnnxModelSummary> InspectOnnxModel(std::string_view bytes) {
  QATLAB_ASSIGN_OR_RETURN(const ImportedModel model, ImportOnnxModel(bytes));
  OnnxModelSummary summary;
  summary.input = model.input;
  summary.num_classes = model.num_classes;
  summary.layer_count = static_cast<int>(model.layers.size());
  summary.opset = model.opset;
  for (const LayerWeights& weights : model.weights) {
    summary.parameters += static_cast<int64_t>(weights.weights.size() + weights.bias.size());
  }
  return summary;
}

StatusOr<std::string> ReadOnnxModelFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    const int error = errno;
    const std::string reason = std::strerror(error);
    if (error == ENOENT) return Status::NotFound("cannot read ONNX model '" + path + "': " + reason);
    return Status::IOError("cannot read ONNX model '" + path + "': " + reason);
  }
  std::ostringstream bytes;
  bytes << in.rdbuf();
  if (in.bad()) return Status::IOError("cannot read ONNX model '" + path + "'");
  return bytes.str();
}

StatusOr<ImportedModel> ImportOnnxModelFile(const std::string& path) {
  QATLAB_ASSIGN_OR_RETURN(const std::string bytes, ReadOnnxModelFile(path));
  auto model = ImportOnnxModel(bytes);
  if (!model.ok()) return model.status().WithContext("ONNX model '" + path + "'");
  return model;
}

}  // namespace qatlab
