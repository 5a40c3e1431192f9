// What the server checks before a job is accepted: the engine's cheap spec
// validation (no data needed) plus the server's own rules (attempt limits,
// labels, references to uploaded data sets). Nothing is stored on failure.
#pragma once

#include <functional>
#include <string>

#include "qatlab/v1/job.pb.h"
#include "status/status.h"

namespace qatlab::server {

// Data paths of the form "dataset:<name>" name a data set uploaded with
// UploadDataset; the worker fetches it with FetchDataset.
inline constexpr const char* kDatasetReferencePrefix = "dataset:";

// Applies the documented defaults to `spec` and validates it. On failure
// returns InvalidArgument naming the field; `spec` may be partly defaulted.
// `dataset_exists` answers whether an uploaded data set of that name exists.
Status PrepareSubmission(v1::JobSpec* spec, const std::function<bool(const std::string&)>& dataset_exists);

}  // namespace qatlab::server
