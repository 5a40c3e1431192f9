#include "server/store/migrations.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <cctype>
#include <chrono>
#include <string_view>

namespace qatlab::server {

namespace {

// The bookkeeping table lives outside the numbered files: it must exist before
// the first of them runs, and its shape never changes.
constexpr const char* kCreateMeta =
    "CREATE TABLE IF NOT EXISTS schema_meta ("
    " id INTEGER PRIMARY KEY CHECK (id = 1),"
    " version INTEGER NOT NULL,"
    " compatible_version INTEGER NOT NULL,"
    " updated_unix_ms INTEGER NOT NULL)";

// The N of the first "-- compatible_version: N" comment (whitespace allowed
// around the name), else the migration's own version. A scan, not
// std::regex: GCC 12 warns (maybe-uninitialized) inside <regex> under ASan.
int DeclaredCompatibleVersion(const Migration& migration) {
  constexpr std::string_view kName = "compatible_version:";
  const std::string& sql = migration.sql;
  const auto space = [](char c) { return std::isspace(static_cast<unsigned char>(c)) != 0; };
  const auto digit = [](char c) { return c >= '0' && c <= '9'; };
  for (size_t at = sql.find(kName); at != std::string::npos; at = sql.find(kName, at + 1)) {
    size_t before = at;
    while (before > 0 && space(sql[before - 1])) --before;
    if (before < 2 || sql.compare(before - 2, 2, "--") != 0) continue;
    size_t number = at + kName.size();
    while (number < sql.size() && space(sql[number])) ++number;
    size_t end = number;
    while (end < sql.size() && end - number < 9 && digit(sql[end])) ++end;
    if (end > number) return std::stoi(sql.substr(number, end - number));
  }
  return migration.version;
}

int64_t NowUnixMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

struct Recorded {
  int version = 0;
  int compatible_version = 0;
};

StatusOr<Recorded> ReadRecorded(Database& db) {
  QATLAB_RETURN_IF_ERROR(db.Exec(kCreateMeta));
  Statement s = db.Prepare("SELECT version, compatible_version FROM schema_meta WHERE id = 1");
  Recorded recorded;
  if (s.Step()) {
    recorded.version = static_cast<int>(s.ColumnInt(0));
    recorded.compatible_version = static_cast<int>(s.ColumnInt(1));
  }
  QATLAB_RETURN_IF_ERROR(s.status());
  return recorded;
}

}  // namespace

StatusOr<int> SchemaVersion(Database& db) {
  QATLAB_ASSIGN_OR_RETURN(Recorded recorded, ReadRecorded(db));
  return recorded.version;
}

Status ApplyMigrations(Database& db, const std::vector<Migration>& migrations) {
  for (size_t i = 0; i < migrations.size(); ++i) {
    if (migrations[i].version != static_cast<int>(i) + 1) {
      return Status::InvalidArgument(fmt::format("migration {} has version {}, expected {} (versions must run 1..N)",
                                                 migrations[i].name, migrations[i].version, i + 1));
    }
  }
  const int newest_known = static_cast<int>(migrations.size());

  // Errors name the file already (see Database).
  QATLAB_ASSIGN_OR_RETURN(Recorded recorded, ReadRecorded(db));
  if (recorded.compatible_version > newest_known) {
    return Status::FailedPrecondition(
        fmt::format("database {} has schema version {} (needs a qatlab-server that knows schema version {} or newer); "
                    "this qatlab-server knows schema versions up to {}: upgrade qatlab-server",
                    db.path(), recorded.version, recorded.compatible_version, newest_known));
  }

  for (const Migration& migration : migrations) {
    if (migration.version <= recorded.version) continue;
    Transaction transaction(db);
    QATLAB_RETURN_IF_ERROR(transaction.status());
    Status applied = db.Exec(migration.sql);
    if (!applied.ok()) return applied.WithContext("migration " + migration.name);
    Statement record = db.Prepare(
        "INSERT INTO schema_meta (id, version, compatible_version, updated_unix_ms) VALUES (1, ?1, ?2, ?3) "
        "ON CONFLICT(id) DO UPDATE SET version = excluded.version, "
        "compatible_version = excluded.compatible_version, updated_unix_ms = excluded.updated_unix_ms");
    record.Bind(1, migration.version).Bind(2, DeclaredCompatibleVersion(migration)).Bind(3, NowUnixMs());
    QATLAB_RETURN_IF_ERROR(record.Run());
    QATLAB_RETURN_IF_ERROR(transaction.Commit().WithContext("migration " + migration.name));
    spdlog::info("database {}: applied migration {}", db.path(), migration.name);
  }
  return Status::Ok();
}

}  // namespace qatlab::server
