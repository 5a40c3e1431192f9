#include "server/store/write_probe.h"

#include <fmt/format.h>

namespace qatlab::server {

StatusOr<std::unique_ptr<WriteProbe>> WriteProbe::Open(const std::string& path) {
  QATLAB_ASSIGN_OR_RETURN(std::unique_ptr<Database> db, Database::Open(path));
  std::unique_ptr<WriteProbe> probe(new WriteProbe(std::move(db)));
  QATLAB_RETURN_IF_ERROR(probe->Probe());
  return probe;
}

Status WriteProbe::Probe() {
  Transaction transaction(*db_);
  QATLAB_RETURN_IF_ERROR(transaction.status());
  // SQLite's user_version header field is ours to use (the schema version
  // lives in schema_meta): a counter there is a write that needs no table
  // and touches no data. The value must change: SQLite skips a write of what
  // a field already holds, and a probe that writes nothing proves nothing.
  int64_t next = 0;
  {
    Statement current = db_->Prepare("PRAGMA user_version");
    if (!current.Step()) return current.status();
    next = (current.ColumnInt(0) + 1) % (int64_t{1} << 31);
  }
  QATLAB_RETURN_IF_ERROR(db_->Exec(fmt::format("PRAGMA user_version = {}", next)));
  return transaction.Commit();  // errors name the database file
}

}  // namespace qatlab::server
