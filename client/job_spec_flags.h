// The job a `qatctl submit` describes: a job file (protobuf JSON of
// qatlab.v1.JobSpec) and/or flags for the common case. Flags given on the
// command line override the same fields of the file. Defaults not named here
// are left to the server, which applies them in one place.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "qatlab/v1/job.pb.h"
#include "status/status.h"

namespace qatlab {

struct SubmitFlags {
  std::string job_file;  // empty: flags only
  std::string preset;    // mlp | cnn | cnn_bn | ds_cnn
  std::string bits;      // "8,4" or "w4a8,w2a8" or "8:4:8" (per layer)
  std::optional<int> epochs;
  std::optional<int> qat_epochs;
  std::optional<int> batch_size;
  std::optional<double> learning_rate;
  std::optional<int> train_limit;
  std::optional<int> test_limit;
  std::optional<uint64_t> seed;
  std::optional<int> priority;
  std::optional<int> max_attempts;
  std::string experiment;
  std::vector<std::string> labels;  // "k=v"
  std::vector<std::string> measure_on;
  bool skip_ptq = false;
  bool skip_qat = false;
};

// Reads the job file (if any) and applies the flags. InvalidArgument names
// the file and the field when the JSON does not parse or a flag is malformed;
// IOError when the file cannot be read. Whether the values make sense is the
// server's to judge (it answers INVALID_ARGUMENT naming the field).
StatusOr<v1::JobSpec> BuildJobSpec(const SubmitFlags& flags);

// "8,4" -> w8a8, w4a8. Each item is one of: "8" (weights 8, activations 8),
// "w4a8", "w4" (activations 8), or per-layer weights "8:4:8" with optional
// "a8" suffix ("8:4:8a8"). Configuration names are left for the server to
// default ("w<bits>a<bits>").
StatusOr<std::vector<v1::QuantConfig>> ParseBitConfigs(const std::string& text);

// "key=value" -> {key, value}; the key must not be empty.
StatusOr<std::pair<std::string, std::string>> ParseLabel(const std::string& text);

// Reads a whole file; IOError naming the path on failure.
StatusOr<std::string> ReadFileBytes(const std::string& path);

}  // namespace qatlab
