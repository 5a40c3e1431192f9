// The catalogue of stored files: data sets and models users uploaded (by
// name) and the artifacts jobs produced (by job and name), all pointing at
// content in the ArtifactStore by sha256, plus the blobs table that records
// that content. Rows only; the bytes live in the ArtifactStore.
//
// Data sets and models are immutable: a name once taken keeps its content. An artifact
// is recorded only under the job's current lease, checked in the same
// transaction as the insert, so a worker whose lease was lost cannot
// overwrite what the job's next attempt uploads.
//
// No gRPC. The catalogue has its own connection to the server's database (the
// JobStore and DeviceStore have theirs; SQLite's write lock orders them).
// Thread-safety: every method may be called from any thread; one mutex
// serialises use of the connection.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "qatlab/v1/resources.pb.h"
#include "server/store/clock.h"
#include "server/store/database.h"
#include "server/store/lease.h"
#include "status/status.h"

namespace qatlab::server {

struct CatalogueOptions {
  SyncMode sync = SyncMode::kNormal;
  int64_t max_database_bytes = 0;  // as JobStoreOptions::max_database_bytes
};

class Catalogue {
 public:
  // Opens the database at `db_path` and applies the embedded migrations, as
  // JobStore::Open does. `clock` must outlive the catalogue.
  static StatusOr<std::unique_ptr<Catalogue>> Open(const std::string& db_path, const Clock& clock,
                                                   CatalogueOptions options = {});

  // --- data sets ---
  // REQUIRES: the blob `sha256` is in the artifact store. AlreadyExists when
  // `name` is taken by different content; the same content again returns the
  // existing record.
  StatusOr<v1::Dataset> RecordDataset(const std::string& name, const std::string& format, const std::string& sha256,
                                      int64_t size);
  StatusOr<v1::Dataset> FindDataset(const std::string& name);  // NotFound if absent
  StatusOr<std::vector<v1::Dataset>> ListDatasets();           // by name

  // --- models (ONNX files users uploaded) ---
  // REQUIRES: the blob `model.sha256()` is in the artifact store. Stores
  // every field of `model` but created_unix_ms (now). AlreadyExists when the
  // name is taken by different content; the same content again returns the
  // existing record.
  StatusOr<v1::Model> RecordModel(const v1::Model& model);
  StatusOr<v1::Model> FindModel(const std::string& name);  // NotFound if absent
  StatusOr<std::vector<v1::Model>> ListModels();           // by name

  // --- artifacts ---
  // REQUIRES: the blob `sha256` is in the artifact store. NotFound for an
  // unknown job; FailedPrecondition unless `claim` is the job's current
  // lease, PermissionDenied when another token took it (lease.h). A name
  // recorded again for the same job takes the new content.
  StatusOr<v1::Artifact> RecordArtifact(const std::string& job_id, const LeaseClaim& claim, const std::string& name,
                                        const std::string& sha256, int64_t size);
  // By name within a job, or by content address alone (job_id may be empty).
  StatusOr<v1::Artifact> FindArtifact(const std::string& job_id, const std::string& name, const std::string& sha256);

 private:
  Catalogue(std::unique_ptr<Database> db, const Clock& clock) : clock_(clock), db_(std::move(db)) {}

  // REQUIRE mutex_ held and a transaction open.
  Status RecordBlob(const std::string& sha256, int64_t size);

  const Clock& clock_;
  std::mutex mutex_;
  std::unique_ptr<Database> db_;  // guarded by mutex_
};

}  // namespace qatlab::server
