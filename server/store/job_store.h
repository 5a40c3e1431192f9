// The job queue and everything persisted about jobs: submissions, leases,
// progress and results (the data sets and artifacts are the Catalogue's,
// server/store/catalogue.h). The queue IS the database: every
// change is committed before the call returns, so a server killed at any
// moment and restarted loses no accepted job and no finished result.
//
// States and transitions (see docs/api.md):
//   Submit            -> QUEUED
//   LeaseNext         QUEUED -> RUNNING (attempt + 1, new lease id + deadline)
//   Heartbeat         RUNNING: deadline extended; if a cancel was requested
//                     -> CANCELLED and the reply says so
//   Complete          RUNNING (current lease only) -> SUCCEEDED, result stored,
//                     and in the same transaction whatever on_success adds
//                     (the server: the measurements spec.measure_on asks for)
//   Fail              RUNNING (current lease only) -> FAILED, or back to
//                     QUEUED with the attempt not counted when retryable
//   ExpireLeases      RUNNING past deadline -> QUEUED, or FAILED once attempt
//                     reached max_attempts, or CANCELLED if one was requested
//   Cancel            QUEUED -> CANCELLED; RUNNING -> cancel_requested
// A stale lease id (the job was requeued or finished since) is refused with
// FailedPrecondition and changes nothing: a job finishes exactly once. A
// lease presented with another token than the one that took it is refused
// with PermissionDenied and changes nothing (the holder binding of lease.h:
// kept in the job's row, so it holds across restarts). The
// lease rules are those of server/store/lease.h, which the measurement queue shares.
//
// After a restart RUNNING jobs keep their persisted lease and deadline: a
// worker that survived the restart carries on and heartbeats as before; one
// that died with the server lets the lease expire and the job is requeued.
//
// No gRPC here. Time comes from an injected Clock; ExpireLeases is called by
// the server's reaper thread (and by tests after advancing a ManualClock).
// Thread-safety: every method may be called from any thread; one mutex
// serialises use of the single SQLite connection (the server is the only
// writer, so clients never see "database is locked").
#pragma once

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "qatlab/v1/resources.pb.h"
#include "server/store/clock.h"
#include "server/store/database.h"
#include "server/store/job_notifier.h"
#include "server/store/lease.h"
#include "server/store/random_tokens.h"
#include "status/status.h"

namespace qatlab::server {

// Work that commits or rolls back together with a job's success: called
// inside Complete's transaction once the job's result rows are written and its
// row says SUCCEEDED (`job_seq` is that row). What it writes through
// transaction.database() joins the transaction; a non-OK status rolls the
// whole completion back and Complete returns it (the job stays RUNNING under
// its lease). Called with the store's lock and the database's write lock held:
// it must not call the JobStore, nor wait for a lock anyone holds while
// waiting for the database.
using JobSucceededHook = std::function<Status(Transaction& transaction, int64_t job_seq, const v1::Job& job)>;

struct JobStoreOptions {
  int64_t lease_ms = 30000;  // a lease's life without heartbeats
  SyncMode sync = SyncMode::kNormal;
  // > 0: the database file may not grow past this; a write beyond fails with
  // ResourceExhausted (as on a full disk) and rolls back, losing nothing
  // already stored.
  int64_t max_database_bytes = 0;
  JobSucceededHook on_success = {};  // empty: nothing more to do
};

struct JobLease {
  v1::Job job;
  std::string lease_id;
  int64_t deadline_unix_ms = 0;
};

struct HeartbeatOutcome {
  bool cancelled = false;
  bool lease_lost = false;
  int64_t deadline_unix_ms = 0;
};

struct ListJobsQuery {
  int page_size = 50;
  std::string page_token;
  v1::JobState state = v1::JOB_STATE_UNSPECIFIED;
  std::string experiment;
  std::map<std::string, std::string> labels;
  std::string sweep_id;  // NotFound when no such sweep
  // False: each layer of a spec loses its name and `from` (ListJobs' BASIC
  // view).
  bool full_spec = true;
  // A page ends early (with a next token) before its jobs pass this many
  // serialized bytes; it always holds at least one job.
  size_t max_page_bytes = 2 << 20;
};

// A sweep's jobs to create: a new float baseline (or none, when the jobs
// name an existing one in spec.baseline_job) and the jobs that start from it.
struct SweepJobGroup {
  std::optional<v1::JobSpec> baseline;
  std::vector<v1::JobSpec> jobs;  // baseline_job empty: the new baseline's id is filled in
};

// A sweep and its jobs: baselines first, then the grid's jobs in grid order.
struct SweepRecord {
  v1::Sweep sweep;
  std::vector<v1::Job> jobs;
};

struct JobPage {
  std::vector<v1::Job> jobs;
  std::string next_page_token;  // empty on the last page
};

class JobStore {
 public:
  // Opens or creates the database at `db_path` and applies the embedded
  // migrations (FailedPrecondition for a database newer than this binary).
  // `clock` and `notifier` must outlive the store.
  static StatusOr<std::unique_ptr<JobStore>> Open(const std::string& db_path, const Clock& clock, JobNotifier& notifier,
                                                  JobStoreOptions options = {});

  // --- users ---
  // REQUIRES: `spec` validated, defaults applied. With a non-empty
  // idempotency key already used with the same spec, returns the job created
  // the first time; with another spec, AlreadyExists. A spec naming a
  // baseline_job: NotFound when there is no such job, FailedPrecondition when
  // it already FAILED or was CANCELLED (whether it trains the same float
  // model is the caller's check, engine/baseline_job.h).
  StatusOr<v1::Job> Submit(const v1::JobSpec& spec, const std::string& idempotency_key);
  StatusOr<v1::Job> Get(const std::string& job_id);
  StatusOr<JobPage> List(const ListJobsQuery& query);
  // QUEUED: CANCELLED at once. RUNNING: flagged; the worker learns on its next
  // heartbeat. CANCELLED: no-op. SUCCEEDED/FAILED: FailedPrecondition.
  StatusOr<v1::Job> Cancel(const std::string& job_id);
  // NotFound for an unknown job; FailedPrecondition when it has no result.
  StatusOr<v1::JobResult> GetResult(const std::string& job_id);
  // The job as it is now plus a subscription to every later change, taken
  // atomically (no change is missed or delivered twice).
  struct Watch {
    v1::Job job;
    std::unique_ptr<JobSubscription> subscription;
  };
  StatusOr<Watch> WatchJob(const std::string& job_id);

  // --- sweeps ---
  // Creates the sweep and every job of `groups` in one transaction: all or,
  // on any error, nothing. REQUIRES: every spec validated, defaults applied.
  StatusOr<SweepRecord> SubmitSweep(const v1::SweepSpec& spec, const std::string& name,
                                    const std::vector<SweepJobGroup>& groups);
  // NotFound for an unknown sweep.
  StatusOr<SweepRecord> GetSweep(const std::string& sweep_id);
  // Cancels every job of the sweep that has not finished (as Cancel does, in
  // one transaction); finished jobs keep their state. NotFound for an unknown
  // sweep.
  StatusOr<SweepRecord> CancelSweep(const std::string& sweep_id);

  // --- workers ---
  // The highest-priority, oldest QUEUED job that waits for no baseline (it
  // has none, or it SUCCEEDED), now RUNNING under a new lease; nullopt when
  // there is none.
  // The lease is bound to `token_digest` (LeaseClaim; "" binds nothing).
  StatusOr<std::optional<JobLease>> LeaseNext(const std::string& worker_id, const std::string& token_digest);
  // Heartbeat, Complete, Fail and CheckLease: PermissionDenied when `claim`
  // names the job's lease but another token took it.
  StatusOr<HeartbeatOutcome> Heartbeat(const std::string& job_id, const LeaseClaim& claim,
                                       const v1::EpochStats* progress);
  // RUNNING under `lease_id` -> SUCCEEDED with `result`, and options.on_success
  // in the same transaction; when a cancel was requested meanwhile, CANCELLED
  // instead and FailedPrecondition.
  Status Complete(const std::string& job_id, const LeaseClaim& claim, const v1::JobResult& result);
  Status Fail(const std::string& job_id, const LeaseClaim& claim, const std::string& error, bool retryable);
  // Handles every RUNNING job whose deadline passed; returns how many.
  StatusOr<int> ExpireLeases();
  // The jobs `worker_id` holds, ended now as an expired lease would end them
  // (requeued with the attempt counted, or FAILED at the last attempt),
  // with "worker <id> <cause>" as the reason: for a worker known to be dead.
  // Returns how many.
  StatusOr<int> ReleaseJobsOf(const std::string& worker_id, const std::string& cause);
  // OK when `claim` is the current lease of RUNNING job `job_id`.
  Status CheckLease(const std::string& job_id, const LeaseClaim& claim);

  // --- maintenance and tests ---
  StatusOr<std::string> IntegrityCheck();  // "ok" when healthy
  StatusOr<int64_t> CountJobs();
  // How often a worker should heartbeat (see HeartbeatIntervalMs).
  int64_t heartbeat_interval_ms() const { return leases_.heartbeat_interval_ms(); }

 private:
  JobStore(std::unique_ptr<Database> db, const Clock& clock, JobNotifier& notifier, JobStoreOptions options);

  struct PendingSubmission {
    const v1::JobSpec* spec = nullptr;
    const std::string* idempotency_key = nullptr;
    std::optional<StatusOr<v1::Job>> outcome;  // set by the batch's committer
    // Guarded by batch_mutex_: `done` once outcome is set; `lead` when the
    // previous committer hands the next batch to this submission.
    bool done = false;
    bool lead = false;
    std::condition_variable wake;  // signalled on either
  };
  // Commits `batch` (in one transaction when all succeed) and sets each
  // outcome. Takes mutex_.
  void CommitSubmissions(const std::vector<PendingSubmission*>& batch);

  // All REQUIRE mutex_ held.
  // Inserts one job (or finds the one with the same idempotency key, then
  // *created is false). REQUIRES: a transaction is open.
  // `sweep_seq` 0: not part of a sweep.
  StatusOr<v1::Job> InsertJob(const v1::JobSpec& spec, const std::string& idempotency_key, bool* created,
                              int64_t sweep_seq = 0, bool sweep_baseline = false);
  // QUEUED jobs whose baseline FAILED or was CANCELLED become FAILED, saying
  // why; returns what to Announce once the transaction commits.
  // REQUIRES: a transaction is open.
  StatusOr<std::vector<std::pair<v1::Job, JobUpdate>>> FailOrphanedDependents(int64_t now);
  void AnnounceAll(const std::vector<std::pair<v1::Job, JobUpdate>>& updates);
  // Cancel's change to one loaded job; *message says what happened, empty
  // when nothing changed. REQUIRES: a transaction is open.
  Status CancelLoaded(v1::Job* job, std::string* message);
  StatusOr<SweepRecord> LoadSweep(const std::string& sweep_id, int64_t* seq);
  // ExpireLeases (holder null) and ReleaseJobsOf.
  StatusOr<int> EndLeases(const std::string* holder, const std::string& cause);
  // `seq` and `lease` (the job's lease, never shown to users) may be null.
  StatusOr<std::optional<v1::Job>> LoadJob(const std::string& job_id, int64_t* seq, LeasedRow* lease = nullptr);
  Status LoadLeasedJob(const std::string& job_id, const LeaseClaim& claim, v1::Job* job, int64_t* seq);
  // Ends the lease of a job whose cancel was requested; *job becomes CANCELLED.
  Status CancelLeasedJob(int64_t seq, std::optional<std::string_view> error, int64_t now, v1::Job* job);
  void Announce(const v1::Job& before_or_empty, const JobUpdate& update);

  const Clock& clock_;
  JobNotifier& notifier_;
  const JobStoreOptions options_;

  // Submissions waiting for the next group commit (see Submit).
  std::mutex batch_mutex_;
  std::vector<PendingSubmission*> batch_queue_;  // guarded by batch_mutex_
  bool batch_leader_active_ = false;             // guarded by batch_mutex_

  RandomTokens tokens_;

  std::mutex mutex_;
  std::unique_ptr<Database> db_;  // guarded by mutex_
  LeaseTable leases_;             // used with db_, so under mutex_
};

}  // namespace qatlab::server
