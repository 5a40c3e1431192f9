// Schema migrations: numbered, append-only .sql files (migrations/0001_jobs.sql,
// 0002_..., ...) embedded into the binary at build time.
//
// The database records, in table schema_meta, the schema `version` it has and
// the `compatible_version`: the oldest schema version whose code can still use
// it. A migration declares that with a line `-- compatible_version: N`
// (default: its own version, i.e. older code must refuse). Opening a database
// whose compatible_version is newer than the newest migration this binary
// knows is refused with a message saying so; anything older is brought up to
// date, one migration per transaction, so a crash mid-way leaves the database
// at the last fully applied version.
#pragma once

#include <string>
#include <vector>

#include "server/store/database.h"
#include "status/status.h"

namespace qatlab::server {

struct Migration {
  int version;       // from the file name's 4-digit prefix; 1, 2, 3, ...
  std::string name;  // the file name, for messages
  std::string sql;
};

// The migrations compiled into this binary, in version order.
const std::vector<Migration>& EmbeddedMigrations();

// Brings `db` to the newest version in `migrations`.
// REQUIRES: `migrations` sorted by version, versions 1..N without gaps
// (checked; InvalidArgument otherwise).
// On failure the database keeps its last fully applied version.
Status ApplyMigrations(Database& db, const std::vector<Migration>& migrations);

// The schema version recorded in `db`; 0 for a fresh database.
StatusOr<int> SchemaVersion(Database& db);

}  // namespace qatlab::server
