// How a job's run record (v1::RunRecord) reads in `qatctl show`.
#pragma once

#include <string>

#include "qatlab/v1/job.pb.h"

namespace qatlab {

// Lines after a "run:" heading: engine version, seed, threads, worker and
// attempt, then one line per input (role, source, sha256) and per model
// (name, size, sha256). Empty for an empty record.
std::string RenderRunRecord(const v1::RunRecord& record);

}  // namespace qatlab
