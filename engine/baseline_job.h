// A job that starts from another job's float model (JobSpec.baseline_job):
// what makes a job a valid baseline for another. Shared by the server (at
// submission) and the engine's sweep expansion.
#pragma once

#include <string>

#include "qatlab/v1/job.pb.h"
#include "status/status.h"

namespace qatlab {

// OK when `baseline` (the spec of job `baseline_id`) trains the float model
// `dependent` would train: the same model, data, training and seed, and it
// trains its own (names no baseline_job itself). Both specs with defaults
// applied. Errors: InvalidArgument naming the baseline and the first field
// that differs ("baseline_job j-...: training.learning_rate differs (0.001
// here, 0.002 in the baseline)").
Status CheckBaselineCompatible(const v1::JobSpec& dependent, const std::string& baseline_id,
                               const v1::JobSpec& baseline);

}  // namespace qatlab
