#include "server/store/catalogue.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <optional>

#include "server/store/lease.h"
#include "server/store/migrations.h"

namespace qatlab::server {

namespace {

struct JobRow {
  int64_t seq = 0;
  LeasedRow lease;
};

// The job `job_id` as the lease rule sees it; nullopt for an unknown job.
StatusOr<std::optional<JobRow>> LoadJobRow(Database& db, const std::string& job_id) {
  Statement s = db.Prepare("SELECT seq, state, lease_id, attempt, lease_binding FROM jobs WHERE id = ?1");
  s.Bind(1, job_id);
  if (!s.Step()) {
    QATLAB_RETURN_IF_ERROR(s.status());
    return std::optional<JobRow>();
  }
  const auto state = static_cast<v1::JobState>(s.ColumnInt(1));
  JobRow row;
  row.seq = s.ColumnInt(0);
  row.lease = {
      job_id,         state == v1::RUNNING, s.ColumnText(2), v1::JobState_Name(state), static_cast<int>(s.ColumnInt(3)),
      s.ColumnText(4)};
  return std::optional<JobRow>(std::move(row));
}

Status NoSuchJob(const std::string& job_id) { return Status::NotFound(fmt::format("job {} not found", job_id)); }

v1::Dataset DatasetFromRow(const std::string& name, const Statement& s, int first_column) {
  v1::Dataset dataset;
  dataset.set_name(name);
  dataset.set_format(s.ColumnText(first_column));
  dataset.set_sha256(s.ColumnText(first_column + 1));
  dataset.set_size(s.ColumnInt(first_column + 2));
  dataset.set_created_unix_ms(s.ColumnInt(first_column + 3));
  return dataset;
}

constexpr const char* kModelColumns =
    "name, sha256, size, input_height, input_width, input_channels, num_classes, layer_count, parameters, opset, "
    "created_unix_ms";

// A row of `SELECT kModelColumns FROM models`.
v1::Model ModelFromRow(const Statement& s) {
  v1::Model model;
  model.set_name(s.ColumnText(0));
  model.set_sha256(s.ColumnText(1));
  model.set_size(s.ColumnInt(2));
  model.set_input_height(static_cast<int32_t>(s.ColumnInt(3)));
  model.set_input_width(static_cast<int32_t>(s.ColumnInt(4)));
  model.set_input_channels(static_cast<int32_t>(s.ColumnInt(5)));
  model.set_num_classes(static_cast<int32_t>(s.ColumnInt(6)));
  model.set_layer_count(static_cast<int32_t>(s.ColumnInt(7)));
  model.set_parameters(s.ColumnInt(8));
  model.set_opset(s.ColumnInt(9));
  model.set_created_unix_ms(s.ColumnInt(10));
  return model;
}

}  // namespace

StatusOr<std::unique_ptr<Catalogue>> Catalogue::Open(const std::string& db_path, const Clock& clock,
                                                     CatalogueOptions options) {
  QATLAB_ASSIGN_OR_RETURN(std::unique_ptr<Database> db,
                          Database::Open(db_path, options.sync, options.max_database_bytes));
  QATLAB_RETURN_IF_ERROR(ApplyMigrations(*db, EmbeddedMigrations()));
  return std::unique_ptr<Catalogue>(new Catalogue(std::move(db), clock));
}

Status Catalogue::RecordBlob(const std::string& sha256, int64_t size) {
  Statement s = db_->Prepare(
      "INSERT INTO blobs (sha256, size, created_unix_ms) VALUES (?1, ?2, ?3) ON CONFLICT(sha256) DO NOTHING");
  s.Bind(1, sha256).Bind(2, size).Bind(3, clock_.NowUnixMs());
  return s.Run();
}

// --- data sets ---

StatusOr<v1::Dataset> Catalogue::RecordDataset(const std::string& name, const std::string& format,
                                               const std::string& sha256, int64_t size) {
  std::lock_guard lock(mutex_);
  Transaction transaction(*db_);
  QATLAB_RETURN_IF_ERROR(transaction.status());
  Statement existing = db_->Prepare("SELECT format, sha256, size, created_unix_ms FROM datasets WHERE name = ?1");
  existing.Bind(1, name);
  if (existing.Step()) {
    v1::Dataset dataset = DatasetFromRow(name, existing, 0);
    if (dataset.sha256() == sha256 && dataset.format() == format) return dataset;
    return Status::AlreadyExists(fmt::format(
        "dataset '{}' already exists with different content (sha256 {}); data sets are immutable, pick another name",
        name, dataset.sha256()));
  }
  QATLAB_RETURN_IF_ERROR(existing.status());
  QATLAB_RETURN_IF_ERROR(RecordBlob(sha256, size));
  const int64_t now = clock_.NowUnixMs();
  Statement insert =
      db_->Prepare("INSERT INTO datasets (name, format, sha256, size, created_unix_ms) VALUES (?1, ?2, ?3, ?4, ?5)");
  insert.Bind(1, name).Bind(2, format).Bind(3, sha256).Bind(4, size).Bind(5, now);
  QATLAB_RETURN_IF_ERROR(insert.Run());
  QATLAB_RETURN_IF_ERROR(transaction.Commit());
  v1::Dataset dataset;
  dataset.set_name(name);
  dataset.set_format(format);
  dataset.set_sha256(sha256);
  dataset.set_size(size);
  dataset.set_created_unix_ms(now);
  spdlog::info("dataset {}: stored ({} bytes, sha256 {})", name, size, sha256);
  return dataset;
}

StatusOr<v1::Dataset> Catalogue::FindDataset(const std::string& name) {
  std::lock_guard lock(mutex_);
  Statement s = db_->Prepare("SELECT format, sha256, size, created_unix_ms FROM datasets WHERE name = ?1");
  s.Bind(1, name);
  if (!s.Step()) {
    QATLAB_RETURN_IF_ERROR(s.status());
    return Status::NotFound(fmt::format("dataset '{}' not found", name));
  }
  return DatasetFromRow(name, s, 0);
}

StatusOr<std::vector<v1::Dataset>> Catalogue::ListDatasets() {
  std::lock_guard lock(mutex_);
  Statement s = db_->Prepare("SELECT name, format, sha256, size, created_unix_ms FROM datasets ORDER BY name");
  std::vector<v1::Dataset> datasets;
  while (s.Step()) datasets.push_back(DatasetFromRow(s.ColumnText(0), s, 1));
  QATLAB_RETURN_IF_ERROR(s.status());
  return datasets;
}

// --- models ---

StatusOr<v1::Model> Catalogue::RecordModel(const v1::Model& model) {
  std::lock_guard lock(mutex_);
  Transaction transaction(*db_);
  QATLAB_RETURN_IF_ERROR(transaction.status());
  Statement existing = db_->Prepare(fmt::format("SELECT {} FROM models WHERE name = ?1", kModelColumns));
  existing.Bind(1, model.name());
  if (existing.Step()) {
    v1::Model stored = ModelFromRow(existing);
    if (stored.sha256() == model.sha256()) return stored;
    return Status::AlreadyExists(fmt::format(
        "model '{}' already exists with different content (sha256 {}); models are immutable, pick another name",
        model.name(), stored.sha256()));
  }
  QATLAB_RETURN_IF_ERROR(existing.status());
  QATLAB_RETURN_IF_ERROR(RecordBlob(model.sha256(), model.size()));
  v1::Model stored = model;
  stored.set_created_unix_ms(clock_.NowUnixMs());
  Statement insert = db_->Prepare(
      fmt::format("INSERT INTO models ({}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)", kModelColumns));
  insert.Bind(1, stored.name()).Bind(2, stored.sha256()).Bind(3, stored.size());
  insert.Bind(4, static_cast<int64_t>(stored.input_height())).Bind(5, static_cast<int64_t>(stored.input_width()));
  insert.Bind(6, static_cast<int64_t>(stored.input_channels())).Bind(7, static_cast<int64_t>(stored.num_classes()));
  insert.Bind(8, static_cast<int64_t>(stored.layer_count())).Bind(9, stored.parameters()).Bind(10, stored.opset());
  insert.Bind(11, stored.created_unix_ms());
  QATLAB_RETURN_IF_ERROR(insert.Run());
  QATLAB_RETURN_IF_ERROR(transaction.Commit());
  spdlog::info("model {}: stored ({} bytes, sha256 {})", stored.name(), stored.size(), stored.sha256());
  return stored;
}

StatusOr<v1::Model> Catalogue::FindModel(const std::string& name) {
  std::lock_guard lock(mutex_);
  Statement s = db_->Prepare(fmt::format("SELECT {} FROM models WHERE name = ?1", kModelColumns));
  s.Bind(1, name);
  if (!s.Step()) {
    QATLAB_RETURN_IF_ERROR(s.status());
    return Status::NotFound(fmt::format("model '{}' not found (see ListModels)", name));
  }
  return ModelFromRow(s);
}

StatusOr<std::vector<v1::Model>> Catalogue::ListModels() {
  std::lock_guard lock(mutex_);
  Statement s = db_->Prepare(fmt::format("SELECT {} FROM models ORDER BY name", kModelColumns));
  std::vector<v1::Model> models;
  while (s.Step()) models.push_back(ModelFromRow(s));
  QATLAB_RETURN_IF_ERROR(s.status());
  return models;
}

// --- artifacts ---

StatusOr<v1::Artifact> Catalogue::RecordArtifact(const std::string& job_id, const LeaseClaim& claim,
                                                 const std::string& name, const std::string& sha256, int64_t size) {
  std::lock_guard lock(mutex_);
  // BEGIN IMMEDIATE holds the write lock from the lease check to the commit:
  // the job store cannot requeue or finish the job in between.
  Transaction transaction(*db_);
  QATLAB_RETURN_IF_ERROR(transaction.status());
  QATLAB_ASSIGN_OR_RETURN(std::optional<JobRow> job, LoadJobRow(*db_, job_id));
  if (!job.has_value()) return NoSuchJob(job_id);
  QATLAB_RETURN_IF_ERROR(CheckLease(job->lease, "job", claim));
  QATLAB_RETURN_IF_ERROR(RecordBlob(sha256, size));
  // A retried attempt may upload the same name again: the newest wins.
  Statement insert = db_->Prepare(
      "INSERT INTO artifacts (job_seq, name, sha256, size, created_unix_ms) VALUES (?1, ?2, ?3, ?4, ?5) "
      "ON CONFLICT(job_seq, name) DO UPDATE SET sha256 = excluded.sha256, size = excluded.size, "
      "created_unix_ms = excluded.created_unix_ms");
  insert.Bind(1, job->seq).Bind(2, name).Bind(3, sha256).Bind(4, size).Bind(5, clock_.NowUnixMs());
  QATLAB_RETURN_IF_ERROR(insert.Run());
  QATLAB_RETURN_IF_ERROR(transaction.Commit());
  v1::Artifact artifact;
  artifact.set_job_id(job_id);
  artifact.set_name(name);
  artifact.set_sha256(sha256);
  artifact.set_size(size);
  return artifact;
}

StatusOr<v1::Artifact> Catalogue::FindArtifact(const std::string& job_id, const std::string& name,
                                               const std::string& sha256) {
  std::lock_guard lock(mutex_);
  v1::Artifact artifact;
  if (!job_id.empty()) {
    QATLAB_ASSIGN_OR_RETURN(std::optional<JobRow> job, LoadJobRow(*db_, job_id));
    if (!job.has_value()) return NoSuchJob(job_id);
    Statement s = db_->Prepare(
        "SELECT name, sha256, size FROM artifacts WHERE job_seq = ?1 AND "
        "((?2 != '' AND name = ?2) OR (?2 = '' AND sha256 = ?3)) LIMIT 1");
    s.Bind(1, job->seq).Bind(2, name).Bind(3, sha256);
    if (!s.Step()) {
      QATLAB_RETURN_IF_ERROR(s.status());
      return Status::NotFound(fmt::format("job {} has no artifact {}", job_id, name.empty() ? sha256 : name));
    }
    artifact.set_job_id(job_id);
    artifact.set_name(s.ColumnText(0));
    artifact.set_sha256(s.ColumnText(1));
    artifact.set_size(s.ColumnInt(2));
    return artifact;
  }
  Statement s = db_->Prepare("SELECT size FROM blobs WHERE sha256 = ?1");
  s.Bind(1, sha256);
  if (!s.Step()) {
    QATLAB_RETURN_IF_ERROR(s.status());
    return Status::NotFound(fmt::format("no artifact with sha256 {}", sha256));
  }
  artifact.set_sha256(sha256);
  artifact.set_size(s.ColumnInt(0));
  return artifact;
}

}  // namespace qatlab::server
