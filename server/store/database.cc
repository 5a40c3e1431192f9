#include "server/store/database.h"

#include <sqlite3.h>

#include <fmt/format.h>

#include <algorithm>

namespace qatlab::server {

namespace {
// Long enough that a checkpoint or a reader holding the file never surfaces as
// "database is locked"; the server is the only writer, so waits are short.
constexpr int kBusyTimeoutMs = 10000;

// The one table from SQLite's result codes to Status codes (see database.h).
// Extended codes (SQLITE_IOERR_WRITE, ...) are grouped by their primary code.
Status SqliteStatus(int result_code, std::string message) {
  switch (result_code & 0xff) {
    case SQLITE_FULL:  // the disk, or the max_bytes quota, is full
    case SQLITE_NOMEM:
    case SQLITE_TOOBIG: return Status::ResourceExhausted(std::move(message));
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB: return Status::Corruption(std::move(message));
    case SQLITE_BUSY:
    case SQLITE_LOCKED: return Status::Unavailable(std::move(message));
    case SQLITE_IOERR:
    case SQLITE_CANTOPEN:
    case SQLITE_READONLY:
    case SQLITE_PERM: return Status::IOError(std::move(message));
    case SQLITE_INTERRUPT: return Status::Cancelled(std::move(message));
    default:  // misuse, constraint, schema, ...: a fault in our own SQL
      return Status::Internal(std::move(message));
  }
}

}  // namespace

// --- Statement ---

Statement::Statement(Statement&& other) noexcept
    : db_(other.db_), stmt_(other.stmt_), status_(std::move(other.status_)) {
  other.stmt_ = nullptr;
}

Statement::~Statement() {
  if (stmt_ != nullptr) {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
  }
}

void Statement::RecordError(const char* what, int result_code) {
  if (!status_.ok()) return;
  status_ = SqliteStatus(result_code, fmt::format("sqlite {} failed on {}: {} (sql: {})", what, db_->path(),
                                                  db_->ErrorMessage(), stmt_ != nullptr ? sqlite3_sql(stmt_) : "?"));
}

Statement& Statement::Bind(int index, int64_t value) {
  if (!status_.ok()) return *this;
  if (int rc = sqlite3_bind_int64(stmt_, index, value); rc != SQLITE_OK) RecordError("bind", rc);
  return *this;
}

Statement& Statement::Bind(int index, double value) {
  if (!status_.ok()) return *this;
  if (int rc = sqlite3_bind_double(stmt_, index, value); rc != SQLITE_OK) RecordError("bind", rc);
  return *this;
}

Statement& Statement::Bind(int index, std::string_view text) {
  if (!status_.ok()) return *this;
  if (int rc = sqlite3_bind_text64(stmt_, index, text.data(), text.size(), SQLITE_TRANSIENT, SQLITE_UTF8);
      rc != SQLITE_OK) {
    RecordError("bind", rc);
  }
  return *this;
}

Statement& Statement::BindBlob(int index, std::string_view bytes) {
  // A zero-length blob with a null pointer would bind NULL; keep it a blob.
  static const char kEmpty = 0;
  const void* data = bytes.empty() ? &kEmpty : bytes.data();
  if (!status_.ok()) return *this;
  if (int rc = sqlite3_bind_blob64(stmt_, index, data, bytes.size(), SQLITE_TRANSIENT); rc != SQLITE_OK) {
    RecordError("bind", rc);
  }
  return *this;
}

Statement& Statement::BindNull(int index) {
  if (!status_.ok()) return *this;
  if (int rc = sqlite3_bind_null(stmt_, index); rc != SQLITE_OK) RecordError("bind", rc);
  return *this;
}

bool Statement::Step() {
  if (!status_.ok()) return false;
  int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc != SQLITE_DONE) RecordError("step", rc);
  return false;
}

Status Statement::Run() {
  while (Step()) {
  }
  return status_;
}

int64_t Statement::ColumnInt(int column) const { return sqlite3_column_int64(stmt_, column); }
double Statement::ColumnDouble(int column) const { return sqlite3_column_double(stmt_, column); }

std::string Statement::ColumnText(int column) const {
  const unsigned char* text = sqlite3_column_text(stmt_, column);
  if (text == nullptr) return {};
  return std::string(reinterpret_cast<const char*>(text), sqlite3_column_bytes(stmt_, column));
}

std::string Statement::ColumnBlob(int column) const {
  const void* data = sqlite3_column_blob(stmt_, column);
  if (data == nullptr) return {};
  return std::string(static_cast<const char*>(data), sqlite3_column_bytes(stmt_, column));
}

bool Statement::ColumnIsNull(int column) const { return sqlite3_column_type(stmt_, column) == SQLITE_NULL; }

// --- Transaction ---

Transaction::Transaction(Database& db) : db_(db), begin_status_(db.Exec("BEGIN IMMEDIATE")) {
  done_ = !begin_status_.ok();
}

Transaction::~Transaction() {
  if (!done_) (void)db_.Exec("ROLLBACK");
}

Status Transaction::Commit() {
  if (done_) return begin_status_.ok() ? Status::FailedPrecondition("transaction already finished") : begin_status_;
  Status s = db_.Exec("COMMIT");
  if (!s.ok()) return s;  // the destructor rolls back
  done_ = true;
  for (std::function<void()>& action : after_commit_) action();
  after_commit_.clear();
  return s;
}

// --- Database ---

StatusOr<std::unique_ptr<Database>> Database::Open(const std::string& path, SyncMode sync, int64_t max_bytes) {
  sqlite3* handle = nullptr;
  int rc =
      sqlite3_open_v2(path.c_str(), &handle, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
  if (rc != SQLITE_OK) {
    std::string message = handle != nullptr ? sqlite3_errmsg(handle) : sqlite3_errstr(rc);
    sqlite3_close(handle);
    return SqliteStatus(rc, fmt::format("cannot open database {}: {}", path, message));
  }
  std::unique_ptr<Database> db(new Database(handle, path));
  sqlite3_busy_timeout(handle, kBusyTimeoutMs);
  sqlite3_extended_result_codes(handle, 1);
  QATLAB_RETURN_IF_ERROR(db->Exec("PRAGMA journal_mode=WAL"));
  QATLAB_RETURN_IF_ERROR(db->Exec(sync == SyncMode::kFull ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL"));
  QATLAB_RETURN_IF_ERROR(db->Exec("PRAGMA foreign_keys=ON"));
  // 32 MiB of page cache: the hot indexes of a large queue stay in memory.
  QATLAB_RETURN_IF_ERROR(db->Exec("PRAGMA cache_size=-32768"));
  if (max_bytes > 0) {
    // SQLite answers SQLITE_FULL past max_page_count, exactly as for a full
    // disk; a database already larger keeps its size as the limit.
    Statement page_size = db->Prepare("PRAGMA page_size");
    if (!page_size.Step()) return page_size.status();
    const int64_t pages = std::max<int64_t>(1, max_bytes / page_size.ColumnInt(0));
    QATLAB_RETURN_IF_ERROR(db->Exec(fmt::format("PRAGMA max_page_count={}", pages)));
  }
  // A checkpoint runs inside the commit that crosses the threshold and, even
  // at synchronous=NORMAL, fsyncs the WAL and the database (milliseconds on a
  // virtual disk) while every other writer waits. At the default 1,000 pages
  // a busy queue checkpoints every few hundred submissions; at 4,000 pages
  // (the WAL grows to ~16 MiB before it is reused) a quarter as often, and
  // hot index pages written many times over are copied back once.
  QATLAB_RETURN_IF_ERROR(db->Exec("PRAGMA wal_autocheckpoint=4000"));
  // journal_mode answers with the mode it got; a file system without shared
  // memory support silently stays in rollback mode, which we refuse.
  Statement mode = db->Prepare("PRAGMA journal_mode");
  if (!mode.Step()) return mode.status();
  if (mode.ColumnText(0) != "wal") {
    return Status::IOError(fmt::format("{}: could not switch the database to WAL mode", path));
  }
  return db;
}

Database::~Database() {
  for (auto& [sql, stmt] : statement_cache_) sqlite3_finalize(stmt);
  sqlite3_close_v2(handle_);
}

std::string Database::ErrorMessage() const { return sqlite3_errmsg(handle_); }

Status Database::Exec(std::string_view sql) {
  std::string text(sql);
  char* error = nullptr;
  int rc = sqlite3_exec(handle_, text.c_str(), nullptr, nullptr, &error);
  if (rc != SQLITE_OK) {
    std::string message = error != nullptr ? error : sqlite3_errstr(rc);
    sqlite3_free(error);
    return SqliteStatus(rc, fmt::format("sqlite on {}: {}", path_, message));
  }
  return Status::Ok();
}

Statement Database::Prepare(const std::string& sql) {
  auto it = statement_cache_.find(sql);
  if (it != statement_cache_.end()) return Statement(this, it->second, Status::Ok());
  sqlite3_stmt* stmt = nullptr;
  int rc =
      sqlite3_prepare_v3(handle_, sql.c_str(), static_cast<int>(sql.size()), SQLITE_PREPARE_PERSISTENT, &stmt, nullptr);
  if (rc != SQLITE_OK || stmt == nullptr) {
    // SQLITE_OK with no statement: the text held no SQL, our fault.
    return Statement(
        this, nullptr,
        SqliteStatus(rc == SQLITE_OK ? SQLITE_MISUSE : rc,
                     fmt::format("sqlite prepare failed on {}: {} (sql: {})", path_, ErrorMessage(), sql)));
  }
  statement_cache_.emplace(sql, stmt);
  return Statement(this, stmt, Status::Ok());
}

int64_t Database::LastInsertRowId() const { return sqlite3_last_insert_rowid(handle_); }
int Database::Changes() const { return sqlite3_changes(handle_); }

}  // namespace qatlab::server
