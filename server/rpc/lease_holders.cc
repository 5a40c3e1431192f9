#include "server/rpc/lease_holders.h"

namespace qatlab::server {

void LeaseHolders::Grant(const std::string& lease_id, const std::string& holder) {
  if (holder.empty()) return;
  std::lock_guard lock(mutex_);
  if (holders_.insert_or_assign(lease_id, holder).second) order_.push_back(lease_id);
  while (order_.size() > capacity_) {
    holders_.erase(order_.front());
    order_.pop_front();
  }
}

grpc::Status LeaseHolders::Check(const std::string& lease_id, const std::string& caller) const {
  std::lock_guard lock(mutex_);
  auto it = holders_.find(lease_id);
  if (it == holders_.end() || it->second == caller) return grpc::Status::OK;
  return grpc::Status(grpc::StatusCode::PERMISSION_DENIED,
                      "this lease was taken with another worker token: a worker may report only on the leases it "
                      "took itself");
}

void LeaseHolders::Forget(const std::string& lease_id) {
  std::lock_guard lock(mutex_);
  // The id stays in order_ until it is the oldest: erasing from the middle
  // of the deque would cost a scan, and a stale id there erases nothing.
  holders_.erase(lease_id);
}

}  // namespace qatlab::server
