// Sweep ids on the command line: telling one from a job id, and resolving a
// sweep to its jobs, for every command that accepts either (ls, show,
// compare, cancel; and watch, to follow all of a sweep).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "qatlab/v1/experiment.grpc.pb.h"
#include "status/status.h"

namespace qatlab {

// Sweep ids start "s-", job ids "j-" (the server's store makes both).
inline bool IsSweepId(std::string_view id) { return id.starts_with("s-"); }

// The sweep and its jobs (GetSweep): baselines first, then the grid's jobs
// in grid order. Errors: the RPC's, as FromRpcStatus gives them (NotFound for
// an unknown sweep).
StatusOr<v1::SweepStatus> FetchSweep(v1::ExperimentService::StubInterface& stub, const std::string& token,
                                     int timeout_ms, const std::string& sweep_id);

// The ids of the sweep's jobs, in FetchSweep's order.
StatusOr<std::vector<std::string>> ResolveSweepJobIds(v1::ExperimentService::StubInterface& stub,
                                                      const std::string& token, int timeout_ms,
                                                      const std::string& sweep_id);

// `ids` with every sweep id replaced by its jobs' ids (ResolveSweepJobIds),
// in order; job ids pass through unchanged.
StatusOr<std::vector<std::string>> ExpandSweepIds(v1::ExperimentService::StubInterface& stub, const std::string& token,
                                                  int timeout_ms, const std::vector<std::string>& ids);

}  // namespace qatlab
