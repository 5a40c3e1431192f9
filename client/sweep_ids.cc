#include "client/sweep_ids.h"

#include "server_client/rpc_status.h"
#include "server_client/server_link.h"

namespace qatlab {

StatusOr<v1::SweepStatus> FetchSweep(v1::ExperimentService::StubInterface& stub, const std::string& token,
                                     int timeout_ms, const std::string& sweep_id) {
  grpc::ClientContext context;
  PrepareCall(&context, token, timeout_ms);
  v1::GetSweepRequest request;
  request.set_id(sweep_id);
  v1::SweepStatus response;
  grpc::Status status = stub.GetSweep(&context, request, &response);
  if (!status.ok()) return FromRpcStatus(status, "GetSweep " + sweep_id);
  return response;
}

StatusOr<std::vector<std::string>> ResolveSweepJobIds(v1::ExperimentService::StubInterface& stub,
                                                      const std::string& token, int timeout_ms,
                                                      const std::string& sweep_id) {
  QATLAB_ASSIGN_OR_RETURN(v1::SweepStatus sweep, FetchSweep(stub, token, timeout_ms, sweep_id));
  std::vector<std::string> ids;
  for (const v1::Job& job : sweep.jobs()) ids.push_back(job.id());
  return ids;
}

StatusOr<std::vector<std::string>> ExpandSweepIds(v1::ExperimentService::StubInterface& stub, const std::string& token,
                                                  int timeout_ms, const std::vector<std::string>& ids) {
  std::vector<std::string> expanded;
  for (const std::string& id : ids) {
    if (!IsSweepId(id)) {
      expanded.push_back(id);
      continue;
    }
    QATLAB_ASSIGN_OR_RETURN(std::vector<std::string> jobs, ResolveSweepJobIds(stub, token, timeout_ms, id));
    expanded.insert(expanded.end(), jobs.begin(), jobs.end());
  }
  return expanded;
}

}  // namespace qatlab
