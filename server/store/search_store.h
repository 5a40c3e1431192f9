// The searches the server runs (docs/search.md): one row per search holding
// its qatlab.v1.Search (parameters, step, progress, job ids, result). The
// store knows nothing of how a search runs; the server's SearchRunner
// (server/search_runner.h) drives it and records each step here.
//
// States (JobState values): Create -> QUEUED; Update -> RUNNING (or stays);
// Finish -> SUCCEEDED or FAILED; Cancel QUEUED or RUNNING -> CANCELLED. A
// finished search never changes again: Update and Finish of one are
// Cancelled ("search se-... was cancelled") or FailedPrecondition, which is
// how a running search learns it was cancelled.
//
// No gRPC. Its own connection to the server's database, like the Catalogue.
// Thread-safety: any thread; one mutex serialises use of the connection.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "qatlab/v1/resources.pb.h"
#include "server/store/clock.h"
#include "server/store/database.h"
#include "server/store/random_tokens.h"
#include "status/status.h"

namespace qatlab::server {

struct SearchStoreOptions {
  SyncMode sync = SyncMode::kNormal;
  int64_t max_database_bytes = 0;  // as JobStoreOptions::max_database_bytes
};

struct SearchPage {
  std::vector<v1::Search> searches;  // newest first, result_json cleared
  std::string next_page_token;       // empty on the last page
};

class SearchStore {
 public:
  // Opens the database at `db_path` and applies the embedded migrations, as
  // JobStore::Open does. `clock` must outlive the store.
  static StatusOr<std::unique_ptr<SearchStore>> Open(const std::string& db_path, const Clock& clock,
                                                     SearchStoreOptions options = {});

  // Stores `search` as a new QUEUED search with a fresh id, created_unix_ms
  // and, when timeout_seconds > 0, deadline_unix_ms = created_unix_ms +
  // timeout_seconds * 1000 (its other state fields cleared). With a
  // non-empty `idempotency_key` already used: the search stored then when
  // its parameters (spec, board_kind, budgets, candidates, rank_by,
  // timeout_seconds) equal these, AlreadyExists otherwise.
  StatusOr<v1::Search> Create(v1::Search search, const std::string& idempotency_key);
  StatusOr<v1::Search> Get(const std::string& id);  // NotFound naming the id
  // Newest first; InvalidArgument for a negative page size or a token this
  // store did not issue. page_size 0: 50; at most 500.
  StatusOr<SearchPage> List(int page_size, const std::string& page_token);
  // The QUEUED and RUNNING searches, oldest first: those to resume.
  StatusOr<std::vector<v1::Search>> Unfinished();

  // Applies `change` to the stored search and sets it RUNNING, in one
  // transaction. Cancelled when the search was cancelled, FailedPrecondition
  // when it finished otherwise; NotFound for an unknown id. `change` must not
  // touch id, state or the parameters.
  Status Update(const std::string& id, const std::function<void(v1::Search*)>& change);
  // RUNNING or QUEUED -> SUCCEEDED (with `result_json`) or FAILED (with
  // `error`); errors as Update.
  Status Finish(const std::string& id, v1::JobState state, const std::string& result_json, const std::string& error);
  // QUEUED or RUNNING -> CANCELLED; returns the search (its job_ids are the
  // jobs to cancel). FailedPrecondition once it has finished; NotFound.
  StatusOr<v1::Search> Cancel(const std::string& id);

 private:
  SearchStore(std::unique_ptr<Database> db, const Clock& clock) : clock_(clock), db_(std::move(db)) {}

  // REQUIRE mutex_ held and a transaction open.
  StatusOr<v1::Search> Load(const std::string& id);
  Status Store(const v1::Search& search);

  const Clock& clock_;
  RandomTokens tokens_;
  std::mutex mutex_;
  std::unique_ptr<Database> db_;  // guarded by mutex_
};

}  // namespace qatlab::server
