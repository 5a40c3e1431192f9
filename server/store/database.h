// RAII access to one SQLite database file. sqlite3.h stays out of this header.
//
//   auto db = Database::Open(path);          // WAL, busy_timeout, foreign keys
//   Statement s = (*db)->Prepare("SELECT state FROM jobs WHERE id = ?1");
//   s.Bind(1, id);
//   while (s.Step()) ... s.ColumnInt(0) ...;  // s.status() after the loop
//
// Statements are cached per SQL text (prepared once, reset on release), so the
// hot paths of the queue do not re-parse SQL.
//
// Errors: SQLite's result codes become Status codes in one place
// (SqliteStatus in database.cc), so that the RPC layer can tell a client what
// kind of trouble the server is in rather than a blanket INTERNAL:
//   SQLITE_FULL (disk or quota full), NOMEM, TOOBIG   -> ResourceExhausted
//   SQLITE_CORRUPT, NOTADB                            -> Corruption
//   SQLITE_BUSY, LOCKED                               -> Unavailable (retry)
//   SQLITE_IOERR, CANTOPEN, READONLY, PERM            -> IOError (the server's
//                                                        disk or permissions)
//   SQLITE_INTERRUPT                                  -> Cancelled
//   anything else (constraint, misuse, schema, ...)   -> Internal (our SQL)
// A failed statement inside a Transaction leaves the rollback to the
// destructor: nothing committed before is touched.
//
// Thread-safety: a Database and its Statements are NOT thread-safe; the owner
// serialises access (the job store holds one mutex around every use).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "status/status.h"

struct sqlite3;
struct sqlite3_stmt;

namespace qatlab::server {

class Database;

// One prepared statement in use. Movable, not copyable. On destruction the
// statement is reset and its bindings cleared so the cache can hand it out
// again. Errors are sticky: after a failed Prepare/Bind/Step, status() says
// why and further Steps return false.
class Statement {
 public:
  Statement(Statement&& other) noexcept;
  Statement& operator=(Statement&&) = delete;
  Statement(const Statement&) = delete;
  ~Statement();

  // Parameter indices are 1-based, as in SQL (?1, ?2, ...).
  Statement& Bind(int index, int64_t value);
  Statement& Bind(int index, int value) { return Bind(index, static_cast<int64_t>(value)); }
  Statement& Bind(int index, double value);
  Statement& Bind(int index, std::string_view text);
  Statement& Bind(int index, const char* text) { return Bind(index, std::string_view(text)); }
  Statement& Bind(int index, const std::string& text) { return Bind(index, std::string_view(text)); }
  Statement& BindBlob(int index, std::string_view bytes);
  Statement& BindNull(int index);

  // Advances to the next row. Returns true when a row is available; false at
  // the end or on error (then status() is not OK).
  bool Step();
  // Steps a statement that returns no rows (INSERT/UPDATE/DELETE) and returns
  // the outcome.
  Status Run();

  // Column indices are 0-based. REQUIRES: the last Step() returned true.
  int64_t ColumnInt(int column) const;
  double ColumnDouble(int column) const;
  std::string ColumnText(int column) const;  // NULL reads as ""
  std::string ColumnBlob(int column) const;
  bool ColumnIsNull(int column) const;

  const Status& status() const { return status_; }

 private:
  friend class Database;
  Statement(Database* db, sqlite3_stmt* stmt, Status status) : db_(db), stmt_(stmt), status_(std::move(status)) {}
  void RecordError(const char* what, int result_code);

  Database* db_;
  sqlite3_stmt* stmt_;  // owned by the Database's cache
  Status status_;
};

// Rolls back on destruction unless Commit() succeeded. BEGIN IMMEDIATE takes
// the write lock up front, so a transaction never fails half-way with
// SQLITE_BUSY on its first write.
class Transaction {
 public:
  explicit Transaction(Database& db);
  ~Transaction();
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;

  // The outcome of BEGIN; nothing else should be done when it failed.
  const Status& status() const { return begin_status_; }
  Status Commit();

  // The connection the transaction is open on: what is written through it
  // commits or rolls back with the transaction.
  Database& database() { return db_; }
  // Runs `action` once COMMIT succeeded, before Commit returns, in the order
  // given; never after a rollback. For what must follow only a durable write:
  // waking pollers, logging what was stored.
  void AfterCommit(std::function<void()> action) { after_commit_.push_back(std::move(action)); }

 private:
  Database& db_;
  Status begin_status_;
  bool done_ = false;
  std::vector<std::function<void()>> after_commit_;
};

enum class SyncMode { kNormal, kFull };

class Database {
 public:
  // Opens (creating if needed) the database at `path` in WAL mode with the
  // given synchronous level, a busy timeout, and foreign keys on. With
  // `max_bytes` > 0 the file may not grow past it: writes beyond fail with
  // ResourceExhausted, as on a full disk. Errors name `path`; a file that is
  // not a database is Corruption and is left untouched.
  static StatusOr<std::unique_ptr<Database>> Open(const std::string& path, SyncMode sync = SyncMode::kNormal,
                                                  int64_t max_bytes = 0);
  ~Database();
  Database(const Database&) = delete;
  Database& operator=(const Database&) = delete;

  // Runs one or more SQL statements that return nothing of interest.
  Status Exec(std::string_view sql);
  // Prepares (or takes from the cache) the single statement `sql`.
  // REQUIRES: no other live Statement for the same SQL text.
  Statement Prepare(const std::string& sql);

  int64_t LastInsertRowId() const;
  int Changes() const;
  const std::string& path() const { return path_; }

 private:
  friend class Statement;
  Database(sqlite3* handle, std::string path) : handle_(handle), path_(std::move(path)) {}
  std::string ErrorMessage() const;

  sqlite3* handle_;
  std::string path_;
  std::unordered_map<std::string, sqlite3_stmt*> statement_cache_;
};

}  // namespace qatlab::server
