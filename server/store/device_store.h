// The boards agents registered (devices) and the measurements of exported
// models queued for them. Like the job queue, the measurement queue IS the
// database: every change is committed before a call returns.
//
// Measurement states and transitions:
//   Queue / QueueMeasureOn  -> QUEUED (one per quantized variant and board kind;
//                           QueueMeasureOn inside the job's own completion)
//   LeaseNext               QUEUED of the device's board kind (and requested
//                           for that device or for any) -> RUNNING
//                           (attempt + 1, new lease id + deadline)
//   Heartbeat               RUNNING: deadline extended
//   Complete                RUNNING (current lease only) -> SUCCEEDED, result stored
//   Fail                    RUNNING (current lease only) -> FAILED, or back to
//                           QUEUED with the attempt not counted when retryable
//   ExpireLeases            RUNNING past deadline -> QUEUED, or FAILED once
//                           attempt reached max_attempts
//   Cancel                  QUEUED or RUNNING -> CANCELLED at once (a RUNNING
//                           one's lease ends: its agent's next heartbeat
//                           reports the lease lost, its result is refused)
// A stale lease id (the measurement was requeued or finished since) is
// refused with FailedPrecondition and changes nothing: a measurement finishes
// exactly once. A lease presented with another token than the one that took
// it is refused with PermissionDenied (the holder binding of lease.h, kept in
// the row, so it survives restarts). The lease rules are those of server/store/lease.h, which the job
// queue shares.
//
// Devices: Register with a name the agent chooses; the same name again keeps
// the id and replaces what the board reported (firmware updates, a different
// clock). A device is ONLINE when its agent called in the last
// online_window_ms, BUSY when it is online and holds a RUNNING measurement,
// else OFFLINE.
//
// The store reads the jobs, variant_results and artifacts tables of the job
// store (same database file, its own connection) to know which variants a job
// has; it never writes them. No gRPC here. Time comes from an injected Clock.
// Thread-safety: every method may be called from any thread; one mutex
// serialises use of this store's SQLite connection. QueueMeasureOn is the
// exception: it writes through the job store's transaction and takes no lock
// of this store (see there).
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "qatlab/v1/resources.pb.h"
#include "server/store/clock.h"
#include "server/store/database.h"
#include "server/store/lease.h"
#include "server/store/random_tokens.h"
#include "status/status.h"

namespace qatlab::server {

// The board kind a measurement request without one is queued for.
inline constexpr const char* kDefaultBoardKind = "mps2-an386";

struct DeviceStoreOptions {
  int64_t lease_ms = 30000;          // a measurement lease's life without heartbeats
  int64_t online_window_ms = 30000;  // heard from within this: ONLINE
  int max_attempts = 3;              // leases per measurement before it fails
  SyncMode sync = SyncMode::kNormal;
  int64_t max_database_bytes = 0;  // as JobStoreOptions::max_database_bytes
  // A measurement QUEUED this long for a board kind no agent has registered
  // (and for no particular device) fails, saying so; 0: it waits forever.
  int64_t queue_timeout_ms = 24 * 3600 * 1000;
};

struct MeasurementLease {
  v1::Measurement measurement;  // state RUNNING, device_id the lessee
  std::string lease_id;
  int64_t deadline_unix_ms = 0;
};

struct MeasurementHeartbeat {
  bool lease_lost = false;  // requeued, expired or finished since: stop, do not complete
  int64_t deadline_unix_ms = 0;
};

// What a user asks to measure (ExperimentService.Measure).
struct MeasureRequest {
  std::string job_id;
  std::string variant;     // empty: every quantized variant of the job
  std::string board_kind;  // empty: the requested device's kind, else kDefaultBoardKind
  std::string device_id;   // empty: any device of board_kind
};

class DeviceStore {
 public:
  // Opens the database at `db_path` (its own connection) and applies the
  // embedded migrations. `clock` must outlive the store.
  static StatusOr<std::unique_ptr<DeviceStore>> Open(const std::string& db_path, const Clock& clock,
                                                     DeviceStoreOptions options = {});

  // --- devices ---
  // REQUIRES nothing of device.id (ignored). InvalidArgument without a name
  // or board_kind. Returns the stored device (id, state ONLINE, last_seen).
  StatusOr<v1::Device> Register(const v1::Device& device);
  StatusOr<v1::Device> GetDevice(const std::string& device_id);
  // Every registered device, in registration order, with its current state.
  StatusOr<std::vector<v1::Device>> ListDevices();

  // --- users and the job-completion path ---
  // NotFound: unknown job, variant or device. FailedPrecondition: the job has
  // not succeeded, or the variant has no <variant>.qmodel artifact.
  // InvalidArgument: a float variant (nothing to run on an integer board), or
  // a board_kind that contradicts the requested device's.
  StatusOr<std::vector<v1::Measurement>> Queue(const MeasureRequest& request);
  // Queues what `job`'s spec.measure_on asks for: each quantized variant with
  // a .qmodel artifact on each listed board kind. The JobStore's
  // on_success hook (JobSucceededHook): it writes through `transaction`,
  // the job store's, so the measurements commit with the job's success or
  // not at all; a non-OK status rolls that success back. Idempotent: what was
  // queued for the job before is not queued again. A job without measure_on
  // queues nothing. The new measurements are logged and long polls woken
  // once the transaction committed.
  // Takes no lock of this store (the caller holds the database's write lock,
  // for which this store's lock holders may be waiting): it uses only
  // `transaction`, the options, the clock and the id source.
  // REQUIRES: `job` (row `job_seq`) is SUCCEEDED in `transaction`, its
  // variant results and artifacts written.
  Status QueueMeasureOn(Transaction& transaction, int64_t job_seq, const v1::Job& job);
  StatusOr<v1::Measurement> GetMeasurement(const std::string& measurement_id);
  // QUEUED or RUNNING -> CANCELLED with the error "cancelled before it ran"
  // or "cancelled while it ran on <device id>" (migration 0010 reads these
  // texts); a running lease is ended, so its agent's next heartbeat reports
  // it lost and its result is refused.
  // NotFound for an unknown id, FailedPrecondition once it has finished.
  StatusOr<v1::Measurement> Cancel(const std::string& measurement_id);
  // A job's measurements in queue order (NotFound for an unknown job).
  StatusOr<std::vector<v1::Measurement>> ListMeasurements(const std::string& job_id);

  // --- agents ---
  // The oldest QUEUED measurement this device may take, now RUNNING under a
  // new lease; nullopt when there is none. Expired leases are handled first,
  // so an agent polling is enough to recover a dead agent's work. NotFound
  // for an unregistered device (the agent should register again).
  // The lease is bound to `token_digest` (LeaseClaim; "" binds nothing).
  StatusOr<std::optional<MeasurementLease>> LeaseNext(const std::string& device_id, const std::string& token_digest);
  // Long polls: read the generation before LeaseNext; when that leased
  // nothing, wait until a measurement may have been queued (or requeued)
  // since, `timeout` passed, or Shutdown(). True when the generation moved.
  uint64_t QueueGeneration();
  bool WaitForQueueChange(uint64_t seen, std::chrono::milliseconds timeout);
  // Each: PermissionDenied when `claim` names the current lease but another
  // token took it (nothing changes).
  StatusOr<MeasurementHeartbeat> Heartbeat(const std::string& measurement_id, const LeaseClaim& claim);
  Status Complete(const std::string& measurement_id, const LeaseClaim& claim, const v1::MeasurementResult& result);
  Status Fail(const std::string& measurement_id, const LeaseClaim& claim, const std::string& error, bool retryable);
  // Handles every RUNNING measurement whose deadline passed; returns how many.
  StatusOr<int> ExpireLeases();
  // Fails every measurement QUEUED longer than queue_timeout_ms for a board
  // kind no device is registered as, with an error naming the kind and the
  // timeout; returns how many.
  StatusOr<int> FailUnservedMeasurements();
  // The board kinds of the registered devices, each once, sorted.
  StatusOr<std::vector<std::string>> RegisteredBoardKinds();
  int64_t queue_timeout_ms() const { return options_.queue_timeout_ms; }

  // Wakes every WaitForQueueChange at once, now and later (server shutdown).
  void Shutdown();

  int64_t lease_ms() const { return options_.lease_ms; }

 private:
  DeviceStore(std::unique_ptr<Database> db, const Clock& clock, DeviceStoreOptions options);

  // All REQUIRE mutex_ held.
  StatusOr<std::optional<v1::Device>> LoadDevice(const std::string& device_id);
  // `seq` and `lease` (the current or last lease) may be null.
  StatusOr<std::optional<v1::Measurement>> LoadMeasurement(const std::string& measurement_id, int64_t* seq,
                                                           LeasedRow* lease);
  // The measurement under the presented lease: NotFound, PermissionDenied
  // for another token's lease, or FailedPrecondition for a stale lease.
  StatusOr<v1::Measurement> LoadLeasedMeasurement(const std::string& measurement_id, const LeaseClaim& claim,
                                                  int64_t* seq);
  Status TouchDevice(const std::string& device_id, int64_t now);
  StatusOr<int> ExpireLeasesLocked(int64_t now);
  std::string DeviceState(int64_t last_seen_unix_ms, bool busy, int64_t now) const;
  void AnnounceQueued();

  const Clock& clock_;
  const DeviceStoreOptions options_;
  RandomTokens tokens_;

  std::mutex mutex_;
  std::unique_ptr<Database> db_;  // guarded by mutex_
  LeaseTable leases_;             // used with db_, so under mutex_

  // Long-poll wake-ups, separate from mutex_ so waiting never blocks the store.
  std::mutex queue_mutex_;
  std::condition_variable queue_changed_;
  uint64_t queue_generation_ = 0;  // guarded by queue_mutex_
  bool shut_down_ = false;         // guarded by queue_mutex_
};

}  // namespace qatlab::server
