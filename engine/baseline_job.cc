#include "engine/baseline_job.h"

#include <google/protobuf/text_format.h>
#include <google/protobuf/util/field_comparator.h>
#include <google/protobuf/util/message_differencer.h>

namespace qatlab {
namespace {

using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using google::protobuf::util::MessageDifferencer;

// One line of text for a field's value (or "unset").
std::string ValueText(const Message& message, const FieldDescriptor* field) {
  const auto* reflection = message.GetReflection();
  if (!field->is_repeated() && !reflection->HasField(message, field)) return "unset";
  if (field->is_repeated() && reflection->FieldSize(message, field) == 0) return "empty";
  std::string text;
  google::protobuf::TextFormat::PrintFieldValueToString(message, field, field->is_repeated() ? 0 : -1, &text);
  if (field->is_repeated()) text = "[" + text + ", ...]";
  if (text.size() > 80) text = text.substr(0, 77) + "...";
  return text;
}

// The first field of `a` and `b` (messages of one type) that differs, as a
// dotted path with both values; empty when they are equal.
std::string FirstDifference(const Message& a, const Message& b, const std::string& prefix) {
  const auto* descriptor = a.GetDescriptor();
  for (int i = 0; i < descriptor->field_count(); ++i) {
    const FieldDescriptor* field = descriptor->field(i);
    const std::string path = prefix + field->name();
    const auto* ra = a.GetReflection();
    const auto* rb = b.GetReflection();
    if (field->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE && !field->is_repeated()) {
      std::string inner = FirstDifference(ra->GetMessage(a, field), rb->GetMessage(b, field), path + ".");
      if (!inner.empty()) return inner;
      continue;
    }
    MessageDifferencer differencer;
    std::vector<const FieldDescriptor*> only = {field};
    if (!differencer.CompareWithFields(a, b, only, only)) {
      return path + " differs (" + ValueText(a, field) + " here, " + ValueText(b, field) + " in the baseline)";
    }
  }
  return "";
}

}  // namespace

Status CheckBaselineCompatible(const v1::JobSpec& dependent, const std::string& baseline_id,
                               const v1::JobSpec& baseline) {
  const std::string what = "baseline_job " + baseline_id + ": ";
  if (!baseline.baseline_job().empty()) {
    return Status::InvalidArgument(what + "starts from baseline job " + baseline.baseline_job() +
                                   " itself; name that job instead");
  }
  // What the float training reads: the model, the data, the training and the
  // seed (the initialization and the shuffle).
  std::string difference = FirstDifference(dependent.model(), baseline.model(), "model.");
  if (difference.empty()) difference = FirstDifference(dependent.data(), baseline.data(), "data.");
  if (difference.empty()) difference = FirstDifference(dependent.training(), baseline.training(), "training.");
  if (difference.empty() && dependent.seed() != baseline.seed()) {
    difference = "seed differs (" + std::to_string(dependent.seed()) + " here, " + std::to_string(baseline.seed()) +
                 " in the baseline)";
  }
  if (!difference.empty()) {
    return Status::InvalidArgument(what + "trains another float model: " + difference);
  }
  return Status::Ok();
}

}  // namespace qatlab
