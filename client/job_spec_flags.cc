#include "client/job_spec_flags.h"

#include <charconv>
#include <fstream>
#include <sstream>

#include <google/protobuf/util/json_util.h>

namespace qatlab {
namespace {

StatusOr<int> ParseBitWidth(std::string_view text, const std::string& item) {
  int value = 0;
  auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc() || end != text.data() + text.size() || text.empty()) {
    return Status::InvalidArgument("--bits: cannot read \"" + item + "\" (expected e.g. 8, w4a8 or 8:4:8)");
  }
  return value;
}

StatusOr<v1::QuantConfig> ParseOneConfig(const std::string& item) {
  std::string_view rest = item;
  if (!rest.empty() && rest.front() == 'w') rest.remove_prefix(1);
  std::string_view weights = rest;
  std::string_view activations;
  size_t a = rest.find('a');
  if (a != std::string_view::npos) {
    weights = rest.substr(0, a);
    activations = rest.substr(a + 1);
  }
  v1::QuantConfig config;
  if (weights.find(':') != std::string_view::npos) {
    size_t start = 0;
    while (start <= weights.size()) {
      size_t colon = weights.find(':', start);
      std::string_view part = weights.substr(start, colon == std::string_view::npos ? weights.npos : colon - start);
      QATLAB_ASSIGN_OR_RETURN(int bits, ParseBitWidth(part, item));
      config.add_layer_weight_bits(bits);
      if (colon == std::string_view::npos) break;
      start = colon + 1;
    }
  } else {
    QATLAB_ASSIGN_OR_RETURN(int bits, ParseBitWidth(weights, item));
    config.set_weight_bits(bits);
  }
  if (!activations.empty()) {
    QATLAB_ASSIGN_OR_RETURN(int bits, ParseBitWidth(activations, item));
    config.set_activation_bits(bits);
  } else {
    config.set_activation_bits(8);
  }
  return config;
}

}  // namespace

StatusOr<std::vector<v1::QuantConfig>> ParseBitConfigs(const std::string& text) {
  std::vector<v1::QuantConfig> configs;
  std::stringstream stream(text);
  std::string item;
  while (std::getline(stream, item, ',')) {
    if (item.empty()) continue;
    QATLAB_ASSIGN_OR_RETURN(v1::QuantConfig config, ParseOneConfig(item));
    configs.push_back(config);
  }
  if (configs.empty()) return Status::InvalidArgument("--bits: no bit configuration in \"" + text + "\"");
  return configs;
}

StatusOr<std::pair<std::string, std::string>> ParseLabel(const std::string& text) {
  size_t equals = text.find('=');
  if (equals == std::string::npos || equals == 0) {
    return Status::InvalidArgument("--label: expected key=value, got \"" + text + "\"");
  }
  return std::make_pair(text.substr(0, equals), text.substr(equals + 1));
}

StatusOr<std::string> ReadFileBytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::IOError("cannot read " + path);
  std::ostringstream contents;
  contents << in.rdbuf();
  if (in.bad()) return Status::IOError("error reading " + path);
  return contents.str();
}

StatusOr<v1::JobSpec> BuildJobSpec(const SubmitFlags& flags) {
  v1::JobSpec spec;
  if (!flags.job_file.empty()) {
    QATLAB_ASSIGN_OR_RETURN(std::string text, ReadFileBytes(flags.job_file));
    // protobuf's parser names the offending field ("Cannot find field: foo",
    // "Invalid value for enum field ...") and we add the file.
    google::protobuf::util::JsonParseOptions options;
    auto parsed = google::protobuf::util::JsonStringToMessage(text, &spec, options);
    if (!parsed.ok()) {
      return Status::InvalidArgument(flags.job_file + ": " + std::string(parsed.message()));
    }
  }
  if (!flags.preset.empty()) {
    // --preset replaces the file's model, whichever form it had.
    spec.mutable_model()->clear_layers();
    spec.mutable_model()->clear_onnx();
    spec.mutable_model()->set_preset(flags.preset);
  }
  if (!flags.bits.empty()) {
    QATLAB_ASSIGN_OR_RETURN(std::vector<v1::QuantConfig> configs, ParseBitConfigs(flags.bits));
    spec.clear_configs();
    for (auto& config : configs) *spec.add_configs() = config;
  }
  if (flags.epochs) spec.mutable_training()->set_epochs(*flags.epochs);
  if (flags.batch_size) spec.mutable_training()->set_batch_size(*flags.batch_size);
  if (flags.learning_rate) spec.mutable_training()->set_learning_rate(*flags.learning_rate);
  if (flags.qat_epochs) spec.mutable_qat()->set_epochs(*flags.qat_epochs);
  if (flags.train_limit) spec.mutable_data()->set_train_limit(*flags.train_limit);
  if (flags.test_limit) spec.mutable_data()->set_test_limit(*flags.test_limit);
  if (flags.seed) spec.set_seed(*flags.seed);
  if (flags.priority) spec.set_priority(*flags.priority);
  if (flags.max_attempts) spec.set_max_attempts(*flags.max_attempts);
  if (!flags.experiment.empty()) spec.set_experiment(flags.experiment);
  for (const auto& text : flags.labels) {
    QATLAB_ASSIGN_OR_RETURN(const auto label, ParseLabel(text));
    (*spec.mutable_labels())[label.first] = label.second;
  }
  for (const auto& board : flags.measure_on) spec.add_measure_on(board);
  if (flags.skip_ptq) spec.set_skip_ptq(true);
  if (flags.skip_qat) spec.set_skip_qat(true);
  if (flags.job_file.empty() && flags.preset.empty()) {
    return Status::InvalidArgument("submit: give a job file or --preset (e.g. --preset cnn --bits 8,4)");
  }
  return spec;
}

}  // namespace qatlab
