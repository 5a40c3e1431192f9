#include <fmt/format.h>

#include <charconv>
#include <map>
#include <utility>

#include "model_import/onnx_inspector.h"

namespace qatlab {

std::string FormatOnnxModelSummary(const OnnxModelSummary& summary) {
  return fmt::format(
      "input_height {}\ninput_width {}\ninput_channels {}\nnum_classes {}\nlayer_count {}\n"
      "parameters {}\nopset {}\n",
      summary.input.height, summary.input.width, summary.input.channels, summary.num_classes, summary.layer_count,
      summary.parameters, summary.opset);
}

StatusOr<OnnxModelSummary> ParseOnnxModelSummary(std::string_view text) {
  std::map<std::string, int64_t, std::less<>> values;
  while (!text.empty()) {
    const size_t end = text.find('\n');
    const std::string_view line = text.substr(0, end);
    text.remove_prefix(end == std::string_view::npos ? text.size() : end + 1);
    if (line.empty()) continue;
    const size_t space = line.find(' ');
    if (space == std::string_view::npos) return Status::InvalidArgument("a line without a value");
    int64_t value = 0;
    const std::string_view number = line.substr(space + 1);
    const auto [rest, error] = std::from_chars(number.data(), number.data() + number.size(), value);
    if (error != std::errc() || rest != number.data() + number.size()) {
      return Status::InvalidArgument(fmt::format("'{}' is not a number", number));
    }
    values[std::string(line.substr(0, space))] = value;
  }
  OnnxModelSummary summary;
  const std::pair<const char*, int64_t*> wide[] = {{"parameters", &summary.parameters}, {"opset", &summary.opset}};
  const std::pair<const char*, int*> narrow[] = {{"input_height", &summary.input.height},
                                                 {"input_width", &summary.input.width},
                                                 {"input_channels", &summary.input.channels},
                                                 {"num_classes", &summary.num_classes},
                                                 {"layer_count", &summary.layer_count}};
  for (const auto& [key, field] : wide) {
    auto found = values.find(key);
    if (found == values.end()) return Status::InvalidArgument(fmt::format("no {}", key));
    *field = found->second;
  }
  for (const auto& [key, field] : narrow) {
    auto found = values.find(key);
    if (found == values.end()) return Status::InvalidArgument(fmt::format("no {}", key));
    *field = static_cast<int>(found->second);
  }
  return summary;
}

}  // namespace qatlab
