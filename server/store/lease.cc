#include "server/store/lease.h"

#include <fmt/format.h>

#include <algorithm>
#include <utility>

namespace qatlab::server {

int64_t HeartbeatIntervalMs(int64_t lease_ms) { return std::max<int64_t>(1, std::min(kCancelLatencyMs, lease_ms / 4)); }

LeaseTable::LeaseTable(LeaseSchema schema, int64_t lease_ms, RandomTokens& tokens)
    : schema_(std::move(schema)),
      lease_ms_(lease_ms),
      tokens_(tokens),
      grant_sql_(fmt::format("UPDATE {} SET state = {}, attempt = attempt + 1, {} = ?2, lease_id = ?3, "
                             "lease_deadline_unix_ms = ?4, started_unix_ms = ?5, lease_binding = ?6 WHERE seq = ?1",
                             schema_.table, schema_.running, schema_.holder_column)),
      extend_sql_(fmt::format("UPDATE {} SET lease_deadline_unix_ms = ?2 WHERE seq = ?1", schema_.table)),
      requeue_sql_(fmt::format("UPDATE {} SET state = {}, attempt = attempt - ?3, {} = '', lease_id = '', "
                               "lease_binding = '', error = ?2 WHERE seq = ?1",
                               schema_.table, schema_.queued, schema_.holder_column)),
      // Ordered by deadline, so the index on (…, lease_deadline_unix_ms) of
      // running rows serves both the filter and the order.
      due_sql_(fmt::format("SELECT seq, id, {}, attempt, max_attempts, {} FROM {} WHERE state = {} AND "
                           "lease_deadline_unix_ms < ?1 ORDER BY lease_deadline_unix_ms LIMIT 500",
                           schema_.holder_column, schema_.cancel_requested_column ? "cancel_requested" : "0",
                           schema_.table, schema_.running)),
      held_sql_(fmt::format("SELECT seq, id, {}, attempt, max_attempts, {} FROM {} WHERE state = {} AND {} = ?1",
                            schema_.holder_column, schema_.cancel_requested_column ? "cancel_requested" : "0",
                            schema_.table, schema_.running, schema_.holder_column)) {}

namespace {

// The lease_binding value: "<lease id> <token digest>"; "" binds nothing.
std::string Binding(const std::string& lease_id, const std::string& token_digest) {
  return token_digest.empty() ? std::string() : lease_id + " " + token_digest;
}

}  // namespace

Status CheckHolder(const LeasedRow& row, const LeaseClaim& claim) {
  // An open server checks nothing; a stale lease is CheckLease's to refuse.
  if (claim.token_digest.empty() || row.lease_id.empty() || row.lease_id != claim.lease_id) return Status::Ok();
  // Unbound: granted by an open server, before migration 0007, or by older
  // code that left another lease's binding behind.
  if (row.binding.size() <= row.lease_id.size() || row.binding.compare(0, row.lease_id.size(), row.lease_id) != 0 ||
      row.binding[row.lease_id.size()] != ' ') {
    return Status::Ok();
  }
  if (row.binding.compare(row.lease_id.size() + 1, std::string::npos, claim.token_digest) == 0) return Status::Ok();
  return Status::PermissionDenied(
      "this lease was taken with another worker token: a worker may report only on the leases it took itself");
}

Status CheckLease(const LeasedRow& row, const std::string& noun, const LeaseClaim& claim) {
  QATLAB_RETURN_IF_ERROR(CheckHolder(row, claim));
  if (row.running && row.lease_id == claim.lease_id) return Status::Ok();
  return Status::FailedPrecondition(fmt::format("lease {} is not the current lease of {} {} ({} is {}, attempt {})",
                                                claim.lease_id, noun, row.id, noun, row.state_name, row.attempt));
}

Status LeaseTable::Check(const LeasedRow& row, const LeaseClaim& claim) const {
  return CheckLease(row, schema_.noun, claim);
}

Status LeaseTable::Grant(Database& db, int64_t seq, const std::string& holder, const std::string& token_digest,
                         int64_t now, LeaseGrant* grant) {
  const std::string lease_id = "l-" + tokens_.Next(20);
  const int64_t deadline = now + lease_ms_;
  Statement update = db.Prepare(grant_sql_);
  update.Bind(1, seq).Bind(2, holder).Bind(3, lease_id).Bind(4, deadline).Bind(5, now);
  update.Bind(6, Binding(lease_id, token_digest));
  QATLAB_RETURN_IF_ERROR(update.Run());
  *grant = {lease_id, deadline};
  return Status::Ok();
}

Status LeaseTable::Extend(Database& db, int64_t seq, int64_t now, int64_t* deadline) {
  Statement update = db.Prepare(extend_sql_);
  update.Bind(1, seq).Bind(2, now + lease_ms_);
  QATLAB_RETURN_IF_ERROR(update.Run());
  *deadline = now + lease_ms_;
  return Status::Ok();
}

Status LeaseTable::Requeue(Database& db, int64_t seq, std::string_view error, bool count_attempt) {
  Statement update = db.Prepare(requeue_sql_);
  update.Bind(1, seq).Bind(2, error).Bind(3, count_attempt ? 0 : 1);
  return update.Run();
}

Status LeaseTable::GiveBack(Database& db, int64_t seq, std::string_view error) {
  return Requeue(db, seq, error, /*count_attempt=*/false);
}

Status LeaseTable::Finish(Database& db, int64_t seq, LeaseEnd end, std::optional<std::string_view> error, int64_t now) {
  if (end == LeaseEnd::kCancelled && schema_.cancelled.empty()) {
    return Status::Internal(fmt::format("a {} cannot be cancelled", schema_.noun));
  }
  const std::string& state = end == LeaseEnd::kSucceeded ? schema_.succeeded
                             : end == LeaseEnd::kFailed  ? schema_.failed
                                                         : schema_.cancelled;
  Statement update = db.Prepare(
      fmt::format("UPDATE {} SET state = {}, error = COALESCE(?2, error), finished_unix_ms = ?3 WHERE seq = ?1",
                  schema_.table, state));
  update.Bind(1, seq);
  if (error.has_value()) {
    update.Bind(2, *error);
  } else {
    update.BindNull(2);
  }
  update.Bind(3, now);
  return update.Run();
}

StatusOr<std::vector<ExpiredLease>> LeaseTable::ExpireDue(Database& db, int64_t now) {
  return Expire(db, due_sql_, now, now, "");
}

StatusOr<std::vector<ExpiredLease>> LeaseTable::ExpireHeldBy(Database& db, const std::string& holder,
                                                             std::string_view cause, int64_t now) {
  return Expire(db, held_sql_, holder, now, cause);
}

template <typename Key>
StatusOr<std::vector<ExpiredLease>> LeaseTable::Expire(Database& db, const std::string& sql, const Key& key,
                                                       int64_t now, std::string_view cause) {
  struct Due {
    int64_t seq = 0;
    std::string id;
    std::string holder;
    int attempt = 0;
    int max_attempts = 0;
    bool cancel_requested = false;
  };
  std::vector<Due> due;
  {
    Statement s = db.Prepare(sql);
    s.Bind(1, key);
    while (s.Step()) {
      due.push_back({s.ColumnInt(0), s.ColumnText(1), s.ColumnText(2), static_cast<int>(s.ColumnInt(3)),
                     static_cast<int>(s.ColumnInt(4)), s.ColumnInt(5) != 0});
    }
    QATLAB_RETURN_IF_ERROR(s.status());
  }
  std::vector<ExpiredLease> expired;
  expired.reserve(due.size());
  for (const Due& row : due) {
    ExpiredLease& e = expired.emplace_back();
    e.seq = row.seq;
    e.id = row.id;
    e.reason = cause.empty() ? fmt::format("lease of {} {} expired (attempt {} of {})", schema_.holder_noun, row.holder,
                                           row.attempt, row.max_attempts)
                             : fmt::format("{} {} {} (attempt {} of {})", schema_.holder_noun, row.holder, cause,
                                           row.attempt, row.max_attempts);
    if (row.cancel_requested) {
      // The holder can no longer be told; the user's cancel takes effect.
      e.outcome = ExpiredLease::kCancelled;
      QATLAB_RETURN_IF_ERROR(Finish(db, row.seq, LeaseEnd::kCancelled, std::nullopt, now));
    } else if (row.attempt >= row.max_attempts) {
      e.outcome = ExpiredLease::kFailed;
      QATLAB_RETURN_IF_ERROR(Finish(db, row.seq, LeaseEnd::kFailed, e.reason, now));
    } else {
      e.outcome = ExpiredLease::kRequeued;
      QATLAB_RETURN_IF_ERROR(Requeue(db, row.seq, e.reason, /*count_attempt=*/true));
    }
  }
  return expired;
}

}  // namespace qatlab::server
