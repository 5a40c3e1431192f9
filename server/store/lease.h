// The lease mechanism the job queue (JobStore: jobs leased by workers) and the
// measurement queue (DeviceStore: measurements leased by devices) share.
//
// A lease is one holder's claim on one row: the row is RUNNING under a random
// lease id until a deadline that the holder's heartbeats push forward. The
// rules, in this one place:
//   Grant       QUEUED -> RUNNING: attempt + 1, the holder, a new lease id
//               bound to the caller's token, deadline = now + lease_ms
//   Extend      a heartbeat of the current lease: deadline = now + lease_ms
//   Check       only the current lease of a RUNNING row may change it; any
//               other lease is stale: FailedPrecondition, nothing changes.
//               The current lease presented with another token than the one
//               that took it: PermissionDenied, nothing changes
//   GiveBack    RUNNING -> QUEUED without counting the attempt (a holder
//               shutting down); holder, lease and binding cleared
//   Finish      RUNNING -> SUCCEEDED, FAILED or CANCELLED; holder and lease id
//               stay as the record of who ran it
//   ExpireDue   RUNNING past the deadline -> CANCELLED when a cancel was
//               requested, FAILED once attempt reached max_attempts, else
//               QUEUED (attempt counted; holder, lease and binding cleared)
// and holders heartbeat every HeartbeatIntervalMs(lease_ms).
//
// Holder binding: a lease id is a capability, and a worker that learns
// another's (from a log, a shared volume) must not report on it. Grant writes,
// in the same UPDATE that grants the lease, the binding "<lease id> <token
// digest>" (the digest of the caller's token, never the token) into the
// row's lease_binding column, so the binding is as durable as the lease: it
// holds across server restarts. An open server (token digest "") binds
// nothing and checks nothing. Callers that share one token (a server's local
// workers; a Deployment's replicas reading one Secret) are one holder. A
// lease granted before migration 0007, or by code older than it (whose
// binding, if any, names another lease), is unbound: any token may use it
// until it ends.
//
// A leased table has the columns seq (INTEGER PRIMARY KEY), id, state,
// attempt, max_attempts, <holder column>, lease_id, lease_binding,
// lease_deadline_unix_ms, error, started_unix_ms and finished_unix_ms (and
// cancel_requested when a cancel of a running row waits for its holder);
// LeaseSchema names the table, the holder column and how the state column
// spells each state.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "server/store/database.h"
#include "server/store/random_tokens.h"
#include "status/status.h"

namespace qatlab::server {

// A cancel reaches a worker only in the reply to a heartbeat, and a worker
// promises to stop within a second of a cancel (docs/api.md).
inline constexpr int64_t kCancelLatencyMs = 1000;

// How often the holder of a lease lasting `lease_ms` should heartbeat: at
// most kCancelLatencyMs, so a cancel is heard in time, and at most a quarter
// of the lease, so a lease survives a lost or late beat or two. At least 1.
int64_t HeartbeatIntervalMs(int64_t lease_ms);

struct LeaseSchema {
  std::string table;          // "jobs"
  std::string noun;           // "job", as error messages name a row
  std::string holder_column;  // "worker_id"
  std::string holder_noun;    // "worker", as expiry reasons name a holder
  // How the state column spells each state, as SQL literals ("2",
  // "'RUNNING'"): literals rather than parameters, so SQLite uses the partial
  // indexes that say `state = 2`.
  std::string queued;
  std::string running;
  std::string succeeded;
  std::string failed;
  // Empty: rows are never cancelled.
  std::string cancelled;
  // Whether the table has a cancel_requested column: a cancel of a RUNNING
  // row is only requested, and the holder ends the row when a heartbeat tells
  // it (jobs), or the expiry rules above do once its lease expires. Without
  // it a cancel ends the row at once (Finish with kCancelled; measurements).
  // REQUIRES: `cancelled` not empty when true.
  bool cancel_requested_column = false;
};

// A lease as a caller presents it.
struct LeaseClaim {
  std::string lease_id;
  // The digest of the caller's token (TokenAuthenticator::Holder); "" on an
  // open server: binds nothing when granting, checks nothing when presented.
  std::string token_digest;
};

struct LeaseGrant {
  std::string lease_id;
  int64_t deadline_unix_ms = 0;
};

// What Check needs of a row, as its store read it.
struct LeasedRow {
  std::string id;
  bool running = false;
  std::string lease_id;    // the current (or last) lease
  std::string state_name;  // for messages: "SUCCEEDED"
  int attempt = 0;
  std::string binding;  // the lease_binding column
};

// PermissionDenied, naming no token, when `claim` names the row's lease
// (current or last) and that lease is bound to another token than the
// claim's; OK otherwise (whether the lease is current is CheckLease's).
Status CheckHolder(const LeasedRow& row, const LeaseClaim& claim);
// OK when `claim` is the current lease of `row`, the row is RUNNING and the
// lease is the claimant's (CheckHolder); PermissionDenied or
// FailedPrecondition ("lease … is not the current lease of <noun> …")
// otherwise. LeaseTable::Check for a table's own store; the Catalogue calls it
// directly for the jobs whose artifacts it records.
Status CheckLease(const LeasedRow& row, const std::string& noun, const LeaseClaim& claim);

enum class LeaseEnd { kSucceeded, kFailed, kCancelled };

struct ExpiredLease {
  enum Outcome { kRequeued, kFailed, kCancelled };
  int64_t seq = 0;
  std::string id;
  Outcome outcome = kRequeued;
  std::string reason;  // "lease of worker w-1 expired (attempt 1 of 3)"
};

// The rules above, applied to the lease columns of one table. Holds no state
// of its own beyond its construction (the id source is thread-safe), so the
// store's lock on its connection is all it needs.
class LeaseTable {
 public:
  // `tokens` must outlive the table. REQUIRES: lease_ms > 0.
  LeaseTable(LeaseSchema schema, int64_t lease_ms, RandomTokens& tokens);

  int64_t heartbeat_interval_ms() const { return HeartbeatIntervalMs(lease_ms_); }

  // CheckLease for this table's rows.
  Status Check(const LeasedRow& row, const LeaseClaim& claim) const;
  // Whether `presented` is the current lease of a RUNNING row, the holder
  // aside (a heartbeat answers lease_lost rather than an error; it calls
  // CheckHolder first).
  bool IsCurrent(const LeasedRow& row, const std::string& presented) const {
    return row.running && row.lease_id == presented;
  }

  // The rest REQUIRE a transaction open on `db` and a row `seq` in the state
  // named (the caller read it in that transaction).
  // QUEUED -> RUNNING under a new lease to `holder`, bound to
  // `token_digest` ("" binds nothing), started now. On success *grant holds
  // the lease id and deadline.
  Status Grant(Database& db, int64_t seq, const std::string& holder, const std::string& token_digest, int64_t now,
               LeaseGrant* grant);
  // RUNNING: the deadline moves to now + lease_ms, stored in *deadline on
  // success.
  Status Extend(Database& db, int64_t seq, int64_t now, int64_t* deadline);
  // RUNNING -> QUEUED, attempt - 1, `error` recorded.
  Status GiveBack(Database& db, int64_t seq, std::string_view error);
  // RUNNING -> `end`, finished now. `error` replaces the row's; nullopt
  // keeps it. kCancelled on a table without cancel is an Internal error.
  Status Finish(Database& db, int64_t seq, LeaseEnd end, std::optional<std::string_view> error, int64_t now);
  // Every RUNNING row whose deadline passed (at most 500 per call, the
  // longest expired first), each handled as the rules above say.
  StatusOr<std::vector<ExpiredLease>> ExpireDue(Database& db, int64_t now);
  // Every RUNNING row `holder` holds, handled as if its deadline had passed
  // now: the holder is known to be gone (its process died). The reason reads
  // "<noun> <holder> <cause> (attempt N of M)".
  StatusOr<std::vector<ExpiredLease>> ExpireHeldBy(Database& db, const std::string& holder, std::string_view cause,
                                                   int64_t now);

 private:
  Status Requeue(Database& db, int64_t seq, std::string_view error, bool count_attempt);
  // ExpireDue and ExpireHeldBy: the rows `sql` selects with `key` bound as
  // ?1; an empty `cause` says the lease expired.
  template <typename Key>
  StatusOr<std::vector<ExpiredLease>> Expire(Database& db, const std::string& sql, const Key& key, int64_t now,
                                             std::string_view cause);

  const LeaseSchema schema_;
  const int64_t lease_ms_;
  RandomTokens& tokens_;
  // The statements, spelled once for this table.
  const std::string grant_sql_;
  const std::string extend_sql_;
  const std::string requeue_sql_;
  const std::string due_sql_;
  const std::string held_sql_;
};

}  // namespace qatlab::server
