#include "server/store/search_store.h"

#include <google/protobuf/util/message_differencer.h>

#include <fmt/format.h>

#include <algorithm>
#include <charconv>

#include "server/store/migrations.h"

namespace qatlab::server {

namespace {

constexpr size_t kSearchIdChars = 12;

bool IsFinal(v1::JobState state) { return state != v1::QUEUED && state != v1::RUNNING; }

Status NoSuchSearch(const std::string& id) { return Status::NotFound(fmt::format("search {} not found", id)); }

// The error of a change to a finished search.
Status Finished(const v1::Search& search) {
  if (search.state() == v1::CANCELLED) return Status::Cancelled(fmt::format("search {} was cancelled", search.id()));
  return Status::FailedPrecondition(
      fmt::format("search {} has already finished ({})", search.id(), v1::JobState_Name(search.state())));
}

bool SameParameters(const v1::Search& a, const v1::Search& b) {
  using google::protobuf::util::MessageDifferencer;
  return MessageDifferencer::Equals(a.spec(), b.spec()) && a.board_kind() == b.board_kind() &&
         MessageDifferencer::Equals(a.budgets(), b.budgets()) && a.candidates() == b.candidates() &&
         a.rank_by() == b.rank_by() && a.timeout_seconds() == b.timeout_seconds();
}

StatusOr<v1::Search> Parse(const std::string& bytes, const std::string& id) {
  v1::Search search;
  if (!search.ParseFromString(bytes)) return Status::Internal(fmt::format("search {}: stored record is corrupt", id));
  return search;
}

}  // namespace

StatusOr<std::unique_ptr<SearchStore>> SearchStore::Open(const std::string& db_path, const Clock& clock,
                                                         SearchStoreOptions options) {
  QATLAB_ASSIGN_OR_RETURN(std::unique_ptr<Database> db,
                          Database::Open(db_path, options.sync, options.max_database_bytes));
  QATLAB_RETURN_IF_ERROR(ApplyMigrations(*db, EmbeddedMigrations()));
  return std::unique_ptr<SearchStore>(new SearchStore(std::move(db), clock));
}

StatusOr<v1::Search> SearchStore::Load(const std::string& id) {
  Statement s = db_->Prepare("SELECT search FROM searches WHERE id = ?1");
  s.Bind(1, id);
  if (!s.Step()) {
    QATLAB_RETURN_IF_ERROR(s.status());
    return NoSuchSearch(id);
  }
  return Parse(s.ColumnBlob(0), id);
}

Status SearchStore::Store(const v1::Search& search) {
  Statement s = db_->Prepare("UPDATE searches SET state = ?2, search = ?3, updated_unix_ms = ?4 WHERE id = ?1");
  s.Bind(1, search.id()).Bind(2, static_cast<int>(search.state()));
  s.BindBlob(3, search.SerializeAsString()).Bind(4, clock_.NowUnixMs());
  return s.Run();
}

StatusOr<v1::Search> SearchStore::Create(v1::Search search, const std::string& idempotency_key) {
  std::lock_guard lock(mutex_);
  Transaction transaction(*db_);
  QATLAB_RETURN_IF_ERROR(transaction.status());
  if (!idempotency_key.empty()) {
    Statement existing = db_->Prepare("SELECT id, search FROM searches WHERE idempotency_key = ?1");
    existing.Bind(1, idempotency_key);
    if (existing.Step()) {
      QATLAB_ASSIGN_OR_RETURN(v1::Search found, Parse(existing.ColumnBlob(1), existing.ColumnText(0)));
      // The same key with other parameters is a client bug, not a retry.
      if (!SameParameters(found, search)) {
        return Status::AlreadyExists(fmt::format(
            "idempotency_key '{}' was used for search {} with a different request; use a new key for a new search",
            idempotency_key.substr(0, 64), found.id()));
      }
      return found;
    }
    QATLAB_RETURN_IF_ERROR(existing.status());
  }
  const int64_t now = clock_.NowUnixMs();
  search.set_id("se-" + tokens_.Next(kSearchIdChars));
  search.set_state(v1::QUEUED);
  search.clear_step();
  search.clear_progress();
  search.clear_error();
  search.clear_sensitivity_job_id();
  search.clear_job_ids();
  search.clear_result_json();
  search.set_created_unix_ms(now);
  search.set_deadline_unix_ms(search.timeout_seconds() > 0 ? now + search.timeout_seconds() * 1000 : 0);
  search.set_finished_unix_ms(0);
  Statement insert = db_->Prepare(
      "INSERT INTO searches (id, state, search, idempotency_key, created_unix_ms, updated_unix_ms) "
      "VALUES (?1, ?2, ?3, ?4, ?5, ?5)");
  insert.Bind(1, search.id()).Bind(2, static_cast<int>(search.state())).BindBlob(3, search.SerializeAsString());
  if (idempotency_key.empty()) {
    insert.BindNull(4);
  } else {
    insert.Bind(4, idempotency_key);
  }
  insert.Bind(5, now);
  QATLAB_RETURN_IF_ERROR(insert.Run());
  QATLAB_RETURN_IF_ERROR(transaction.Commit());
  return search;
}

StatusOr<v1::Search> SearchStore::Get(const std::string& id) {
  std::lock_guard lock(mutex_);
  return Load(id);
}

StatusOr<SearchPage> SearchStore::List(int page_size, const std::string& page_token) {
  if (page_size < 0) return Status::InvalidArgument(fmt::format("page_size: {} is negative", page_size));
  const int limit = page_size == 0 ? 50 : std::min(page_size, 500);
  int64_t before = INT64_MAX;
  if (!page_token.empty()) {
    auto [end, error] = std::from_chars(page_token.data(), page_token.data() + page_token.size(), before);
    if (error != std::errc() || end != page_token.data() + page_token.size() || before <= 0) {
      return Status::InvalidArgument(
          fmt::format("page_token: '{}' is not a token this server issued", page_token.substr(0, 64)));
    }
  }
  std::lock_guard lock(mutex_);
  Statement s = db_->Prepare("SELECT seq, id, search FROM searches WHERE seq < ?1 ORDER BY seq DESC LIMIT ?2");
  s.Bind(1, before).Bind(2, limit + 1);
  SearchPage page;
  int64_t last_seq = 0;
  while (s.Step()) {
    if (static_cast<int>(page.searches.size()) == limit) {
      page.next_page_token = std::to_string(last_seq);
      break;
    }
    last_seq = s.ColumnInt(0);
    QATLAB_ASSIGN_OR_RETURN(v1::Search search, Parse(s.ColumnBlob(2), s.ColumnText(1)));
    search.clear_result_json();
    page.searches.push_back(std::move(search));
  }
  QATLAB_RETURN_IF_ERROR(s.status());
  return page;
}

StatusOr<std::vector<v1::Search>> SearchStore::Unfinished() {
  std::lock_guard lock(mutex_);
  Statement s = db_->Prepare("SELECT id, search FROM searches WHERE state IN (?1, ?2) ORDER BY seq");
  s.Bind(1, static_cast<int>(v1::QUEUED)).Bind(2, static_cast<int>(v1::RUNNING));
  std::vector<v1::Search> searches;
  while (s.Step()) {
    QATLAB_ASSIGN_OR_RETURN(v1::Search search, Parse(s.ColumnBlob(1), s.ColumnText(0)));
    searches.push_back(std::move(search));
  }
  QATLAB_RETURN_IF_ERROR(s.status());
  return searches;
}

Status SearchStore::Update(const std::string& id, const std::function<void(v1::Search*)>& change) {
  std::lock_guard lock(mutex_);
  Transaction transaction(*db_);
  QATLAB_RETURN_IF_ERROR(transaction.status());
  QATLAB_ASSIGN_OR_RETURN(v1::Search search, Load(id));
  if (IsFinal(search.state())) return Finished(search);
  change(&search);
  search.set_state(v1::RUNNING);
  QATLAB_RETURN_IF_ERROR(Store(search));
  return transaction.Commit();
}

Status SearchStore::Finish(const std::string& id, v1::JobState state, const std::string& result_json,
                           const std::string& error) {
  if (state != v1::SUCCEEDED && state != v1::FAILED) {
    return Status::InvalidArgument(
        fmt::format("a search finishes SUCCEEDED or FAILED, not {}", v1::JobState_Name(state)));
  }
  std::lock_guard lock(mutex_);
  Transaction transaction(*db_);
  QATLAB_RETURN_IF_ERROR(transaction.status());
  QATLAB_ASSIGN_OR_RETURN(v1::Search search, Load(id));
  if (IsFinal(search.state())) return Finished(search);
  search.set_state(state);
  search.set_result_json(result_json);
  search.set_error(error);
  search.set_finished_unix_ms(clock_.NowUnixMs());
  QATLAB_RETURN_IF_ERROR(Store(search));
  QATLAB_RETURN_IF_ERROR(transaction.Commit());
  return Status::Ok();
}

StatusOr<v1::Search> SearchStore::Cancel(const std::string& id) {
  std::lock_guard lock(mutex_);
  Transaction transaction(*db_);
  QATLAB_RETURN_IF_ERROR(transaction.status());
  QATLAB_ASSIGN_OR_RETURN(v1::Search search, Load(id));
  if (IsFinal(search.state())) {
    return Status::FailedPrecondition(
        fmt::format("search {} has already finished ({})", id, v1::JobState_Name(search.state())));
  }
  search.set_state(v1::CANCELLED);
  search.set_error("cancelled");
  search.set_finished_unix_ms(clock_.NowUnixMs());
  QATLAB_RETURN_IF_ERROR(Store(search));
  QATLAB_RETURN_IF_ERROR(transaction.Commit());
  return search;
}

}  // namespace qatlab::server
