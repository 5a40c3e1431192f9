// A sweep (qatlab.v1.SweepSpec, docs/sweeps.md) expanded into job specs: what
// the server's SubmitSweep stores. Reading a sweep file is
// engine/sweep_file.h (included here for callers that do both).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "engine/sweep_file.h"
#include "qatlab/v1/job.pb.h"
#include "status/status.h"

namespace qatlab {

inline constexpr int64_t kMaxSweepPoints = 10000;

// The jobs of one baseline: the float model they share, and the grid's
// points that start from it.
struct SweepGroup {
  // The baseline job's spec (float only: skip_ptq and skip_qat), or empty
  // when the sweep names an existing baseline (base.baseline_job).
  v1::JobSpec baseline;
  bool new_baseline = true;
  // One per grid point with this group's seed, in grid order; their
  // baseline_job is empty (the store fills in the new baseline's id) or
  // base.baseline_job.
  std::vector<v1::JobSpec> jobs;
};

struct SweepPlan {
  std::string name;
  int64_t points = 0;
  std::vector<SweepGroup> groups;  // one per distinct seed, in the seed axis's order
};

// Applies defaults to the base spec and expands the grid: one job per point
// (the product of every axis given; the uniform and per-layer bit widths are
// one axis), each with exactly one config named after the axes with more than one value
// ("w4a8_pt_mse_lr3e-04_e2_s2"), validated like a submitted job.
// Errors (InvalidArgument): no axis given ("grid is empty ..."), more than
// kMaxSweepPoints points (saying how many), more than one config in base, a
// seed axis together with base.baseline_job, an invalid job at a grid point
// (naming the point). Nothing partial is returned.
StatusOr<SweepPlan> ExpandSweep(const v1::SweepSpec& spec);

}  // namespace qatlab
