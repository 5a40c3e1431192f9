// What the gRPC services share: the domain objects they delegate to and the
// limits they enforce. Owned by QatlabServer; the services hold references.
#pragma once

#include <atomic>
#include <cstdint>

#include "server/rpc/auth.h"
#include "server/rpc/submission_validation.h"
#include "server/store/artifact_store.h"
#include "server/store/catalogue.h"
#include "server/store/device_store.h"
#include "server/store/job_notifier.h"
#include "server/store/job_store.h"
#include "server/store/search_store.h"

namespace qatlab::server {

class SearchRunner;

struct ServiceLimits {
  int64_t max_upload_bytes = 256ll << 20;
  int max_lease_wait_ms = 10000;  // LeaseJob long polls are capped here
  SubmissionLimits submission;    // the size of a job spec and its model
};

struct ServiceDependencies {
  JobStore& store;
  Catalogue& catalogue;      // data sets and artifacts: rows
  ArtifactStore& artifacts;  // their bytes
  JobNotifier& notifier;
  const TokenAuthenticator& authenticator;
  ServiceLimits limits;
  // Set when the server begins to shut down: no new submissions or leases.
  const std::atomic<bool>& draining;
  // Devices and measurements; null: their RPCs answer UNIMPLEMENTED.
  DeviceStore* devices = nullptr;
  // Searches and the runner that drives them; null: their RPCs answer
  // UNIMPLEMENTED.
  SearchStore* searches = nullptr;
  SearchRunner* search_runner = nullptr;
};

}  // namespace qatlab::server
