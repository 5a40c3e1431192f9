#include "engine/sweep_file.h"

#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/json_util.h>

#include <algorithm>
#include <cctype>

namespace qatlab {
namespace {

// The grid's axes as the JSON names them (snake_case, and protobuf's
// lowerCamelCase form).
const std::vector<std::string>& AxisNames() {
  static const std::vector<std::string> names = {
      "weight_bits", "layer_weight_bits", "per_tensor", "symmetric_activations",
      "ptq_method",  "qat_learning_rate", "qat_epochs", "seed"};
  return names;
}

std::string LowerCamel(const std::string& name) {
  std::string out;
  bool upper = false;
  for (char c : name) {
    if (c == '_') {
      upper = true;
    } else {
      out += upper ? static_cast<char>(std::toupper(static_cast<unsigned char>(c))) : c;
      upper = false;
    }
  }
  return out;
}

std::string OneLine(std::string message) {
  std::replace(message.begin(), message.end(), '\n', ' ');
  while (!message.empty() && (message.back() == ' ' || message.back() == '^')) message.pop_back();
  return message;
}

std::string JoinedAxisNames() {
  std::string out;
  for (const std::string& name : AxisNames()) out += (out.empty() ? "" : ", ") + name;
  return out;
}

}  // namespace

StatusOr<v1::SweepSpec> ParseSweepSpecJson(const std::string& json) {
  google::protobuf::Struct document;
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = false;
  if (auto status = google::protobuf::util::JsonStringToMessage(json, &document, options); !status.ok()) {
    return Status::InvalidArgument("sweep JSON: " + OneLine(std::string(status.message())));
  }
  for (const auto& [key, value] : document.fields()) {
    if (key != "name" && key != "base" && key != "grid") {
      return Status::InvalidArgument("sweep JSON: unknown field '" + key + "' (fields: name, base, grid)");
    }
  }
  const auto grid = document.fields().find("grid");
  if (grid != document.fields().end() && grid->second.has_struct_value()) {
    for (const auto& [key, values] : grid->second.struct_value().fields()) {
      const std::string& axis = key;  // a plain reference: lambdas may not capture a structured binding (C++17)
      const auto& names = AxisNames();
      const bool known = std::any_of(names.begin(), names.end(),
                                     [&](const std::string& name) { return axis == name || axis == LowerCamel(name); });
      if (!known) {
        return Status::InvalidArgument("grid: unknown axis '" + axis + "' (axes: " + JoinedAxisNames() + ")");
      }
      if (!values.has_list_value()) {
        return Status::InvalidArgument("grid." + axis + ": must be a list of values");
      }
    }
  }
  if (grid != document.fields().end() && grid->second.has_struct_value()) {
    // A per-layer list is written as a plain list ([[8, 4, 4, 8], ...]); the
    // message wraps each in a LayerBits.
    auto* axes = (*document.mutable_fields())["grid"].mutable_struct_value()->mutable_fields();
    for (const char* name : {"layer_weight_bits", "layerWeightBits"}) {
      auto axis = axes->find(name);
      if (axis == axes->end()) continue;
      for (google::protobuf::Value& value : *axis->second.mutable_list_value()->mutable_values()) {
        if (!value.has_list_value()) {
          return Status::InvalidArgument(std::string("grid.") + name +
                                         ": each value is a list of bit widths, one "
                                         "per weighted layer ([[8, 4, 4, 8], ...])");
        }
        google::protobuf::Value wrapped;
        (*wrapped.mutable_struct_value()->mutable_fields())["bits"] = value;
        value = std::move(wrapped);
      }
    }
  }
  v1::SweepSpec spec;
  const auto base = document.fields().find("base");
  if (base != document.fields().end()) {
    // The base is a job spec: read by the job reader, with its checks.
    std::string base_json;
    (void)google::protobuf::util::MessageToJsonString(base->second, &base_json);
    if (auto status = google::protobuf::util::JsonStringToMessage(base_json, spec.mutable_base(), options);
        !status.ok()) {
      return Status::InvalidArgument("base: " + OneLine(std::string(status.message())));
    }
    // As in a job file: an explicit 0 would silently read as the default.
    if (base->second.has_struct_value()) {
      const auto& fields = base->second.struct_value().fields();
      for (const char* section : {"training", "qat"}) {
        auto found = fields.find(section);
        if (found == fields.end() || !found->second.has_struct_value()) continue;
        auto epochs = found->second.struct_value().fields().find("epochs");
        const bool onnx_training = std::string(section) == "training" && !spec.base().model().onnx().empty();
        if (epochs != found->second.struct_value().fields().end() && epochs->second.has_number_value() &&
            epochs->second.number_value() == 0 && !onnx_training) {
          return Status::InvalidArgument(std::string("base.") + section +
                                         ".epochs: 0 would mean the default; leave it out for the default");
        }
      }
    }
  }
  google::protobuf::Struct rest = document;
  rest.mutable_fields()->erase("base");
  std::string rest_json;
  (void)google::protobuf::util::MessageToJsonString(rest, &rest_json);
  v1::SweepSpec without_base;
  if (auto status = google::protobuf::util::JsonStringToMessage(rest_json, &without_base, options); !status.ok()) {
    return Status::InvalidArgument("sweep JSON: " + OneLine(std::string(status.message())));
  }
  spec.set_name(without_base.name());
  *spec.mutable_grid() = without_base.grid();
  return spec;
}

const std::vector<std::string>& SweepAxisNames() { return AxisNames(); }

}  // namespace qatlab
