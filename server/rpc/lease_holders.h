// Which worker token took each lease: a lease id is a capability, and a
// worker that learns another's (from a log, a shared volume) must not report
// on it. LeaseJob and LeaseMeasurement record the caller's token; heartbeats,
// completions, failures and uploads from any other token are refused with
// PERMISSION_DENIED.
//
// Held in memory, not in the database: after a server restart the leases
// granted before it are not bound (any worker token may report on them, as
// before) until they end; every new lease is. A server without tokens binds
// nothing (there is no one to tell apart). Workers that share one token (the
// local workers; a Deployment's replicas reading one Secret) are one holder.
// Thread-safety: every method may be called from any thread.
#pragma once

#include <grpcpp/support/status.h>

#include <cstddef>
#include <deque>
#include <mutex>
#include <string>
#include <unordered_map>

namespace qatlab::server {

class LeaseHolders {
 public:
  // At most `capacity` leases are remembered; the oldest are forgotten first
  // (a lease lasts seconds to minutes; a worker holds one at a time).
  explicit LeaseHolders(size_t capacity = 1 << 16) : capacity_(capacity) {}

  // Records that `holder` (a token's digest; "" when the server is open)
  // took `lease_id`.
  void Grant(const std::string& lease_id, const std::string& holder);
  // OK when `caller` took `lease_id` or the lease is not bound (see above);
  // PERMISSION_DENIED otherwise, naming neither token.
  grpc::Status Check(const std::string& lease_id, const std::string& caller) const;
  // Forgets `lease_id` (it ended).
  void Forget(const std::string& lease_id);

 private:
  const size_t capacity_;
  mutable std::mutex mutex_;
  std::unordered_map<std::string, std::string> holders_;  // lease id -> holder; guarded by mutex_
  std::deque<std::string> order_;                         // lease ids, oldest first; guarded by mutex_
};

}  // namespace qatlab::server
