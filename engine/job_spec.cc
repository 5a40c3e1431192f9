#include "engine/job_spec.h"

#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/json_util.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <map>
#include <set>
#include <string>

#include "model_import/onnx_import.h"
#include "model_import/onnx_inspector.h"

namespace qatlab {
namespace {

v1::LayerSpec Layer(const std::string& type, const std::string& name = "") {
  v1::LayerSpec layer;
  layer.set_type(type);
  layer.set_name(name);
  return layer;
}

v1::LayerSpec Dense(int units) {
  v1::LayerSpec layer = Layer("dense");
  layer.set_units(units);
  return layer;
}

v1::LayerSpec Conv(int filters, int kernel, int stride, int padding, const std::string& name = "") {
  v1::LayerSpec layer = Layer("conv2d", name);
  layer.set_filters(filters);
  layer.set_kernel(kernel);
  layer.set_stride(stride);
  layer.set_padding(padding);
  return layer;
}

v1::LayerSpec Depthwise(int kernel, int stride, int padding) {
  v1::LayerSpec layer = Layer("depthwise_conv2d");
  layer.set_kernel(kernel);
  layer.set_stride(stride);
  layer.set_padding(padding);
  return layer;
}

v1::LayerSpec Pool(const std::string& type, int pool) {
  v1::LayerSpec layer = Layer(type);
  layer.set_pool(pool);
  return layer;
}

v1::LayerSpec Add(const std::string& from) {
  v1::LayerSpec layer = Layer("add");
  layer.set_from(from);
  return layer;
}

std::vector<v1::LayerSpec> PresetLayers(const std::string& preset) {
  if (preset == "mlp") {
    return {Layer("flatten"), Dense(128), Layer("relu"), Dense(64), Layer("relu"), Dense(10)};
  }
  if (preset == "cnn") {
    return {Conv(8, 3, 1, 1), Layer("relu"),      Pool("maxpool", 2), Conv(16, 3, 1, 1),
            Layer("relu"),    Pool("maxpool", 2), Layer("flatten"),   Dense(10)};
  }
  if (preset == "cnn_bn") {
    return {Conv(8, 3, 1, 1),   Layer("batchnorm"), Layer("relu"),      Pool("maxpool", 2), Conv(16, 3, 1, 1),
            Layer("batchnorm"), Layer("relu"),      Pool("maxpool", 2), Layer("flatten"),   Dense(10)};
  }
  if (preset == "ds_cnn") {
    // A keyword-spotting style depthwise-separable network: a strided stem,
    // a residual depthwise-separable block, a strided block, one more block,
    // global average pooling and a classifier.
    return {Conv(24, 3, 2, 1),  Layer("batchnorm"), Layer("relu", "stem"),   Depthwise(3, 1, 1), Layer("batchnorm"),
            Layer("relu"),      Conv(24, 1, 1, 0),  Layer("batchnorm"),      Add("stem"),        Layer("relu"),
            Depthwise(3, 2, 1), Layer("batchnorm"), Layer("relu"),           Conv(48, 1, 1, 0),  Layer("batchnorm"),
            Layer("relu"),      Depthwise(3, 1, 1), Layer("batchnorm"),      Layer("relu"),      Conv(48, 1, 1, 0),
            Layer("batchnorm"), Layer("relu"),      Layer("global_avgpool"), Layer("flatten"),   Dense(10)};
  }
  return {};
}

// The one place a layer type's text becomes a LayerKind.
bool ParseLayerKind(const std::string& type, LayerKind* kind) {
  static const std::map<std::string, LayerKind> kinds = {{"dense", LayerKind::kDense},
                                                         {"conv2d", LayerKind::kConv2D},
                                                         {"depthwise_conv2d", LayerKind::kDepthwiseConv2D},
                                                         {"batchnorm", LayerKind::kBatchNorm},
                                                         {"relu", LayerKind::kRelu},
                                                         {"relu6", LayerKind::kRelu6},
                                                         {"maxpool", LayerKind::kMaxPool},
                                                         {"avgpool", LayerKind::kAvgPool},
                                                         {"global_avgpool", LayerKind::kGlobalAvgPool},
                                                         {"flatten", LayerKind::kFlatten},
                                                         {"add", LayerKind::kAdd}};
  const auto it = kinds.find(type);
  if (it == kinds.end()) return false;
  *kind = it->second;
  return true;
}

// The settings of `layer` as the engine reads them; `previous` holds the
// layers before it, already translated. Checks the fields of the layer's
// kind and its place in a fused group.
StatusOr<LayerConfig> TranslateLayer(const v1::LayerSpec& layer, int index, const std::vector<LayerConfig>& previous,
                                     const std::set<std::string>& earlier_names) {
  LayerConfig config;
  config.name = layer.name();
  if (!ParseLayerKind(layer.type(), &config.kind)) {
    std::string label = "model.layers[" + std::to_string(index) + "] (" + layer.type();
    if (!layer.name().empty()) label += " '" + layer.name() + "'";
    return Status::InvalidArgument(label + "): unknown layer type '" + layer.type() +
                                   "' (known: dense, conv2d, depthwise_conv2d, batchnorm, relu, relu6, "
                                   "maxpool, avgpool, global_avgpool, flatten, add)");
  }
  const std::string label = LayerLabel(config, index);
  const bool after_weighted = index > 0 && IsWeighted(previous.back().kind);
  switch (config.kind) {
    case LayerKind::kDense:
      if (layer.units() <= 0) return Status::InvalidArgument(label + ": units must be > 0");
      config.dense.units = layer.units();
      break;
    case LayerKind::kConv2D:
    case LayerKind::kDepthwiseConv2D:
      if (config.kind == LayerKind::kConv2D && layer.filters() <= 0) {
        return Status::InvalidArgument(label + ": filters must be > 0");
      }
      if (layer.kernel() <= 0) return Status::InvalidArgument(label + ": kernel must be > 0");
      if (layer.stride() < 0) return Status::InvalidArgument(label + ": stride must be >= 1");
      if (layer.padding() < 0) return Status::InvalidArgument(label + ": padding must be >= 0");
      if (layer.padding() >= layer.kernel()) {
        return Status::InvalidArgument(label + ": padding " + std::to_string(layer.padding()) +
                                       " must be smaller than kernel " + std::to_string(layer.kernel()));
      }
      config.convolution.filters = config.kind == LayerKind::kConv2D ? layer.filters() : 0;
      config.convolution.kernel = layer.kernel();
      config.convolution.stride = layer.stride() == 0 ? 1 : layer.stride();
      config.convolution.padding = layer.padding();
      break;
    case LayerKind::kMaxPool:
    case LayerKind::kAvgPool:
      if (layer.pool() <= 0) return Status::InvalidArgument(label + ": pool must be > 0");
      config.pool.pool = layer.pool();
      break;
    case LayerKind::kBatchNorm:
      if (!after_weighted) {
        return Status::InvalidArgument(label +
                                       ": batchnorm must directly follow a dense, conv2d or "
                                       "depthwise_conv2d layer (it is folded into that layer)");
      }
      break;
    case LayerKind::kRelu:
    case LayerKind::kRelu6: {
      const bool after_bn_or_add =
          index > 0 && (previous.back().kind == LayerKind::kBatchNorm || previous.back().kind == LayerKind::kAdd);
      if (!after_weighted && !after_bn_or_add) {
        return Status::InvalidArgument(label + ": " + layer.type() +
                                       " must follow a dense, conv2d, "
                                       "depthwise_conv2d, batchnorm or add layer (it is fused into it)");
      }
      break;
    }
    case LayerKind::kAdd: {
      if (layer.from().empty()) return Status::InvalidArgument(label + ": add needs `from` (an earlier layer's name)");
      if (!earlier_names.count(layer.from())) {
        return Status::InvalidArgument(label + ": `from` names unknown layer '" + layer.from() +
                                       "' (it must be the name of an earlier layer)");
      }
      config.add.from = layer.from();
      for (int j = 0; j < index; ++j) {
        if (previous[j].name == layer.from()) config.add.from_layer = j;
      }
      // The residual input must be a tensor of the integer model, i.e. the
      // end of a fused group.
      const int j = config.add.from_layer;
      if (j + 1 < index && ContinuesFusedGroup(previous[j + 1].kind)) {
        return Status::InvalidArgument(label + ": `from` layer '" + layer.from() + "' is followed by " +
                                       LayerKindName(previous[j + 1].kind) +
                                       ", which is fused into it; name the last layer of that group instead");
      }
      if (index == 0) return Status::InvalidArgument(label + ": add cannot be the first layer");
      break;
    }
    case LayerKind::kGlobalAvgPool:
    case LayerKind::kFlatten: break;
  }
  return config;
}

int CountWeighted(const std::vector<LayerConfig>& layers) {
  int count = 0;
  for (const auto& layer : layers) count += IsWeighted(layer.kind) ? 1 : 0;
  return count;
}

Status CheckBits(int bits, const std::string& field) {
  if (bits < 2 || bits > 8) {
    return Status::InvalidArgument(field + ": " + std::to_string(bits) + " bits is outside 2..8");
  }
  return Status::Ok();
}

// Proto3 cannot tell an unset number from 0, and 0 epochs means the default.
// A job file that writes 0 explicitly means something else (no training):
// refuse it rather than silently train 10 epochs. An ONNX model's float
// training is fine-tuning, which 0 epochs does skip.
Status CheckExplicitZeroEpochs(const std::string& json, const v1::JobSpec& spec) {
  google::protobuf::Struct root;
  if (!google::protobuf::util::JsonStringToMessage(json, &root).ok()) return Status::Ok();
  auto explicit_zero = [&](const char* section, const char* field) {
    const auto outer = root.fields().find(section);
    if (outer == root.fields().end() || !outer->second.has_struct_value()) return false;
    const auto& inner = outer->second.struct_value().fields();
    const auto value = inner.find(field);
    return value != inner.end() && value->second.has_number_value() && value->second.number_value() == 0;
  };
  if (explicit_zero("training", "epochs") && spec.model().onnx().empty()) {
    return Status::InvalidArgument(
        "training.epochs: 0 would mean the default (10 epochs): the job format cannot tell 0 from unset; leave "
        "it out for the default, or give 1..1000");
  }
  if (explicit_zero("qat", "epochs")) {
    return Status::InvalidArgument(
        "qat.epochs: 0 would mean the default (3 epochs): the job format cannot tell 0 from unset; leave it out "
        "for the default, or set skip_qat to train no QAT variants");
  }
  return Status::Ok();
}

// The source a job's files imply when it names none: from the training
// images' file name, or empty when it does not tell (an uploaded data set,
// an unusual name).
std::string SourceFromPaths(const v1::DataSpec& data) {
  std::string name = data.train_images();
  std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return std::tolower(c); });
  auto ends_with = [&](const std::string& suffix) {
    return name.size() >= suffix.size() && name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0;
  };
  if (name.rfind("dataset:", 0) == 0) return "";
  if (ends_with(".csv")) return "csv";
  if (ends_with(".npy")) return "npy";
  if (ends_with(".idx") || ends_with("-ubyte") || ends_with(".idx3") || name.find("idx3") != std::string::npos) {
    return "idx";
  }
  return "";
}

bool NamesDataFiles(const v1::DataSpec& data) {
  return !data.train_images().empty() || !data.train_labels().empty() || !data.test_images().empty() ||
         !data.test_labels().empty();
}

Status CheckFinite(double value, const std::string& field) {
  if (!std::isfinite(value)) return Status::InvalidArgument(field + ": must be a finite number");
  return Status::Ok();
}

}  // namespace

StatusOr<v1::JobSpec> ParseJobSpecJson(const std::string& json) {
  v1::JobSpec spec;
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = false;
  const auto status = google::protobuf::util::JsonStringToMessage(json, &spec, options);
  if (!status.ok()) {
    // The parser's message may span lines (a caret under the input); keep it
    // to one line for logs and CLI output.
    std::string message(status.message());
    std::replace(message.begin(), message.end(), '\n', ' ');
    while (!message.empty() && (message.back() == ' ' || message.back() == '^')) message.pop_back();
    return Status::InvalidArgument("job JSON: " + message);
  }
  QATLAB_RETURN_IF_ERROR(CheckExplicitZeroEpochs(json, spec));
  return spec;
}

void ApplyJobSpecDefaults(v1::JobSpec* spec) {
  if (spec->data().source().empty()) {
    // Files without a source name their format by their names; when they do
    // not, the source stays empty and ValidateJobSpec says so.
    spec->mutable_data()->set_source(NamesDataFiles(spec->data()) ? SourceFromPaths(spec->data()) : "mnist");
  }
  v1::TrainingSpec* training = spec->mutable_training();
  if (training->optimizer().empty()) training->set_optimizer("adam");
  if (training->learning_rate() == 0) training->set_learning_rate(1e-3);
  if (training->momentum() == 0) training->set_momentum(0.9);
  if (training->batch_size() == 0) training->set_batch_size(64);
  // An imported model is trained already: no float epochs unless asked for.
  if (training->epochs() == 0 && spec->model().onnx().empty()) training->set_epochs(10);
  if (training->schedule().empty()) training->set_schedule("constant");
  if (training->schedule() == "step") {
    if (training->step_epochs() == 0) training->set_step_epochs(1);
    if (training->step_gamma() == 0) training->set_step_gamma(0.1);
  }
  v1::PtqSpec* ptq = spec->mutable_ptq();
  if (ptq->calibration_samples() == 0) ptq->set_calibration_samples(512);
  if (ptq->method().empty()) ptq->set_method("minmax");
  if (ptq->percentile() == 0) ptq->set_percentile(99.99);
  v1::QatSpec* qat = spec->mutable_qat();
  if (qat->epochs() == 0) qat->set_epochs(3);
  if (qat->learning_rate() == 0) qat->set_learning_rate(1e-4);
  if (qat->optimizer().empty()) qat->set_optimizer(training->optimizer());
  if (spec->configs_size() == 0) spec->add_configs();
  for (v1::QuantConfig& config : *spec->mutable_configs()) {
    if (config.weight_bits() == 0) config.set_weight_bits(8);
    if (config.activation_bits() == 0) config.set_activation_bits(8);
    if (config.name().empty()) {
      // Built by appending: GCC 12 warns falsely (-Wrestrict) on some
      // chains of string concatenation.
      std::string name;
      if (config.layer_weight_bits_size() > 0) {
        name.append("mixed");
        for (int bits : config.layer_weight_bits()) name.append("_").append(std::to_string(bits));
      } else {
        name.append("w").append(std::to_string(config.weight_bits()));
      }
      name.append("a").append(std::to_string(config.activation_bits()));
      config.set_name(name);
    }
  }
  if (spec->seed() == 0) spec->set_seed(1);
  if (spec->max_attempts() == 0) spec->set_max_attempts(3);
}

std::vector<std::string> ModelPresetNames() { return {"mlp", "cnn", "cnn_bn", "ds_cnn"}; }

namespace {

// Exactly one of preset, layers and onnx.
Status CheckOneModel(const v1::ModelSpec& model) {
  std::vector<std::string> given;
  if (!model.preset().empty()) given.push_back("preset");
  if (model.layers_size() > 0) given.push_back("layers");
  if (!model.onnx().empty()) given.push_back("onnx");
  if (given.size() > 1) {
    std::string list = given[0];
    for (size_t i = 1; i < given.size(); ++i) list.append(i + 1 == given.size() ? " and " : ", ").append(given[i]);
    return Status::InvalidArgument("model: give exactly one of preset, layers and onnx (this spec gives " + list + ")");
  }
  if (given.empty()) {
    return Status::InvalidArgument("model: give a preset (mlp, cnn, cnn_bn, ds_cnn), layers or an onnx file");
  }
  return Status::Ok();
}

std::string FileName(const std::string& path) {
  const size_t slash = path.find_last_of('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

// Reads and imports the model's ONNX file.
StatusOr<ImportedModel> ImportJobOnnxModel(const v1::ModelSpec& model) {
  const std::string& path = model.onnx();
  if (path.rfind("model:", 0) == 0) {
    return Status::FailedPrecondition("model.onnx: '" + path +
                                      "' names a model uploaded to the server; the worker fetches it into a local "
                                      "file before the engine runs");
  }
  // Checked in a child process first: libonnx crashes on some hostile models
  // (model_import/onnx_inspector.h).
  auto imported = ImportOnnxModelFileCheckedInChild(path);
  if (!imported.ok()) return imported.status().WithContext("model.onnx");
  return imported;
}

}  // namespace

StatusOr<std::vector<v1::LayerSpec>> ResolveModelLayers(const v1::ModelSpec& model) {
  QATLAB_RETURN_IF_ERROR(CheckOneModel(model));
  if (!model.onnx().empty()) {
    return Status::InvalidArgument("model.onnx: an ONNX model has no layer list (TranslateModel imports it)");
  }
  std::vector<v1::LayerSpec> layers;
  if (model.layers_size() > 0) {
    layers.assign(model.layers().begin(), model.layers().end());
  } else {
    layers = PresetLayers(model.preset());
    if (layers.empty()) {
      return Status::InvalidArgument("model.preset: unknown preset '" + model.preset() +
                                     "' (known: mlp, cnn, cnn_bn, ds_cnn)");
    }
  }
  return layers;
}

namespace {

// ValidateJobSpec's checks on a spec whose model has been translated;
// `layers` is null for an ONNX model not read yet (per-layer bit lists are
// then checked later).
Status ValidateTranslatedJobSpec(const v1::JobSpec& spec, const std::vector<LayerConfig>* layers) {
  const auto& data = spec.data();
  if (data.source().empty() && NamesDataFiles(data)) {
    return Status::InvalidArgument(
        "data.source: empty, but the job names data files and their names do not tell the format; give source "
        "(idx, npy or csv)");
  }
  const std::string source = data.source().empty() ? "mnist" : data.source();
  if (source == "fashion-mnist") {
    if (NamesDataFiles(data)) {
      return Status::InvalidArgument(
          "data: source fashion-mnist reads the built-in Fashion-MNIST, yet the job names data files; give source "
          "idx, npy or csv to use them");
    }
    if (data.height() != 0 || data.width() != 0 || data.channels() != 0) {
      return Status::InvalidArgument("data.height/width/channels: Fashion-MNIST is 28x28x1; leave them out");
    }
  }
  if (source == "mnist") {
    if (NamesDataFiles(data)) {
      return Status::InvalidArgument(
          "data: source mnist reads the built-in MNIST-10k, yet the job names data files; give source idx, npy or "
          "csv to use them");
    }
    if (data.height() != 0 || data.width() != 0 || data.channels() != 0) {
      return Status::InvalidArgument("data.height/width/channels: MNIST-10k is 28x28x1; leave them out");
    }
  }
  if (source == "csv" && (!data.train_labels().empty() || !data.test_labels().empty())) {
    return Status::InvalidArgument(
        "data.train_labels/test_labels: a CSV file holds its labels (the first column); leave them out");
  }
  if (data.height() < 0 || data.width() < 0 || data.channels() < 0) {
    return Status::InvalidArgument("data.height/width/channels: must be >= 0");
  }
  if (source == "idx" || source == "npy") {
    if (data.train_images().empty()) return Status::InvalidArgument("data.train_images: missing for source " + source);
    if (data.train_labels().empty()) return Status::InvalidArgument("data.train_labels: missing for source " + source);
    if (data.test_images().empty()) return Status::InvalidArgument("data.test_images: missing for source " + source);
    if (data.test_labels().empty()) return Status::InvalidArgument("data.test_labels: missing for source " + source);
  } else if (source == "csv") {
    if (data.train_images().empty()) return Status::InvalidArgument("data.train_images: missing for source csv");
    if (data.test_images().empty()) return Status::InvalidArgument("data.test_images: missing for source csv");
  } else if (source != "mnist" && source != "fashion-mnist") {
    return Status::InvalidArgument("data.source: unknown source '" + source +
                                   "' (known: mnist, fashion-mnist, idx, npy, csv)");
  }
  if (data.train_limit() < 0) return Status::InvalidArgument("data.train_limit: must be >= 0");
  if (data.test_limit() < 0) return Status::InvalidArgument("data.test_limit: must be >= 0");
  if (data.num_classes() < 0) return Status::InvalidArgument("data.num_classes: must be >= 0");

  const auto& training = spec.training();
  if (training.optimizer() != "adam" && training.optimizer() != "sgd") {
    return Status::InvalidArgument("training.optimizer: unknown optimizer '" + training.optimizer() + "' (adam, sgd)");
  }
  QATLAB_RETURN_IF_ERROR(CheckFinite(training.learning_rate(), "training.learning_rate"));
  QATLAB_RETURN_IF_ERROR(CheckFinite(training.momentum(), "training.momentum"));
  QATLAB_RETURN_IF_ERROR(CheckFinite(training.step_gamma(), "training.step_gamma"));
  QATLAB_RETURN_IF_ERROR(CheckFinite(training.weight_decay(), "training.weight_decay"));
  QATLAB_RETURN_IF_ERROR(CheckFinite(spec.qat().learning_rate(), "qat.learning_rate"));
  QATLAB_RETURN_IF_ERROR(CheckFinite(spec.ptq().percentile(), "ptq.percentile"));
  if (!(training.learning_rate() > 0)) return Status::InvalidArgument("training.learning_rate: must be > 0");
  if (training.schedule() == "step" && !(training.step_gamma() > 0)) {
    return Status::InvalidArgument("training.step_gamma: must be > 0");
  }
  if (training.step_epochs() < 0) return Status::InvalidArgument("training.step_epochs: must be >= 0");
  if (training.batch_size() <= 0 || training.batch_size() > 4096) {
    return Status::InvalidArgument("training.batch_size: " + std::to_string(training.batch_size()) +
                                   " is outside 1..4096");
  }
  if (training.epochs() < 0 || training.epochs() > 1000) {
    return Status::InvalidArgument("training.epochs: " + std::to_string(training.epochs()) + " is outside 0..1000");
  }
  if (training.schedule() != "constant" && training.schedule() != "step" && training.schedule() != "cosine") {
    return Status::InvalidArgument("training.schedule: unknown schedule '" + training.schedule() +
                                   "' (constant, step, cosine)");
  }
  if (training.weight_decay() < 0) return Status::InvalidArgument("training.weight_decay: must be >= 0");
  if (training.momentum() < 0 || training.momentum() >= 1)
    return Status::InvalidArgument("training.momentum: must be in [0, 1)");

  const auto& ptq = spec.ptq();
  if (ptq.calibration_samples() < 0) return Status::InvalidArgument("ptq.calibration_samples: must be > 0");
  if (ptq.method() != "minmax" && ptq.method() != "percentile" && ptq.method() != "mse") {
    return Status::InvalidArgument("ptq.method: unknown method '" + ptq.method() + "' (minmax, percentile, mse)");
  }
  if (ptq.percentile() <= 50 || ptq.percentile() > 100) {
    return Status::InvalidArgument("ptq.percentile: must be in (50, 100]");
  }
  if (ptq.test_samples() < 0) {
    return Status::InvalidArgument("ptq.test_samples: " + std::to_string(ptq.test_samples()) +
                                   " is negative (0: the whole test set)");
  }
  if (ptq.hessian_probes() < 0 || ptq.hessian_probes() > kMaxHessianProbes) {
    return Status::InvalidArgument("ptq.hessian_probes: " + std::to_string(ptq.hessian_probes()) + " is outside 0.." +
                                   std::to_string(kMaxHessianProbes) + " (0: no Hessian traces)");
  }
  const auto& qat = spec.qat();
  if (qat.epochs() < 0 || qat.epochs() > 1000) return Status::InvalidArgument("qat.epochs: outside 0..1000");
  if (!(qat.learning_rate() > 0)) return Status::InvalidArgument("qat.learning_rate: must be > 0");
  if (qat.optimizer() != "adam" && qat.optimizer() != "sgd") {
    return Status::InvalidArgument("qat.optimizer: unknown optimizer '" + qat.optimizer() + "' (adam, sgd)");
  }
  if (qat.freeze_observers_epoch() < 0) return Status::InvalidArgument("qat.freeze_observers_epoch: must be >= 0");
  if (qat.freeze_bn_epoch() < 0) return Status::InvalidArgument("qat.freeze_bn_epoch: must be >= 0");

  const int weighted = layers ? CountWeighted(*layers) : -1;
  std::set<std::string> config_names;
  for (int c = 0; c < spec.configs_size(); ++c) {
    const auto& config = spec.configs(c);
    const std::string field = "configs[" + std::to_string(c) + "]";
    QATLAB_RETURN_IF_ERROR(CheckBits(config.weight_bits(), field + ".weight_bits"));
    QATLAB_RETURN_IF_ERROR(CheckBits(config.activation_bits(), field + ".activation_bits"));
    if (config.activation_bits() != 8) {
      // The integer model (.qmodel, the C kernels, the boards) carries int8
      // activations; a variant trained for fewer bits would be exported as
      // if it had 8 and its integer accuracy would mean nothing.
      return Status::InvalidArgument(field + ".activation_bits: " + std::to_string(config.activation_bits()) +
                                     ": the integer export and its kernels use 8-bit activations; only 8 is "
                                     "supported (weights may use 2..8 bits)");
    }
    if (weighted >= 0 && config.layer_weight_bits_size() > 0 && config.layer_weight_bits_size() != weighted) {
      return Status::InvalidArgument(field + ".layer_weight_bits: has " +
                                     std::to_string(config.layer_weight_bits_size()) + " entries but the model has " +
                                     std::to_string(weighted) + " weighted layers");
    }
    for (int l = 0; l < config.layer_weight_bits_size(); ++l) {
      QATLAB_RETURN_IF_ERROR(
          CheckBits(config.layer_weight_bits(l), field + ".layer_weight_bits[" + std::to_string(l) + "]"));
    }
    if (config.name().empty()) return Status::InvalidArgument(field + ".name: empty");
    if (config.name().find_first_of("/\\ ") != std::string::npos) {
      return Status::InvalidArgument(field + ".name: '" + config.name() + "' must not contain '/', '\\' or spaces");
    }
    if (!config_names.insert(config.name()).second) {
      return Status::InvalidArgument(field + ".name: duplicate config name '" + config.name() + "'");
    }
  }
  if (spec.max_attempts() < 0) return Status::InvalidArgument("max_attempts: must be >= 0");
  return Status::Ok();
}

}  // namespace

Status ValidateJobSpec(const v1::JobSpec& spec) {
  if (!spec.model().onnx().empty()) {
    QATLAB_RETURN_IF_ERROR(CheckOneModel(spec.model()));
    return ValidateTranslatedJobSpec(spec, nullptr);
  }
  QATLAB_ASSIGN_OR_RETURN(const std::vector<LayerConfig> layers, TranslateModel(spec.model()));
  return ValidateTranslatedJobSpec(spec, &layers);
}

StatusOr<std::vector<LayerConfig>> TranslateLayers(const std::vector<v1::LayerSpec>& layers) {
  if (layers.empty()) return Status::InvalidArgument("model: no layers");
  std::vector<LayerConfig> configs;
  std::set<std::string> names;
  for (int i = 0; i < static_cast<int>(layers.size()); ++i) {
    QATLAB_ASSIGN_OR_RETURN(LayerConfig config, TranslateLayer(layers[i], i, configs, names));
    if (!config.name.empty() && !names.insert(config.name).second) {
      return Status::InvalidArgument(LayerLabel(config, i) + ": duplicate layer name '" + config.name + "'");
    }
    configs.push_back(std::move(config));
  }
  return configs;
}

StatusOr<std::vector<LayerConfig>> TranslateModel(const v1::ModelSpec& model) {
  if (!model.onnx().empty()) {
    QATLAB_RETURN_IF_ERROR(CheckOneModel(model));
    QATLAB_ASSIGN_OR_RETURN(ImportedModel imported, ImportJobOnnxModel(model));
    return std::move(imported.layers);
  }
  QATLAB_ASSIGN_OR_RETURN(const std::vector<v1::LayerSpec> layers, ResolveModelLayers(model));
  return TranslateLayers(layers);
}

Status ValidateJobSpec(const v1::JobSpec& spec, const ImageShape& input, int num_classes) {
  return TranslateValidJobSpec(spec, input, num_classes).status();
}

StatusOr<JobModel> TranslateValidJobSpec(const v1::JobSpec& spec, const ImageShape& input, int num_classes) {
  JobModel model;
  std::vector<LayerConfig>& layers = model.layers;
  if (spec.model().onnx().empty()) {
    QATLAB_ASSIGN_OR_RETURN(layers, TranslateModel(spec.model()));
    model.name = spec.model().layers_size() > 0 ? "custom" : spec.model().preset();
  } else {
    QATLAB_RETURN_IF_ERROR(CheckOneModel(spec.model()));
    QATLAB_ASSIGN_OR_RETURN(ImportedModel imported, ImportJobOnnxModel(spec.model()));
    const std::string label = "model.onnx '" + FileName(spec.model().onnx()) + "'";
    if (!(imported.input == input)) {
      return Status::InvalidArgument(
          label + ": the model's input is " + ShapeText(imported.input) + " (HWC; NCHW [" +
          std::to_string(imported.input.channels) + ", " + std::to_string(imported.input.height) + ", " +
          std::to_string(imported.input.width) + "]) but the data's images are " + ShapeText(input));
    }
    if (imported.num_classes != num_classes) {
      return Status::InvalidArgument(label + ": the model has " + std::to_string(imported.num_classes) +
                                     " outputs but the data has " + std::to_string(num_classes) + " classes");
    }
    layers = std::move(imported.layers);
    model.weights = std::move(imported.weights);
    model.name = "onnx:" + FileName(spec.model().onnx());
  }
  QATLAB_RETURN_IF_ERROR(ValidateTranslatedJobSpec(spec, &layers));
  if (input.size() <= 0) return Status::InvalidArgument("data: empty input shape " + ShapeText(input));
  std::vector<ImageShape> shapes;
  QATLAB_RETURN_IF_ERROR(InferLayerShapes(layers, input, &shapes));
  const ImageShape& out = shapes.back();
  if (out.size() != num_classes) {
    return Status::InvalidArgument(LayerLabel(layers.back(), static_cast<int>(layers.size()) - 1) +
                                   ": the model ends with " + std::to_string(out.size()) + " outputs (" +
                                   ShapeText(out) + ") but the data has " + std::to_string(num_classes) + " classes");
  }
  if (num_classes < 2 || num_classes > 127) {
    return Status::InvalidArgument("data: " + std::to_string(num_classes) + " classes is outside 2..127");
  }
  return model;
}

}  // namespace qatlab
