// WriteProbe answers "can the server still write its database?" by writing:
// a committed change of SQLite's user_version header field (a counter no
// other code reads) on its own connection. A read-only or failing disk, a file made immutable, a
// lost database file all fail it the way they would fail a submission; a
// quota that is full (max_database_bytes) does not, since the file does not
// grow (such a database still takes leases and completions: only new rows
// fail).
// No gRPC here. Thread-safety: Probe may be called from one thread at a time.
#pragma once

#include <memory>
#include <string>

#include "server/store/database.h"
#include "status/status.h"

namespace qatlab::server {

class WriteProbe {
 public:
  // Opens its own connection to the database at `path` and probes once.
  static StatusOr<std::unique_ptr<WriteProbe>> Open(const std::string& path);

  // OK when an update committed; otherwise the storage error, naming the
  // database. Writes nothing else.
  Status Probe();

 private:
  explicit WriteProbe(std::unique_ptr<Database> db) : db_(std::move(db)) {}

  std::unique_ptr<Database> db_;
};

}  // namespace qatlab::server
