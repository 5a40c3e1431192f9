#include "server/store/job_store.h"

#include <fmt/format.h>
#include <google/protobuf/util/message_differencer.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <charconv>
#include <cstdint>

#include "server/store/migrations.h"
#include "status/printable_value.h"

namespace qatlab::server {

namespace {

constexpr const char* kJobColumns =
    "seq, id, experiment, state, priority, spec, attempt, max_attempts, worker_id, lease_id, "
    "lease_deadline_unix_ms, cancel_requested, error, last_progress, created_unix_ms, started_unix_ms, "
    "finished_unix_ms, (SELECT id FROM sweeps WHERE sweeps.seq = jobs.sweep_seq), lease_binding";
constexpr int kLeaseIdColumn = 9;
constexpr int kLeaseBindingColumn = 18;
constexpr int kJobColumnCount = 19;  // a query may select more after them

constexpr const char* kPageTokenPrefix = "after:";

// Reads a row selected with kJobColumns (starting at column 0).
v1::Job JobFromRow(const Statement& row, int64_t* seq) {
  v1::Job job;
  if (seq != nullptr) *seq = row.ColumnInt(0);
  job.set_id(row.ColumnText(1));
  job.set_experiment(row.ColumnText(2));
  job.set_state(static_cast<v1::JobState>(row.ColumnInt(3)));
  job.set_priority(static_cast<int32_t>(row.ColumnInt(4)));
  job.mutable_spec()->ParseFromString(row.ColumnBlob(5));
  job.mutable_labels()->insert(job.spec().labels().begin(), job.spec().labels().end());
  job.set_attempt(static_cast<int32_t>(row.ColumnInt(6)));
  job.set_max_attempts(static_cast<int32_t>(row.ColumnInt(7)));
  job.set_worker_id(row.ColumnText(8));
  // The lease id is a capability of the worker holding it and the binding
  // says whose: never shown (LeaseOf reads them).
  job.set_cancel_requested(row.ColumnInt(11) != 0);
  job.set_error(row.ColumnText(12));
  if (!row.ColumnIsNull(13)) job.mutable_last_progress()->ParseFromString(row.ColumnBlob(13));
  job.set_created_unix_ms(row.ColumnInt(14));
  job.set_started_unix_ms(row.ColumnInt(15));
  job.set_finished_unix_ms(row.ColumnInt(16));
  if (!row.ColumnIsNull(17)) job.set_sweep_id(row.ColumnText(17));
  return job;
}

std::string JoinInts(const google::protobuf::RepeatedField<int32_t>& values) {
  std::string out;
  for (int v : values) {
    if (!out.empty()) out += ',';
    out += std::to_string(v);
  }
  return out;
}

void SplitInts(const std::string& text, google::protobuf::RepeatedField<int32_t>* out) {
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find(',', start);
    if (end == std::string::npos) end = text.size();
    out->Add(std::stoi(text.substr(start, end - start)));
    start = end + 1;
  }
}

Status NoSuchJob(const std::string& job_id) { return Status::NotFound(fmt::format("job {} not found", job_id)); }
Status NoSuchSweep(const std::string& sweep_id) {
  return Status::NotFound(fmt::format("sweep {} not found", sweep_id));
}

LeaseSchema JobLeaseSchema() {
  static_assert(v1::QUEUED == 1 && v1::RUNNING == 2, "the jobs_queue and jobs_lease indexes say state = 1 and 2");
  LeaseSchema schema;
  schema.table = "jobs";
  schema.noun = "job";
  schema.holder_column = "worker_id";
  schema.holder_noun = "worker";
  schema.queued = std::to_string(v1::QUEUED);
  schema.running = std::to_string(v1::RUNNING);
  schema.succeeded = std::to_string(v1::SUCCEEDED);
  schema.failed = std::to_string(v1::FAILED);
  schema.cancelled = std::to_string(v1::CANCELLED);
  schema.cancel_requested_column = true;
  return schema;
}

// The lease of `job`, read with it from `row` (kJobColumns).
LeasedRow LeaseOf(const v1::Job& job, const Statement& row) {
  return {
      job.id(),      job.state() == v1::RUNNING,         row.ColumnText(kLeaseIdColumn), v1::JobState_Name(job.state()),
      job.attempt(), row.ColumnText(kLeaseBindingColumn)};
}

}  // namespace

JobStore::JobStore(std::unique_ptr<Database> db, const Clock& clock, JobNotifier& notifier, JobStoreOptions options)
    : clock_(clock),
      notifier_(notifier),
      options_(std::move(options)),
      db_(std::move(db)),
      leases_(JobLeaseSchema(), options_.lease_ms, tokens_) {}

StatusOr<std::unique_ptr<JobStore>> JobStore::Open(const std::string& db_path, const Clock& clock,
                                                   JobNotifier& notifier, JobStoreOptions options) {
  QATLAB_ASSIGN_OR_RETURN(std::unique_ptr<Database> db,
                          Database::Open(db_path, options.sync, options.max_database_bytes));
  QATLAB_RETURN_IF_ERROR(ApplyMigrations(*db, EmbeddedMigrations()));
  return std::unique_ptr<JobStore>(new JobStore(std::move(db), clock, notifier, std::move(options)));
}

void JobStore::Announce(const v1::Job& before, const JobUpdate& update) {
  if (before.state() != update.job.state()) {
    spdlog::info("job {}: {} -> {}{}{}", update.job.id(),
                 before.state() == v1::JOB_STATE_UNSPECIFIED ? "new" : v1::JobState_Name(before.state()),
                 v1::JobState_Name(update.job.state()), update.message.empty() ? "" : ": ",
                 PrintableValue(update.message, 2 * kPrintableValueLimit));
  }
  notifier_.Publish(update);
}

StatusOr<std::optional<v1::Job>> JobStore::LoadJob(const std::string& job_id, int64_t* seq, LeasedRow* lease) {
  Statement s = db_->Prepare(fmt::format("SELECT {} FROM jobs WHERE id = ?1", kJobColumns));
  s.Bind(1, job_id);
  if (s.Step()) {
    v1::Job job = JobFromRow(s, seq);
    if (lease != nullptr) *lease = LeaseOf(job, s);
    return std::optional<v1::Job>(std::move(job));
  }
  QATLAB_RETURN_IF_ERROR(s.status());
  return std::optional<v1::Job>();
}

// --- users ---

StatusOr<v1::Job> JobStore::InsertJob(const v1::JobSpec& spec, const std::string& idempotency_key, bool* created,
                                      int64_t sweep_seq, bool sweep_baseline) {
  *created = false;
  if (!idempotency_key.empty()) {
    Statement existing = db_->Prepare(fmt::format("SELECT {} FROM jobs WHERE idempotency_key = ?1", kJobColumns));
    existing.Bind(1, idempotency_key);
    if (existing.Step()) {
      v1::Job job = JobFromRow(existing, nullptr);
      // A key names one submission: the same key with another spec is a
      // client bug, not a retry, and must not silently answer the old job.
      if (!google::protobuf::util::MessageDifferencer::Equals(job.spec(), spec)) {
        return Status::AlreadyExists(
            fmt::format("idempotency_key '{}' was used for job {} with a different spec; use a new key for a new job",
                        idempotency_key.substr(0, 64), job.id()));
      }
      return job;
    }
    QATLAB_RETURN_IF_ERROR(existing.status());
  }
  std::optional<int64_t> baseline_seq;
  if (!spec.baseline_job().empty()) {
    Statement baseline = db_->Prepare("SELECT seq, state FROM jobs WHERE id = ?1");
    baseline.Bind(1, spec.baseline_job());
    if (!baseline.Step()) {
      QATLAB_RETURN_IF_ERROR(baseline.status());
      return Status::NotFound(fmt::format("baseline_job {}: no such job", spec.baseline_job()));
    }
    const auto state = static_cast<v1::JobState>(baseline.ColumnInt(1));
    if (state == v1::FAILED || state == v1::CANCELLED) {
      return Status::FailedPrecondition(fmt::format("baseline_job {}: it ended {}; it has no float model to start from",
                                                    spec.baseline_job(), v1::JobState_Name(state)));
    }
    baseline_seq = baseline.ColumnInt(0);
  }
  const int64_t now = clock_.NowUnixMs();
  std::string id = "j-" + tokens_.Next(12);
  std::string spec_bytes;
  spec.SerializeToString(&spec_bytes);
  Statement insert = db_->Prepare(
      "INSERT INTO jobs (id, experiment, state, priority, spec, max_attempts, idempotency_key, created_unix_ms, "
      "baseline_seq, sweep_seq, sweep_baseline) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)");
  insert.Bind(1, id).Bind(2, spec.experiment()).Bind(3, static_cast<int>(v1::QUEUED)).Bind(4, spec.priority());
  insert.BindBlob(5, spec_bytes).Bind(6, spec.max_attempts());
  if (idempotency_key.empty()) {
    insert.BindNull(7);
  } else {
    insert.Bind(7, idempotency_key);
  }
  insert.Bind(8, now);
  if (baseline_seq.has_value()) {
    insert.Bind(9, *baseline_seq);
  } else {
    insert.BindNull(9);
  }
  if (sweep_seq > 0) {
    insert.Bind(10, sweep_seq);
  } else {
    insert.BindNull(10);
  }
  insert.Bind(11, sweep_baseline ? 1 : 0);
  QATLAB_RETURN_IF_ERROR(insert.Run());
  const int64_t seq = db_->LastInsertRowId();
  for (const auto& [key, value] : spec.labels()) {
    Statement label = db_->Prepare("INSERT INTO job_labels (job_seq, key, value) VALUES (?1, ?2, ?3)");
    label.Bind(1, seq).Bind(2, key).Bind(3, value);
    QATLAB_RETURN_IF_ERROR(label.Run());
  }
  v1::Job job;
  job.set_id(id);
  job.set_experiment(spec.experiment());
  job.mutable_labels()->insert(spec.labels().begin(), spec.labels().end());
  job.set_state(v1::QUEUED);
  *job.mutable_spec() = spec;
  job.set_priority(spec.priority());
  job.set_max_attempts(spec.max_attempts());
  job.set_created_unix_ms(now);
  *created = true;
  return job;
}

void JobStore::CommitSubmissions(const std::vector<PendingSubmission*>& batch) {
  std::lock_guard lock(mutex_);
  // All in one transaction: one commit for the whole batch.
  {
    Transaction transaction(*db_);
    std::vector<std::pair<v1::Job, bool>> jobs;
    Status status = transaction.status();
    for (PendingSubmission* pending : batch) {
      if (!status.ok()) break;
      bool created = false;
      StatusOr<v1::Job> job = InsertJob(*pending->spec, *pending->idempotency_key, &created);
      if (!job.ok()) {
        status = job.status();
        break;
      }
      jobs.emplace_back(std::move(*job), created);
    }
    if (status.ok()) status = transaction.Commit();
    if (status.ok()) {
      for (size_t i = 0; i < batch.size(); ++i) {
        if (jobs[i].second) Announce(v1::Job(), JobUpdate{jobs[i].first, std::nullopt, std::nullopt, "submitted"});
        batch[i]->outcome.emplace(std::move(jobs[i].first));
      }
      return;
    }
  }
  // Something in the batch failed and the transaction rolled back: redo each
  // submission on its own so one bad row does not fail the others.
  for (PendingSubmission* pending : batch) {
    Transaction transaction(*db_);
    if (!transaction.status().ok()) {
      pending->outcome.emplace(transaction.status());
      continue;
    }
    bool created = false;
    StatusOr<v1::Job> job = InsertJob(*pending->spec, *pending->idempotency_key, &created);
    Status committed = job.ok() ? transaction.Commit() : job.status();
    if (!committed.ok()) {
      pending->outcome.emplace(committed);
      continue;
    }
    if (created) Announce(v1::Job(), JobUpdate{*job, std::nullopt, std::nullopt, "submitted"});
    pending->outcome.emplace(std::move(*job));
  }
}

StatusOr<v1::Job> JobStore::Submit(const v1::JobSpec& spec, const std::string& idempotency_key) {
  // Group commit: concurrent submissions queue up; whoever finds no batch in
  // progress commits everything queued so far in one transaction, while the
  // others wait. A commit costs far more than an insert, so under load this
  // multiplies throughput; alone, a submission is its own batch. Each waiter
  // is woken only when its own outcome is ready or the batch is handed to it,
  // never by commits of batches it is not part of.
  PendingSubmission me;
  me.spec = &spec;
  me.idempotency_key = &idempotency_key;
  std::unique_lock lock(batch_mutex_);
  batch_queue_.push_back(&me);
  if (batch_leader_active_) {
    me.wake.wait(lock, [&] { return me.done || me.lead; });
    if (me.done) return std::move(*me.outcome);
  }
  batch_leader_active_ = true;
  std::vector<PendingSubmission*> batch;
  batch.swap(batch_queue_);
  lock.unlock();
  CommitSubmissions(batch);
  lock.lock();
  // Notified under the lock: a woken waiter returns (destroying its `wake`)
  // only once it holds the lock again.
  for (PendingSubmission* pending : batch) {
    if (pending == &me) continue;
    pending->done = true;
    pending->wake.notify_one();
  }
  if (batch_queue_.empty()) {
    batch_leader_active_ = false;
  } else {
    batch_queue_.front()->lead = true;
    batch_queue_.front()->wake.notify_one();
  }
  return std::move(*me.outcome);
}

StatusOr<v1::Job> JobStore::Get(const std::string& job_id) {
  std::lock_guard lock(mutex_);
  QATLAB_ASSIGN_OR_RETURN(std::optional<v1::Job> job, LoadJob(job_id, nullptr));
  if (!job.has_value()) return NoSuchJob(job_id);
  return std::move(*job);
}

StatusOr<JobPage> JobStore::List(const ListJobsQuery& query) {
  if (query.page_size < 0) {
    return Status::InvalidArgument(fmt::format("page_size must not be negative (got {})", query.page_size));
  }
  const int page_size = query.page_size == 0 ? 50 : std::min(query.page_size, 1000);
  int64_t after_seq = INT64_MAX;
  if (!query.page_token.empty()) {
    // Tokens are opaque to clients; they are the seq of the last job returned.
    const std::string& token = query.page_token;
    const size_t prefix = std::char_traits<char>::length(kPageTokenPrefix);
    auto [end, ec] =
        std::from_chars(token.data() + std::min(prefix, token.size()), token.data() + token.size(), after_seq);
    if (token.compare(0, prefix, kPageTokenPrefix) != 0 || ec != std::errc() || end != token.data() + token.size() ||
        after_seq <= 0) {
      return Status::InvalidArgument(fmt::format("page_token '{}' is not a token this server issued", token));
    }
  }
  std::string sql = fmt::format("SELECT {} FROM jobs WHERE seq < ?1", kJobColumns);
  int next_param = 2;
  if (query.state != v1::JOB_STATE_UNSPECIFIED) sql += fmt::format(" AND state = ?{}", next_param++);
  if (!query.experiment.empty()) sql += fmt::format(" AND experiment = ?{}", next_param++);
  if (!query.sweep_id.empty()) {
    sql += fmt::format(" AND sweep_seq = (SELECT seq FROM sweeps WHERE id = ?{})", next_param++);
  }
  for (size_t i = 0; i < query.labels.size(); ++i) {
    sql += fmt::format(
        " AND EXISTS (SELECT 1 FROM job_labels l WHERE l.job_seq = jobs.seq AND l.key = ?{} AND l.value = ?{})",
        next_param, next_param + 1);
    next_param += 2;
  }
  sql += fmt::format(" ORDER BY seq DESC LIMIT ?{}", next_param);

  std::lock_guard lock(mutex_);
  if (!query.sweep_id.empty()) {
    Statement sweep = db_->Prepare("SELECT 1 FROM sweeps WHERE id = ?1");
    sweep.Bind(1, query.sweep_id);
    if (!sweep.Step()) {
      QATLAB_RETURN_IF_ERROR(sweep.status());
      return NoSuchSweep(query.sweep_id);
    }
  }
  Statement s = db_->Prepare(sql);
  int param = 1;
  s.Bind(param++, after_seq);
  if (query.state != v1::JOB_STATE_UNSPECIFIED) s.Bind(param++, static_cast<int>(query.state));
  if (!query.experiment.empty()) s.Bind(param++, query.experiment);
  if (!query.sweep_id.empty()) s.Bind(param++, query.sweep_id);
  for (const auto& [key, value] : query.labels) {
    s.Bind(param++, key);
    s.Bind(param++, value);
  }
  s.Bind(param, page_size + 1);  // one extra row tells whether another page exists
  JobPage page;
  int64_t last_seq = 0;
  size_t page_bytes = 0;
  while (s.Step()) {
    int64_t seq = 0;
    v1::Job job = JobFromRow(s, &seq);
    if (!query.full_spec) {
      for (v1::LayerSpec& layer : *job.mutable_spec()->mutable_model()->mutable_layers()) {
        layer.clear_name();
        layer.clear_from();
      }
    }
    const size_t job_bytes = job.ByteSizeLong();
    if (static_cast<int>(page.jobs.size()) == page_size ||
        (!page.jobs.empty() && page_bytes + job_bytes > query.max_page_bytes)) {
      page.next_page_token = kPageTokenPrefix + std::to_string(last_seq);
      break;
    }
    page_bytes += job_bytes;
    last_seq = seq;
    page.jobs.push_back(std::move(job));
  }
  QATLAB_RETURN_IF_ERROR(s.status());
  return page;
}

Status JobStore::CancelLoaded(v1::Job* job, std::string* message) {
  message->clear();
  switch (job->state()) {
    case v1::QUEUED: {
      const int64_t now = clock_.NowUnixMs();
      Statement s = db_->Prepare(
          "UPDATE jobs SET state = ?2, cancel_requested = 1, finished_unix_ms = ?3 WHERE id = ?1 AND state = ?4");
      s.Bind(1, job->id()).Bind(2, static_cast<int>(v1::CANCELLED)).Bind(3, now);
      s.Bind(4, static_cast<int>(v1::QUEUED));
      QATLAB_RETURN_IF_ERROR(s.Run());
      job->set_state(v1::CANCELLED);
      job->set_cancel_requested(true);
      job->set_finished_unix_ms(now);
      *message = "cancelled while queued";
      return Status::Ok();
    }
    case v1::RUNNING: {
      if (job->cancel_requested()) return Status::Ok();
      Statement s = db_->Prepare("UPDATE jobs SET cancel_requested = 1 WHERE id = ?1");
      s.Bind(1, job->id());
      QATLAB_RETURN_IF_ERROR(s.Run());
      job->set_cancel_requested(true);
      *message = "cancel requested; the worker stops on its next heartbeat";
      return Status::Ok();
    }
    case v1::CANCELLED: return Status::Ok();
    default:
      return Status::FailedPrecondition(
          fmt::format("job {} already finished as {}; nothing to cancel", job->id(), v1::JobState_Name(job->state())));
  }
}

StatusOr<v1::Job> JobStore::Cancel(const std::string& job_id) {
  std::lock_guard lock(mutex_);
  Transaction transaction(*db_);
  QATLAB_RETURN_IF_ERROR(transaction.status());
  QATLAB_ASSIGN_OR_RETURN(std::optional<v1::Job> loaded, LoadJob(job_id, nullptr));
  if (!loaded.has_value()) return NoSuchJob(job_id);
  const v1::Job before = *loaded;
  v1::Job job = before;
  std::string message;
  QATLAB_RETURN_IF_ERROR(CancelLoaded(&job, &message));
  if (message.empty()) return job;
  QATLAB_ASSIGN_OR_RETURN(auto orphans, FailOrphanedDependents(clock_.NowUnixMs()));
  QATLAB_RETURN_IF_ERROR(transaction.Commit());
  if (job.state() == v1::RUNNING) spdlog::info("job {}: {}", job_id, message);
  Announce(before, JobUpdate{job, std::nullopt, std::nullopt, message});
  AnnounceAll(orphans);
  return job;
}

StatusOr<std::vector<std::pair<v1::Job, JobUpdate>>> JobStore::FailOrphanedDependents(int64_t now) {
  static_assert(v1::QUEUED == 1 && v1::FAILED == 4 && v1::CANCELLED == 5, "the query says state = 1, 4 and 5");
  Statement orphans = db_->Prepare(
      "SELECT d.id, b.id, b.state, b.error FROM jobs d JOIN jobs b ON b.seq = d.baseline_seq "
      "WHERE d.state = 1 AND d.baseline_seq IS NOT NULL AND b.state IN (4, 5)");
  struct Orphan {
    std::string id, error;
  };
  std::vector<Orphan> found;
  while (orphans.Step()) {
    const std::string baseline = orphans.ColumnText(1);
    const bool cancelled = orphans.ColumnInt(2) == v1::CANCELLED;
    found.push_back({orphans.ColumnText(0),
                     cancelled ? fmt::format("baseline job {} was cancelled", baseline)
                               : fmt::format("baseline job {} failed: {}", baseline, orphans.ColumnText(3))});
  }
  QATLAB_RETURN_IF_ERROR(orphans.status());
  std::vector<std::pair<v1::Job, JobUpdate>> updates;
  for (const Orphan& orphan : found) {
    QATLAB_ASSIGN_OR_RETURN(std::optional<v1::Job> before, LoadJob(orphan.id, nullptr));
    if (!before.has_value()) continue;
    Statement fail =
        db_->Prepare("UPDATE jobs SET state = ?2, error = ?3, finished_unix_ms = ?4 WHERE id = ?1 AND state = ?5");
    fail.Bind(1, orphan.id).Bind(2, static_cast<int>(v1::FAILED)).Bind(3, orphan.error).Bind(4, now);
    fail.Bind(5, static_cast<int>(v1::QUEUED));
    QATLAB_RETURN_IF_ERROR(fail.Run());
    v1::Job job = *before;
    job.set_state(v1::FAILED);
    job.set_error(orphan.error);
    job.set_finished_unix_ms(now);
    updates.emplace_back(std::move(*before), JobUpdate{std::move(job), std::nullopt, std::nullopt, orphan.error});
  }
  return updates;
}

void JobStore::AnnounceAll(const std::vector<std::pair<v1::Job, JobUpdate>>& updates) {
  for (const auto& [before, update] : updates) Announce(before, update);
}

// --- sweeps ---

StatusOr<SweepRecord> JobStore::SubmitSweep(const v1::SweepSpec& spec, const std::string& name,
                                            const std::vector<SweepJobGroup>& groups) {
  std::lock_guard lock(mutex_);
  Transaction transaction(*db_);
  QATLAB_RETURN_IF_ERROR(transaction.status());
  const int64_t now = clock_.NowUnixMs();
  SweepRecord record;
  record.sweep.set_id("s-" + tokens_.Next(12));
  record.sweep.set_name(name);
  record.sweep.set_created_unix_ms(now);
  *record.sweep.mutable_spec() = spec;
  std::string spec_bytes;
  spec.SerializeToString(&spec_bytes);
  Statement insert = db_->Prepare("INSERT INTO sweeps (id, name, spec, created_unix_ms) VALUES (?1, ?2, ?3, ?4)");
  insert.Bind(1, record.sweep.id()).Bind(2, name).BindBlob(3, spec_bytes).Bind(4, now);
  QATLAB_RETURN_IF_ERROR(insert.Run());
  const int64_t sweep_seq = db_->LastInsertRowId();
  std::vector<v1::Job> grid_jobs;
  for (const SweepJobGroup& group : groups) {
    std::string baseline_id;
    bool created = false;
    if (group.baseline.has_value()) {
      QATLAB_ASSIGN_OR_RETURN(v1::Job baseline, InsertJob(*group.baseline, "", &created, sweep_seq, true));
      baseline.set_sweep_id(record.sweep.id());
      baseline_id = baseline.id();
      record.sweep.add_baseline_job_ids(baseline_id);
      record.jobs.push_back(std::move(baseline));
    }
    for (const v1::JobSpec& job_spec : group.jobs) {
      v1::JobSpec with_baseline = job_spec;
      if (with_baseline.baseline_job().empty()) with_baseline.set_baseline_job(baseline_id);
      QATLAB_ASSIGN_OR_RETURN(v1::Job job, InsertJob(with_baseline, "", &created, sweep_seq, false));
      job.set_sweep_id(record.sweep.id());
      record.sweep.add_job_ids(job.id());
      grid_jobs.push_back(std::move(job));
    }
  }
  QATLAB_RETURN_IF_ERROR(transaction.Commit());
  for (v1::Job& job : grid_jobs) record.jobs.push_back(std::move(job));
  spdlog::info("sweep {} ({}): {} baselines, {} jobs", record.sweep.id(), PrintableValue(name),
               record.sweep.baseline_job_ids_size(), record.sweep.job_ids_size());
  for (const v1::Job& job : record.jobs) Announce(v1::Job(), JobUpdate{job, std::nullopt, std::nullopt, "submitted"});
  return record;
}

StatusOr<SweepRecord> JobStore::LoadSweep(const std::string& sweep_id, int64_t* seq) {
  Statement head = db_->Prepare("SELECT seq, name, spec, created_unix_ms FROM sweeps WHERE id = ?1");
  head.Bind(1, sweep_id);
  if (!head.Step()) {
    QATLAB_RETURN_IF_ERROR(head.status());
    return NoSuchSweep(sweep_id);
  }
  SweepRecord record;
  *seq = head.ColumnInt(0);
  record.sweep.set_id(sweep_id);
  record.sweep.set_name(head.ColumnText(1));
  record.sweep.mutable_spec()->ParseFromString(head.ColumnBlob(2));
  record.sweep.set_created_unix_ms(head.ColumnInt(3));
  Statement jobs = db_->Prepare(fmt::format(
      "SELECT {}, sweep_baseline FROM jobs WHERE sweep_seq = ?1 ORDER BY sweep_baseline DESC, seq", kJobColumns));
  jobs.Bind(1, *seq);
  while (jobs.Step()) {
    v1::Job job = JobFromRow(jobs, nullptr);
    if (jobs.ColumnInt(kJobColumnCount) != 0) {
      record.sweep.add_baseline_job_ids(job.id());
    } else {
      record.sweep.add_job_ids(job.id());
    }
    record.jobs.push_back(std::move(job));
  }
  QATLAB_RETURN_IF_ERROR(jobs.status());
  return record;
}

StatusOr<SweepRecord> JobStore::GetSweep(const std::string& sweep_id) {
  std::lock_guard lock(mutex_);
  int64_t seq = 0;
  return LoadSweep(sweep_id, &seq);
}

StatusOr<SweepRecord> JobStore::CancelSweep(const std::string& sweep_id) {
  std::lock_guard lock(mutex_);
  Transaction transaction(*db_);
  QATLAB_RETURN_IF_ERROR(transaction.status());
  int64_t seq = 0;
  QATLAB_ASSIGN_OR_RETURN(SweepRecord record, LoadSweep(sweep_id, &seq));
  std::vector<std::pair<v1::Job, JobUpdate>> updates;
  for (v1::Job& job : record.jobs) {
    if (job.state() != v1::QUEUED && job.state() != v1::RUNNING) continue;
    const v1::Job before = job;
    std::string message;
    QATLAB_RETURN_IF_ERROR(CancelLoaded(&job, &message));
    if (!message.empty()) {
      updates.emplace_back(before, JobUpdate{job, std::nullopt, std::nullopt, "sweep cancelled: " + message});
    }
  }
  QATLAB_ASSIGN_OR_RETURN(auto orphans, FailOrphanedDependents(clock_.NowUnixMs()));
  QATLAB_RETURN_IF_ERROR(transaction.Commit());
  spdlog::info("sweep {}: cancelled ({} jobs changed)", sweep_id, updates.size());
  AnnounceAll(updates);
  AnnounceAll(orphans);
  return record;
}

StatusOr<v1::JobResult> JobStore::GetResult(const std::string& job_id) {
  std::lock_guard lock(mutex_);
  int64_t seq = 0;
  QATLAB_ASSIGN_OR_RETURN(std::optional<v1::Job> job, LoadJob(job_id, &seq));
  if (!job.has_value()) return NoSuchJob(job_id);

  v1::JobResult result;
  Statement head = db_->Prepare(
      "SELECT experiment, model, dataset, train_samples, test_samples, total_seconds, float_weight_bytes, run_record, "
      "ptq_test_samples, layer_hessian FROM results WHERE job_seq = ?1");
  head.Bind(1, seq);
  if (!head.Step()) {
    QATLAB_RETURN_IF_ERROR(head.status());
    return Status::FailedPrecondition(
        fmt::format("job {} has no result (it is {})", job_id, v1::JobState_Name(job->state())));
  }
  result.set_experiment(head.ColumnText(0));
  result.set_model(head.ColumnText(1));
  result.set_dataset(head.ColumnText(2));
  result.set_train_samples(static_cast<int32_t>(head.ColumnInt(3)));
  result.set_test_samples(static_cast<int32_t>(head.ColumnInt(4)));
  result.set_total_seconds(head.ColumnDouble(5));
  result.set_float_weight_bytes(head.ColumnInt(6));
  if (!head.ColumnIsNull(7) && !result.mutable_run()->ParseFromString(head.ColumnBlob(7))) {
    return Status::Corruption(fmt::format("job {}: its stored run record does not parse", job_id));
  }
  if (!head.ColumnIsNull(8)) result.set_ptq_test_samples(static_cast<int32_t>(head.ColumnInt(8)));
  if (!head.ColumnIsNull(9)) {
    v1::JobResult hessian;
    if (!hessian.ParseFromString(head.ColumnBlob(9))) {
      return Status::Corruption(fmt::format("job {}: its stored layer Hessian traces do not parse", job_id));
    }
    *result.mutable_layer_hessian() = std::move(*hessian.mutable_layer_hessian());
  }

  Statement variants = db_->Prepare(
      "SELECT name, kind, config, weight_bits, activation_bits, layer_weight_bits, accuracy, integer_accuracy, "
      "agreement, flash_bytes, parameters, macs, ram_bytes, train_seconds, artifact, artifact_sha256, baseline_job, "
      "error "
      "FROM variant_results WHERE job_seq = ?1 ORDER BY ordinal");
  variants.Bind(1, seq);
  std::map<std::string, v1::VariantResult*> by_name;
  while (variants.Step()) {
    v1::VariantResult* v = result.add_variants();
    v->set_name(variants.ColumnText(0));
    v->set_kind(variants.ColumnText(1));
    v->set_config(variants.ColumnText(2));
    v->set_weight_bits(static_cast<int32_t>(variants.ColumnInt(3)));
    v->set_activation_bits(static_cast<int32_t>(variants.ColumnInt(4)));
    SplitInts(variants.ColumnText(5), v->mutable_layer_weight_bits());
    v->set_accuracy(variants.ColumnDouble(6));
    v->set_integer_accuracy(variants.ColumnDouble(7));
    v->set_agreement(variants.ColumnDouble(8));
    v->set_flash_bytes(variants.ColumnInt(9));
    v->set_parameters(variants.ColumnInt(10));
    v->set_macs(variants.ColumnInt(11));
    v->set_ram_bytes(variants.ColumnInt(12));
    v->set_train_seconds(variants.ColumnDouble(13));
    v->set_artifact(variants.ColumnText(14));
    v->set_artifact_sha256(variants.ColumnText(15));
    v->set_baseline_job(variants.ColumnText(16));
    v->set_error(variants.ColumnText(17));
    by_name[v->name()] = v;
  }
  QATLAB_RETURN_IF_ERROR(variants.status());

  Statement epochs = db_->Prepare(
      "SELECT variant, epoch, epochs, loss, train_accuracy, test_accuracy, seconds FROM epoch_history "
      "WHERE job_seq = ?1 ORDER BY variant, epoch");
  epochs.Bind(1, seq);
  while (epochs.Step()) {
    auto it = by_name.find(epochs.ColumnText(0));
    if (it == by_name.end()) continue;
    v1::EpochStats* e = it->second->add_history();
    e->set_variant(epochs.ColumnText(0));
    e->set_epoch(static_cast<int32_t>(epochs.ColumnInt(1)));
    e->set_epochs(static_cast<int32_t>(epochs.ColumnInt(2)));
    e->set_loss(epochs.ColumnDouble(3));
    e->set_train_accuracy(epochs.ColumnDouble(4));
    e->set_test_accuracy(epochs.ColumnDouble(5));
    e->set_seconds(epochs.ColumnDouble(6));
  }
  QATLAB_RETURN_IF_ERROR(epochs.status());
  return result;
}

StatusOr<JobStore::Watch> JobStore::WatchJob(const std::string& job_id) {
  // Changes are published while mutex_ is held, so subscribing under it makes
  // the snapshot and the stream of changes line up exactly.
  std::lock_guard lock(mutex_);
  QATLAB_ASSIGN_OR_RETURN(std::optional<v1::Job> job, LoadJob(job_id, nullptr));
  if (!job.has_value()) return NoSuchJob(job_id);
  return Watch{std::move(*job), notifier_.Subscribe(job_id)};
}

// --- workers ---

StatusOr<std::optional<JobLease>> JobStore::LeaseNext(const std::string& worker_id, const std::string& token_digest) {
  std::lock_guard lock(mutex_);
  Transaction transaction(*db_);
  QATLAB_RETURN_IF_ERROR(transaction.status());
  // A job waiting for its baseline is passed over until the baseline
  // SUCCEEDED (state 3).
  Statement next = db_->Prepare(
      fmt::format("SELECT {} FROM jobs WHERE state = 1 AND (baseline_seq IS NULL OR EXISTS (SELECT 1 FROM jobs b "
                  "WHERE b.seq = jobs.baseline_seq AND b.state = 3)) ORDER BY priority DESC, seq LIMIT 1",
                  kJobColumns));
  static_assert(v1::QUEUED == 1 && v1::SUCCEEDED == 3, "the jobs_queue index and this query say state = 1 and 3");
  if (!next.Step()) {
    QATLAB_RETURN_IF_ERROR(next.status());
    return std::optional<JobLease>();
  }
  int64_t seq = 0;
  v1::Job before = JobFromRow(next, &seq);
  const int64_t now = clock_.NowUnixMs();
  LeaseGrant grant;
  QATLAB_RETURN_IF_ERROR(leases_.Grant(*db_, seq, worker_id, token_digest, now, &grant));
  QATLAB_RETURN_IF_ERROR(transaction.Commit());
  JobLease lease;
  lease.job = before;
  lease.lease_id = std::move(grant.lease_id);
  lease.deadline_unix_ms = grant.deadline_unix_ms;
  lease.job.set_state(v1::RUNNING);
  lease.job.set_attempt(before.attempt() + 1);
  lease.job.set_worker_id(worker_id);
  lease.job.set_started_unix_ms(now);
  Announce(before, JobUpdate{lease.job, std::nullopt, std::nullopt,
                             fmt::format("leased by {} (attempt {} of {})", worker_id, lease.job.attempt(),
                                         lease.job.max_attempts())});
  return std::optional<JobLease>(std::move(lease));
}

StatusOr<HeartbeatOutcome> JobStore::Heartbeat(const std::string& job_id, const LeaseClaim& claim,
                                               const v1::EpochStats* progress) {
  std::lock_guard lock(mutex_);
  Transaction transaction(*db_);
  QATLAB_RETURN_IF_ERROR(transaction.status());
  int64_t seq = 0;
  LeasedRow lease;
  QATLAB_ASSIGN_OR_RETURN(std::optional<v1::Job> loaded, LoadJob(job_id, &seq, &lease));
  if (!loaded.has_value()) return NoSuchJob(job_id);
  QATLAB_RETURN_IF_ERROR(CheckHolder(lease, claim));
  const v1::Job& before = *loaded;
  HeartbeatOutcome outcome;
  if (lease.lease_id == claim.lease_id && before.state() == v1::CANCELLED) {
    outcome.cancelled = true;  // a repeated heartbeat after the cancel took effect
    return outcome;
  }
  if (!leases_.IsCurrent(lease, claim.lease_id)) {
    outcome.lease_lost = true;
    return outcome;
  }
  const int64_t now = clock_.NowUnixMs();
  v1::Job job = before;
  if (before.cancel_requested()) {
    QATLAB_RETURN_IF_ERROR(CancelLeasedJob(seq, std::nullopt, now, &job));
    QATLAB_ASSIGN_OR_RETURN(auto orphans, FailOrphanedDependents(now));
    QATLAB_RETURN_IF_ERROR(transaction.Commit());
    outcome.cancelled = true;
    Announce(before, JobUpdate{job, std::nullopt, std::nullopt, "cancelled; worker " + job.worker_id() + " told"});
    AnnounceAll(orphans);
    return outcome;
  }
  QATLAB_RETURN_IF_ERROR(leases_.Extend(*db_, seq, now, &outcome.deadline_unix_ms));
  // Only a progress report that says something new becomes an event; timer
  // heartbeats just keep the lease alive.
  const bool new_progress =
      progress != nullptr &&
      (progress->variant() != before.last_progress().variant() || progress->epoch() != before.last_progress().epoch() ||
       progress->loss() != before.last_progress().loss() ||
       progress->test_accuracy() != before.last_progress().test_accuracy());
  if (new_progress) {
    std::string progress_bytes;
    progress->SerializeToString(&progress_bytes);
    Statement update = db_->Prepare("UPDATE jobs SET last_progress = ?2 WHERE seq = ?1");
    update.Bind(1, seq).BindBlob(2, progress_bytes);
    QATLAB_RETURN_IF_ERROR(update.Run());
    *job.mutable_last_progress() = *progress;
  }
  QATLAB_RETURN_IF_ERROR(transaction.Commit());
  if (new_progress) Announce(before, JobUpdate{job, *progress, std::nullopt, ""});
  return outcome;
}

Status JobStore::Complete(const std::string& job_id, const LeaseClaim& claim, const v1::JobResult& result) {
  std::lock_guard lock(mutex_);
  Transaction transaction(*db_);
  QATLAB_RETURN_IF_ERROR(transaction.status());
  int64_t seq = 0;
  v1::Job before;
  QATLAB_RETURN_IF_ERROR(LoadLeasedJob(job_id, claim, &before, &seq));
  const int64_t now = clock_.NowUnixMs();
  v1::Job job = before;
  if (before.cancel_requested()) {
    // The worker finished before it heard of the cancel; the user's cancel wins.
    QATLAB_RETURN_IF_ERROR(CancelLeasedJob(seq, std::nullopt, now, &job));
    QATLAB_ASSIGN_OR_RETURN(auto orphans, FailOrphanedDependents(now));
    QATLAB_RETURN_IF_ERROR(transaction.Commit());
    Announce(before, JobUpdate{job, std::nullopt, std::nullopt, "cancelled; the finished result was discarded"});
    AnnounceAll(orphans);
    return Status::FailedPrecondition(fmt::format("job {} was cancelled; its result was not stored", job_id));
  }

  Statement head = db_->Prepare(
      "INSERT INTO results (job_seq, experiment, model, dataset, train_samples, test_samples, total_seconds, "
      "float_weight_bytes, created_unix_ms, run_record, ptq_test_samples, layer_hessian) "
      "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)");
  head.Bind(1, seq).Bind(2, result.experiment()).Bind(3, result.model()).Bind(4, result.dataset());
  head.Bind(5, result.train_samples()).Bind(6, result.test_samples()).Bind(7, result.total_seconds());
  head.Bind(8, result.float_weight_bytes()).Bind(9, now);
  if (result.has_run()) {
    head.BindBlob(10, result.run().SerializeAsString());
  } else {
    head.BindNull(10);
  }
  head.Bind(11, result.ptq_test_samples());
  if (result.layer_hessian_size() > 0) {
    v1::JobResult hessian;
    *hessian.mutable_layer_hessian() = result.layer_hessian();
    head.BindBlob(12, hessian.SerializeAsString());
  } else {
    head.BindNull(12);
  }
  QATLAB_RETURN_IF_ERROR(head.Run());
  for (int i = 0; i < result.variants_size(); ++i) {
    const v1::VariantResult& v = result.variants(i);
    Statement row = db_->Prepare(
        "INSERT INTO variant_results (job_seq, ordinal, name, kind, config, weight_bits, activation_bits, "
        "layer_weight_bits, accuracy, integer_accuracy, agreement, flash_bytes, parameters, macs, ram_bytes, "
        "train_seconds, artifact, artifact_sha256, baseline_job, error) "
        "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20)");
    row.Bind(1, seq).Bind(2, i).Bind(3, v.name()).Bind(4, v.kind()).Bind(5, v.config()).Bind(6, v.weight_bits());
    row.Bind(7, v.activation_bits()).Bind(8, JoinInts(v.layer_weight_bits())).Bind(9, v.accuracy());
    row.Bind(10, v.integer_accuracy()).Bind(11, v.agreement()).Bind(12, v.flash_bytes()).Bind(13, v.parameters());
    row.Bind(14, v.macs()).Bind(15, v.ram_bytes()).Bind(16, v.train_seconds()).Bind(17, v.artifact());
    row.Bind(18, v.artifact_sha256()).Bind(19, v.baseline_job()).Bind(20, v.error());
    Status inserted = row.Run();
    if (!inserted.ok()) {
      return Status::InvalidArgument(
          fmt::format("result.variants[{}] (name '{}') could not be stored: {}", i, v.name(), inserted.message()));
    }
    for (const v1::EpochStats& e : v.history()) {
      Statement epoch = db_->Prepare(
          "INSERT OR REPLACE INTO epoch_history (job_seq, variant, epoch, epochs, loss, train_accuracy, "
          "test_accuracy, seconds) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)");
      epoch.Bind(1, seq).Bind(2, v.name()).Bind(3, e.epoch()).Bind(4, e.epochs()).Bind(5, e.loss());
      epoch.Bind(6, e.train_accuracy()).Bind(7, e.test_accuracy()).Bind(8, e.seconds());
      QATLAB_RETURN_IF_ERROR(epoch.Run());
    }
  }
  QATLAB_RETURN_IF_ERROR(leases_.Finish(*db_, seq, LeaseEnd::kSucceeded, "", now));
  job.set_state(v1::SUCCEEDED);
  job.set_finished_unix_ms(now);
  job.clear_error();
  if (options_.on_success) QATLAB_RETURN_IF_ERROR(options_.on_success(transaction, seq, job));
  QATLAB_RETURN_IF_ERROR(transaction.Commit());
  Announce(before, JobUpdate{job, std::nullopt, result, "completed by " + job.worker_id()});
  return Status::Ok();
}

Status JobStore::Fail(const std::string& job_id, const LeaseClaim& claim, const std::string& error, bool retryable) {
  std::lock_guard lock(mutex_);
  Transaction transaction(*db_);
  QATLAB_RETURN_IF_ERROR(transaction.status());
  int64_t seq = 0;
  v1::Job before;
  QATLAB_RETURN_IF_ERROR(LoadLeasedJob(job_id, claim, &before, &seq));
  const int64_t now = clock_.NowUnixMs();
  v1::Job job = before;
  std::string message;
  if (before.cancel_requested()) {
    QATLAB_RETURN_IF_ERROR(CancelLeasedJob(seq, error, now, &job));
    message = "cancelled (worker gave the job up)";
  } else if (retryable) {
    // Given back (e.g. the worker is shutting down): not counted as an attempt.
    QATLAB_RETURN_IF_ERROR(leases_.GiveBack(*db_, seq, error));
    job.set_state(v1::QUEUED);
    job.set_attempt(before.attempt() - 1);
    job.set_worker_id("");
    message = "given back by " + before.worker_id() + ": " + error;
  } else {
    QATLAB_RETURN_IF_ERROR(leases_.Finish(*db_, seq, LeaseEnd::kFailed, error, now));
    job.set_state(v1::FAILED);
    job.set_finished_unix_ms(now);
    message = error;
  }
  job.set_error(error);
  QATLAB_ASSIGN_OR_RETURN(auto orphans, FailOrphanedDependents(now));
  QATLAB_RETURN_IF_ERROR(transaction.Commit());
  Announce(before, JobUpdate{job, std::nullopt, std::nullopt, message});
  AnnounceAll(orphans);
  return Status::Ok();
}

StatusOr<int> JobStore::ExpireLeases() { return EndLeases(nullptr, ""); }

StatusOr<int> JobStore::ReleaseJobsOf(const std::string& worker_id, const std::string& cause) {
  return EndLeases(&worker_id, cause);
}

StatusOr<int> JobStore::EndLeases(const std::string* holder, const std::string& cause) {
  std::lock_guard lock(mutex_);
  Transaction transaction(*db_);
  QATLAB_RETURN_IF_ERROR(transaction.status());
  QATLAB_ASSIGN_OR_RETURN(std::vector<ExpiredLease> expired,
                          holder == nullptr ? leases_.ExpireDue(*db_, clock_.NowUnixMs())
                                            : leases_.ExpireHeldBy(*db_, *holder, cause, clock_.NowUnixMs()));
  if (expired.empty()) return 0;
  std::vector<JobUpdate> updates;
  for (const ExpiredLease& e : expired) {
    QATLAB_ASSIGN_OR_RETURN(std::optional<v1::Job> job, LoadJob(e.id, nullptr));
    if (!job.has_value()) return Status::Internal(fmt::format("job {} vanished while its lease expired", e.id));
    updates.push_back(JobUpdate{std::move(*job), std::nullopt, std::nullopt, e.reason});
  }
  QATLAB_ASSIGN_OR_RETURN(auto orphans, FailOrphanedDependents(clock_.NowUnixMs()));
  QATLAB_RETURN_IF_ERROR(transaction.Commit());
  v1::Job running;  // what every expired job was before
  running.set_state(v1::RUNNING);
  for (const JobUpdate& update : updates) Announce(running, update);
  AnnounceAll(orphans);
  return static_cast<int>(expired.size());
}

// REQUIRES: mutex_ held. Loads the job into *job (and its row seq) when
// `claim` is its current lease and it is RUNNING; NotFound, PermissionDenied
// (another token's lease) or FailedPrecondition (a stale lease) otherwise.
Status JobStore::LoadLeasedJob(const std::string& job_id, const LeaseClaim& claim, v1::Job* job, int64_t* seq) {
  LeasedRow lease;
  QATLAB_ASSIGN_OR_RETURN(std::optional<v1::Job> loaded, LoadJob(job_id, seq, &lease));
  if (!loaded.has_value()) return NoSuchJob(job_id);
  *job = std::move(*loaded);
  return leases_.Check(lease, claim);
}

// REQUIRES: mutex_ held, a transaction open, and the job's cancel requested
// while a worker held it: the user's cancel wins over whatever the worker
// reports. Ends the lease as cancelled (recording `error`, if any) and marks
// *job CANCELLED at `now`.
Status JobStore::CancelLeasedJob(int64_t seq, std::optional<std::string_view> error, int64_t now, v1::Job* job) {
  QATLAB_RETURN_IF_ERROR(leases_.Finish(*db_, seq, LeaseEnd::kCancelled, error, now));
  job->set_state(v1::CANCELLED);
  job->set_finished_unix_ms(now);
  return Status::Ok();
}

Status JobStore::CheckLease(const std::string& job_id, const LeaseClaim& claim) {
  std::lock_guard lock(mutex_);
  v1::Job job;
  QATLAB_RETURN_IF_ERROR(LoadLeasedJob(job_id, claim, &job, nullptr));
  return Status::Ok();
}

StatusOr<std::string> JobStore::IntegrityCheck() {
  std::lock_guard lock(mutex_);
  Statement s = db_->Prepare("PRAGMA integrity_check");
  std::string out;
  while (s.Step()) {
    if (!out.empty()) out += "\n";
    out += s.ColumnText(0);
  }
  QATLAB_RETURN_IF_ERROR(s.status());
  return out;
}

StatusOr<int64_t> JobStore::CountJobs() {
  std::lock_guard lock(mutex_);
  Statement s = db_->Prepare("SELECT COUNT(*) FROM jobs");
  if (!s.Step()) return s.status().ok() ? Status::Internal("COUNT returned no row") : s.status();
  return s.ColumnInt(0);
}

}  // namespace qatlab::server
