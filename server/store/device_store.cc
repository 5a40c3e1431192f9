#include "server/store/device_store.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "server/store/migrations.h"
#include "status/printable_value.h"

namespace qatlab::server {

namespace {

constexpr const char* kDeviceColumns =
    "id, name, board_kind, core, clock_hz, flash_bytes, ram_bytes, firmware_version, kernel_variant, emulated, "
    "last_seen_unix_ms";

// Selected FROM measurements m JOIN jobs j ON j.seq = m.job_seq.
constexpr const char* kMeasurementColumns =
    "m.id, j.id, m.variant, m.board_kind, m.requested_device_id, m.device_id, m.state, m.error, m.result, "
    "m.attempt, m.lease_id, m.seq, m.lease_binding";
constexpr int kLeaseIdColumn = 10;
constexpr int kSeqColumn = 11;
constexpr int kLeaseBindingColumn = 12;

constexpr const char* kQueued = "QUEUED";
constexpr const char* kRunning = "RUNNING";
constexpr const char* kSucceeded = "SUCCEEDED";
constexpr const char* kFailed = "FAILED";
constexpr const char* kCancelled = "CANCELLED";

// Reads a row selected with kDeviceColumns; state is filled by the caller.
v1::Device DeviceFromRow(const Statement& row) {
  v1::Device device;
  device.set_id(row.ColumnText(0));
  device.set_name(row.ColumnText(1));
  device.set_board_kind(row.ColumnText(2));
  device.set_core(row.ColumnText(3));
  device.set_clock_hz(static_cast<uint32_t>(row.ColumnInt(4)));
  device.set_flash_bytes(row.ColumnInt(5));
  device.set_ram_bytes(row.ColumnInt(6));
  device.set_firmware_version(row.ColumnText(7));
  device.set_kernel_variant(row.ColumnText(8));
  device.set_emulated(row.ColumnInt(9) != 0);
  device.set_last_seen_unix_ms(row.ColumnInt(10));
  return device;
}

// Reads a row selected with kMeasurementColumns.
v1::Measurement MeasurementFromRow(const Statement& row) {
  v1::Measurement m;
  m.set_id(row.ColumnText(0));
  m.set_job_id(row.ColumnText(1));
  m.set_variant(row.ColumnText(2));
  m.set_board_kind(row.ColumnText(3));
  // The proto has one field: the device that ran it, else the one requested.
  const std::string ran_on = row.ColumnText(5);
  m.set_device_id(ran_on.empty() ? row.ColumnText(4) : ran_on);
  m.set_state(row.ColumnText(6));
  m.set_error(row.ColumnText(7));
  if (!row.ColumnIsNull(8)) m.mutable_result()->ParseFromString(row.ColumnBlob(8));
  m.set_attempt(static_cast<int32_t>(row.ColumnInt(9)));
  return m;
}

std::string MeasurementSelect(const std::string& where) {
  return fmt::format("SELECT {} FROM measurements m JOIN jobs j ON j.seq = m.job_seq WHERE {}", kMeasurementColumns,
                     where);
}

Status NoSuchMeasurement(const std::string& id) {
  return Status::NotFound(fmt::format("measurement {} not found", id));
}
Status NoSuchDevice(const std::string& id) { return Status::NotFound(fmt::format("device {} is not registered", id)); }

LeaseSchema MeasurementLeaseSchema() {
  LeaseSchema schema;
  schema.table = "measurements";
  schema.noun = "measurement";
  schema.holder_column = "device_id";
  schema.holder_noun = "device";
  schema.queued = fmt::format("'{}'", kQueued);
  schema.running = fmt::format("'{}'", kRunning);
  schema.succeeded = fmt::format("'{}'", kSucceeded);
  schema.failed = fmt::format("'{}'", kFailed);
  // A cancel ends a measurement at once; its agent learns it at its next
  // heartbeat (lease lost), so there is no cancel_requested column.
  schema.cancelled = fmt::format("'{}'", kCancelled);
  return schema;
}

// The lease of measurement `m`, read with it from `row` (kMeasurementColumns).
LeasedRow LeaseOf(const v1::Measurement& m, const Statement& row) {
  return {m.id(),    m.state() == kRunning, row.ColumnText(kLeaseIdColumn),
          m.state(), m.attempt(),           row.ColumnText(kLeaseBindingColumn)};
}

// One quantized variant of a finished job that a board can run.
struct MeasurableVariant {
  std::string name;
  bool has_artifact = false;
};

struct JobRow {
  int64_t seq = 0;
  v1::JobState state = v1::JOB_STATE_UNSPECIFIED;
  v1::JobSpec spec;
};

StatusOr<JobRow> LoadJobRow(Database& db, const std::string& job_id) {
  Statement s = db.Prepare("SELECT seq, state, spec FROM jobs WHERE id = ?1");
  s.Bind(1, job_id);
  if (!s.Step()) {
    QATLAB_RETURN_IF_ERROR(s.status());
    return Status::NotFound(fmt::format("job {} not found", job_id));
  }
  JobRow job;
  job.seq = s.ColumnInt(0);
  job.state = static_cast<v1::JobState>(s.ColumnInt(1));
  job.spec.ParseFromString(s.ColumnBlob(2));
  return job;
}

// The job's variants other than float, in the order the worker reported them,
// each with whether its `<name>.qmodel` artifact was stored.
StatusOr<std::vector<MeasurableVariant>> LoadQuantizedVariants(Database& db, int64_t job_seq) {
  Statement s = db.Prepare(
      "SELECT v.name, EXISTS (SELECT 1 FROM artifacts a WHERE a.job_seq = v.job_seq AND a.name = v.name || '.qmodel') "
      "FROM variant_results v WHERE v.job_seq = ?1 AND v.kind <> 'float' ORDER BY v.ordinal");
  s.Bind(1, job_seq);
  std::vector<MeasurableVariant> variants;
  while (s.Step()) variants.push_back({s.ColumnText(0), s.ColumnInt(1) != 0});
  QATLAB_RETURN_IF_ERROR(s.status());
  return variants;
}

}  // namespace

DeviceStore::DeviceStore(std::unique_ptr<Database> db, const Clock& clock, DeviceStoreOptions options)
    : clock_(clock),
      options_(options),
      db_(std::move(db)),
      leases_(MeasurementLeaseSchema(), options_.lease_ms, tokens_) {}

StatusOr<std::unique_ptr<DeviceStore>> DeviceStore::Open(const std::string& db_path, const Clock& clock,
                                                         DeviceStoreOptions options) {
  if (options.lease_ms <= 0 || options.online_window_ms <= 0 || options.max_attempts <= 0) {
    return Status::InvalidArgument(
        fmt::format("device store options must be positive (lease_ms {}, online_window_ms {}, max_attempts {})",
                    options.lease_ms, options.online_window_ms, options.max_attempts));
  }
  QATLAB_ASSIGN_OR_RETURN(std::unique_ptr<Database> db,
                          Database::Open(db_path, options.sync, options.max_database_bytes));
  QATLAB_RETURN_IF_ERROR(ApplyMigrations(*db, EmbeddedMigrations()));
  return std::unique_ptr<DeviceStore>(new DeviceStore(std::move(db), clock, options));
}

void DeviceStore::AnnounceQueued() {
  {
    std::lock_guard lock(queue_mutex_);
    ++queue_generation_;
  }
  queue_changed_.notify_all();
}

uint64_t DeviceStore::QueueGeneration() {
  std::lock_guard lock(queue_mutex_);
  return queue_generation_;
}

bool DeviceStore::WaitForQueueChange(uint64_t seen, std::chrono::milliseconds timeout) {
  std::unique_lock lock(queue_mutex_);
  return queue_changed_.wait_for(lock, timeout, [&] { return shut_down_ || queue_generation_ != seen; }) && !shut_down_;
}

void DeviceStore::Shutdown() {
  {
    std::lock_guard lock(queue_mutex_);
    shut_down_ = true;
  }
  queue_changed_.notify_all();
}

std::string DeviceStore::DeviceState(int64_t last_seen_unix_ms, bool busy, int64_t now) const {
  if (now - last_seen_unix_ms > options_.online_window_ms) return "OFFLINE";
  return busy ? "BUSY" : "ONLINE";
}

// --- devices ---

StatusOr<std::optional<v1::Device>> DeviceStore::LoadDevice(const std::string& device_id) {
  Statement s = db_->Prepare(fmt::format("SELECT {} FROM devices WHERE id = ?1", kDeviceColumns));
  s.Bind(1, device_id);
  if (!s.Step()) {
    QATLAB_RETURN_IF_ERROR(s.status());
    return std::optional<v1::Device>();
  }
  v1::Device device = DeviceFromRow(s);
  Statement busy = db_->Prepare("SELECT EXISTS (SELECT 1 FROM measurements WHERE state = ?1 AND device_id = ?2)");
  busy.Bind(1, kRunning).Bind(2, device_id);
  if (!busy.Step()) {
    QATLAB_RETURN_IF_ERROR(busy.status());
    return Status::Internal("EXISTS returned no row");
  }
  device.set_state(DeviceState(device.last_seen_unix_ms(), busy.ColumnInt(0) != 0, clock_.NowUnixMs()));
  return std::optional<v1::Device>(std::move(device));
}

Status DeviceStore::TouchDevice(const std::string& device_id, int64_t now) {
  Statement s = db_->Prepare("UPDATE devices SET last_seen_unix_ms = ?2 WHERE id = ?1");
  s.Bind(1, device_id).Bind(2, now);
  return s.Run();
}

StatusOr<v1::Device> DeviceStore::Register(const v1::Device& device) {
  if (device.name().empty()) return Status::InvalidArgument("device.name is required (the agent's --name)");
  if (device.board_kind().empty()) {
    return Status::InvalidArgument(fmt::format("device '{}': board_kind is required", device.name()));
  }
  if (device.flash_bytes() < 0 || device.ram_bytes() < 0) {
    return Status::InvalidArgument(fmt::format("device '{}': flash_bytes {} and ram_bytes {} must not be negative",
                                               device.name(), device.flash_bytes(), device.ram_bytes()));
  }
  std::lock_guard lock(mutex_);
  Transaction transaction(*db_);
  QATLAB_RETURN_IF_ERROR(transaction.status());
  const int64_t now = clock_.NowUnixMs();
  std::string id;
  {
    Statement existing = db_->Prepare("SELECT id FROM devices WHERE name = ?1");
    existing.Bind(1, device.name());
    if (existing.Step()) id = existing.ColumnText(0);
    QATLAB_RETURN_IF_ERROR(existing.status());
  }
  const bool known = !id.empty();
  if (!known) id = "d-" + tokens_.Next(12);
  Statement upsert = db_->Prepare(
      "INSERT INTO devices (id, name, board_kind, core, clock_hz, flash_bytes, ram_bytes, firmware_version, "
      "kernel_variant, emulated, registered_unix_ms, last_seen_unix_ms) "
      "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?11) "
      "ON CONFLICT (name) DO UPDATE SET board_kind = excluded.board_kind, core = excluded.core, "
      "clock_hz = excluded.clock_hz, flash_bytes = excluded.flash_bytes, ram_bytes = excluded.ram_bytes, "
      "firmware_version = excluded.firmware_version, kernel_variant = excluded.kernel_variant, "
      "emulated = excluded.emulated, last_seen_unix_ms = excluded.last_seen_unix_ms");
  upsert.Bind(1, id).Bind(2, device.name()).Bind(3, device.board_kind()).Bind(4, device.core());
  upsert.Bind(5, static_cast<int64_t>(device.clock_hz())).Bind(6, device.flash_bytes()).Bind(7, device.ram_bytes());
  upsert.Bind(8, device.firmware_version()).Bind(9, device.kernel_variant()).Bind(10, device.emulated() ? 1 : 0);
  upsert.Bind(11, now);
  QATLAB_RETURN_IF_ERROR(upsert.Run());
  QATLAB_ASSIGN_OR_RETURN(std::optional<v1::Device> stored, LoadDevice(id));
  QATLAB_RETURN_IF_ERROR(transaction.Commit());
  spdlog::info("device {} ({}, {}) {}", id, PrintableValue(device.name()), PrintableValue(device.board_kind()),
               known ? "registered again" : "registered");
  return std::move(*stored);
}

StatusOr<v1::Device> DeviceStore::GetDevice(const std::string& device_id) {
  std::lock_guard lock(mutex_);
  QATLAB_ASSIGN_OR_RETURN(std::optional<v1::Device> device, LoadDevice(device_id));
  if (!device.has_value()) return NoSuchDevice(device_id);
  return std::move(*device);
}

StatusOr<std::vector<v1::Device>> DeviceStore::ListDevices() {
  std::lock_guard lock(mutex_);
  Statement s = db_->Prepare(
      fmt::format("SELECT {}, EXISTS (SELECT 1 FROM measurements m WHERE m.state = ?1 AND m.device_id = devices.id) "
                  "FROM devices ORDER BY seq",
                  kDeviceColumns));
  s.Bind(1, kRunning);
  const int64_t now = clock_.NowUnixMs();
  std::vector<v1::Device> devices;
  while (s.Step()) {
    v1::Device device = DeviceFromRow(s);
    device.set_state(DeviceState(device.last_seen_unix_ms(), s.ColumnInt(11) != 0, now));
    devices.push_back(std::move(device));
  }
  QATLAB_RETURN_IF_ERROR(s.status());
  return devices;
}

// --- users and the job-completion path ---

StatusOr<std::vector<v1::Measurement>> DeviceStore::Queue(const MeasureRequest& request) {
  if (request.job_id.empty()) return Status::InvalidArgument("job_id is required");
  std::vector<v1::Measurement> queued;
  {
    std::lock_guard lock(mutex_);
    Transaction transaction(*db_);
    QATLAB_RETURN_IF_ERROR(transaction.status());
    QATLAB_ASSIGN_OR_RETURN(JobRow job, LoadJobRow(*db_, request.job_id));
    if (job.state != v1::SUCCEEDED) {
      return Status::FailedPrecondition(fmt::format("job {} is {}: its models exist only once it has SUCCEEDED",
                                                    request.job_id, v1::JobState_Name(job.state)));
    }
    std::string board_kind = request.board_kind;
    if (!request.device_id.empty()) {
      QATLAB_ASSIGN_OR_RETURN(std::optional<v1::Device> device, LoadDevice(request.device_id));
      if (!device.has_value()) return NoSuchDevice(request.device_id);
      if (board_kind.empty()) {
        board_kind = device->board_kind();
      } else if (board_kind != device->board_kind()) {
        return Status::InvalidArgument(
            fmt::format("device {} is a {} board, not a {}", request.device_id, device->board_kind(), board_kind));
      }
    }
    if (board_kind.empty()) board_kind = kDefaultBoardKind;

    QATLAB_ASSIGN_OR_RETURN(std::vector<MeasurableVariant> variants, LoadQuantizedVariants(*db_, job.seq));
    std::vector<std::string> chosen;
    if (request.variant.empty()) {
      for (const MeasurableVariant& v : variants) {
        if (v.has_artifact) chosen.push_back(v.name);
      }
      if (chosen.empty()) {
        return Status::FailedPrecondition(
            fmt::format("job {} has no quantized variant with a .qmodel artifact to measure", request.job_id));
      }
    } else {
      const MeasurableVariant* found = nullptr;
      for (const MeasurableVariant& v : variants) {
        if (v.name == request.variant) found = &v;
      }
      if (found == nullptr) {
        Statement any = db_->Prepare("SELECT kind FROM variant_results WHERE job_seq = ?1 AND name = ?2");
        any.Bind(1, job.seq).Bind(2, request.variant);
        if (any.Step()) {
          return Status::InvalidArgument(
              fmt::format("variant {} of job {} is a {} model; only quantized variants run on a board", request.variant,
                          request.job_id, any.ColumnText(0)));
        }
        QATLAB_RETURN_IF_ERROR(any.status());
        return Status::NotFound(fmt::format("job {} has no variant {}", request.job_id, request.variant));
      }
      if (!found->has_artifact) {
        return Status::FailedPrecondition(fmt::format("variant {} of job {} has no artifact {}.qmodel", request.variant,
                                                      request.job_id, request.variant));
      }
      chosen.push_back(found->name);
    }

    const int64_t now = clock_.NowUnixMs();
    for (const std::string& variant : chosen) {
      const std::string id = "m-" + tokens_.Next(12);
      Statement insert = db_->Prepare(
          "INSERT INTO measurements (id, job_seq, variant, board_kind, requested_device_id, origin, state, "
          "max_attempts, created_unix_ms) VALUES (?1, ?2, ?3, ?4, ?5, 'request', ?6, ?7, ?8)");
      insert.Bind(1, id).Bind(2, job.seq).Bind(3, variant).Bind(4, board_kind).Bind(5, request.device_id);
      insert.Bind(6, kQueued).Bind(7, options_.max_attempts).Bind(8, now);
      QATLAB_RETURN_IF_ERROR(insert.Run());
      v1::Measurement m;
      m.set_id(id);
      m.set_job_id(request.job_id);
      m.set_variant(variant);
      m.set_board_kind(board_kind);
      m.set_device_id(request.device_id);
      m.set_state(kQueued);
      queued.push_back(std::move(m));
    }
    QATLAB_RETURN_IF_ERROR(transaction.Commit());
  }
  for (const v1::Measurement& m : queued) {
    spdlog::info("measurement {}: queued job {} variant {} on {}{}", m.id(), m.job_id(), m.variant(), m.board_kind(),
                 m.device_id().empty() ? "" : " device " + m.device_id());
  }
  AnnounceQueued();
  return queued;
}

Status DeviceStore::QueueMeasureOn(Transaction& transaction, int64_t job_seq, const v1::Job& job) {
  if (job.spec().measure_on().empty()) return Status::Ok();
  Database& db = transaction.database();
  QATLAB_ASSIGN_OR_RETURN(std::vector<MeasurableVariant> variants, LoadQuantizedVariants(db, job_seq));
  const int64_t now = clock_.NowUnixMs();
  std::vector<v1::Measurement> queued;
  for (const std::string& board_kind : job.spec().measure_on()) {
    for (const MeasurableVariant& variant : variants) {
      if (!variant.has_artifact) {
        spdlog::warn("job {}: variant {} has no {}.qmodel artifact; not measured on {}", job.id(), variant.name,
                     variant.name, board_kind);
        continue;
      }
      const std::string id = "m-" + tokens_.Next(12);
      Statement insert = db.Prepare(
          "INSERT OR IGNORE INTO measurements (id, job_seq, variant, board_kind, origin, state, max_attempts, "
          "created_unix_ms) VALUES (?1, ?2, ?3, ?4, 'measure_on', ?5, ?6, ?7)");
      insert.Bind(1, id).Bind(2, job_seq).Bind(3, variant.name).Bind(4, board_kind).Bind(5, kQueued);
      insert.Bind(6, options_.max_attempts).Bind(7, now);
      QATLAB_RETURN_IF_ERROR(insert.Run());
      if (db.Changes() == 0) continue;  // queued before
      v1::Measurement& m = queued.emplace_back();
      m.set_id(id);
      m.set_job_id(job.id());
      m.set_variant(variant.name);
      m.set_board_kind(board_kind);
    }
  }
  if (queued.empty()) return Status::Ok();
  transaction.AfterCommit([this, queued = std::move(queued)] {
    for (const v1::Measurement& m : queued) {
      spdlog::info("measurement {}: queued job {} variant {} on {} (measure_on)", m.id(), m.job_id(), m.variant(),
                   m.board_kind());
    }
    AnnounceQueued();
  });
  return Status::Ok();
}

StatusOr<std::optional<v1::Measurement>> DeviceStore::LoadMeasurement(const std::string& measurement_id, int64_t* seq,
                                                                      LeasedRow* lease) {
  Statement s = db_->Prepare(MeasurementSelect("m.id = ?1"));
  s.Bind(1, measurement_id);
  if (!s.Step()) {
    QATLAB_RETURN_IF_ERROR(s.status());
    return std::optional<v1::Measurement>();
  }
  if (seq != nullptr) *seq = s.ColumnInt(kSeqColumn);
  v1::Measurement m = MeasurementFromRow(s);
  if (lease != nullptr) *lease = LeaseOf(m, s);
  return std::optional<v1::Measurement>(std::move(m));
}

StatusOr<v1::Measurement> DeviceStore::LoadLeasedMeasurement(const std::string& measurement_id, const LeaseClaim& claim,
                                                             int64_t* seq) {
  LeasedRow lease;
  QATLAB_ASSIGN_OR_RETURN(std::optional<v1::Measurement> m, LoadMeasurement(measurement_id, seq, &lease));
  if (!m.has_value()) return NoSuchMeasurement(measurement_id);
  QATLAB_RETURN_IF_ERROR(leases_.Check(lease, claim));
  return std::move(*m);
}

StatusOr<v1::Measurement> DeviceStore::GetMeasurement(const std::string& measurement_id) {
  std::lock_guard lock(mutex_);
  QATLAB_ASSIGN_OR_RETURN(std::optional<v1::Measurement> m, LoadMeasurement(measurement_id, nullptr, nullptr));
  if (!m.has_value()) return NoSuchMeasurement(measurement_id);
  return std::move(*m);
}

StatusOr<v1::Measurement> DeviceStore::Cancel(const std::string& measurement_id) {
  std::lock_guard lock(mutex_);
  Transaction transaction(*db_);
  QATLAB_RETURN_IF_ERROR(transaction.status());
  int64_t seq = 0;
  QATLAB_ASSIGN_OR_RETURN(std::optional<v1::Measurement> m, LoadMeasurement(measurement_id, &seq, nullptr));
  if (!m.has_value()) return NoSuchMeasurement(measurement_id);
  const int64_t now = clock_.NowUnixMs();
  if (m->state() == kRunning) {
    QATLAB_RETURN_IF_ERROR(leases_.Finish(*db_, seq, LeaseEnd::kCancelled,
                                          fmt::format("cancelled while it ran on {}", m->device_id()), now));
  } else if (m->state() == kQueued) {
    Statement cancel = db_->Prepare(
        fmt::format("UPDATE measurements SET state = '{}', error = 'cancelled before it ran', finished_unix_ms = ?2 "
                    "WHERE seq = ?1",
                    kCancelled));
    cancel.Bind(1, seq).Bind(2, now);
    QATLAB_RETURN_IF_ERROR(cancel.Run());
  } else {
    return Status::FailedPrecondition(
        fmt::format("measurement {} is {}: only a QUEUED or RUNNING one can be cancelled", measurement_id, m->state()));
  }
  QATLAB_ASSIGN_OR_RETURN(std::optional<v1::Measurement> cancelled, LoadMeasurement(measurement_id, nullptr, nullptr));
  QATLAB_RETURN_IF_ERROR(transaction.Commit());
  spdlog::info("measurement {}: cancelled ({} before)", measurement_id, m->state());
  return std::move(*cancelled);
}

StatusOr<std::vector<v1::Measurement>> DeviceStore::ListMeasurements(const std::string& job_id) {
  std::lock_guard lock(mutex_);
  QATLAB_ASSIGN_OR_RETURN(JobRow job, LoadJobRow(*db_, job_id));
  Statement s = db_->Prepare(MeasurementSelect("m.job_seq = ?1 ORDER BY m.seq"));
  s.Bind(1, job.seq);
  std::vector<v1::Measurement> measurements;
  while (s.Step()) measurements.push_back(MeasurementFromRow(s));
  QATLAB_RETURN_IF_ERROR(s.status());
  return measurements;
}

// --- agents ---

StatusOr<std::optional<MeasurementLease>> DeviceStore::LeaseNext(const std::string& device_id,
                                                                 const std::string& token_digest) {
  std::optional<MeasurementLease> lease;
  int expired = 0;
  {
    std::lock_guard lock(mutex_);
    const int64_t now = clock_.NowUnixMs();
    QATLAB_ASSIGN_OR_RETURN(expired, ExpireLeasesLocked(now));

    Transaction transaction(*db_);
    QATLAB_RETURN_IF_ERROR(transaction.status());
    QATLAB_ASSIGN_OR_RETURN(std::optional<v1::Device> device, LoadDevice(device_id));
    if (!device.has_value()) return NoSuchDevice(device_id);
    QATLAB_RETURN_IF_ERROR(TouchDevice(device_id, now));

    Statement next = db_->Prepare(MeasurementSelect(
        "m.state = ?1 AND m.board_kind = ?2 AND (m.requested_device_id = '' OR m.requested_device_id = ?3) "
        "ORDER BY m.seq LIMIT 1"));
    next.Bind(1, kQueued).Bind(2, device->board_kind()).Bind(3, device_id);
    if (next.Step()) {
      const int64_t seq = next.ColumnInt(kSeqColumn);
      MeasurementLease granted;
      granted.measurement = MeasurementFromRow(next);
      LeaseGrant grant;
      QATLAB_RETURN_IF_ERROR(leases_.Grant(*db_, seq, device_id, token_digest, now, &grant));
      granted.lease_id = std::move(grant.lease_id);
      granted.deadline_unix_ms = grant.deadline_unix_ms;
      granted.measurement.set_state(kRunning);
      granted.measurement.set_attempt(granted.measurement.attempt() + 1);
      granted.measurement.set_device_id(device_id);
      lease = std::move(granted);
    } else {
      QATLAB_RETURN_IF_ERROR(next.status());
    }
    QATLAB_RETURN_IF_ERROR(transaction.Commit());
  }
  if (expired > 0) AnnounceQueued();
  if (lease.has_value()) {
    spdlog::info("measurement {}: leased by device {} (attempt {})", lease->measurement.id(), device_id,
                 lease->measurement.attempt());
  }
  return lease;
}

StatusOr<MeasurementHeartbeat> DeviceStore::Heartbeat(const std::string& measurement_id, const LeaseClaim& claim) {
  std::lock_guard lock(mutex_);
  Transaction transaction(*db_);
  QATLAB_RETURN_IF_ERROR(transaction.status());
  int64_t seq = 0;
  LeasedRow lease;
  QATLAB_ASSIGN_OR_RETURN(std::optional<v1::Measurement> m, LoadMeasurement(measurement_id, &seq, &lease));
  if (!m.has_value()) return NoSuchMeasurement(measurement_id);
  QATLAB_RETURN_IF_ERROR(CheckHolder(lease, claim));
  MeasurementHeartbeat outcome;
  if (!leases_.IsCurrent(lease, claim.lease_id)) {
    outcome.lease_lost = true;
    return outcome;
  }
  const int64_t now = clock_.NowUnixMs();
  QATLAB_RETURN_IF_ERROR(leases_.Extend(*db_, seq, now, &outcome.deadline_unix_ms));
  QATLAB_RETURN_IF_ERROR(TouchDevice(m->device_id(), now));
  QATLAB_RETURN_IF_ERROR(transaction.Commit());
  return outcome;
}

Status DeviceStore::Complete(const std::string& measurement_id, const LeaseClaim& claim,
                             const v1::MeasurementResult& result) {
  std::lock_guard lock(mutex_);
  Transaction transaction(*db_);
  QATLAB_RETURN_IF_ERROR(transaction.status());
  int64_t seq = 0;
  QATLAB_ASSIGN_OR_RETURN(v1::Measurement m, LoadLeasedMeasurement(measurement_id, claim, &seq));
  const int64_t now = clock_.NowUnixMs();
  std::string result_bytes;
  result.SerializeToString(&result_bytes);
  const bool bit_exact = result.checked_inputs() > 0 && result.bit_exact_inputs() == result.checked_inputs();
  QATLAB_RETURN_IF_ERROR(leases_.Finish(*db_, seq, LeaseEnd::kSucceeded, "", now));
  Statement update = db_->Prepare("UPDATE measurements SET result = ?2, median_us = ?3, bit_exact = ?4 WHERE seq = ?1");
  update.Bind(1, seq).BindBlob(2, result_bytes).Bind(3, result.median_us()).Bind(4, bit_exact ? 1 : 0);
  QATLAB_RETURN_IF_ERROR(update.Run());
  QATLAB_RETURN_IF_ERROR(TouchDevice(m.device_id(), now));
  QATLAB_RETURN_IF_ERROR(transaction.Commit());
  spdlog::info("measurement {}: SUCCEEDED on {} (median {:.1f} us, {}/{} outputs bit-exact)", measurement_id,
               m.device_id(), result.median_us(), result.bit_exact_inputs(), result.checked_inputs());
  return Status::Ok();
}

Status DeviceStore::Fail(const std::string& measurement_id, const LeaseClaim& claim, const std::string& error,
                         bool retryable) {
  {
    std::lock_guard lock(mutex_);
    Transaction transaction(*db_);
    QATLAB_RETURN_IF_ERROR(transaction.status());
    int64_t seq = 0;
    QATLAB_ASSIGN_OR_RETURN(v1::Measurement m, LoadLeasedMeasurement(measurement_id, claim, &seq));
    const int64_t now = clock_.NowUnixMs();
    // Given back (agent stopping, board lost): not counted as an attempt, and
    // any device of the kind may take it again.
    QATLAB_RETURN_IF_ERROR(retryable ? leases_.GiveBack(*db_, seq, error)
                                     : leases_.Finish(*db_, seq, LeaseEnd::kFailed, error, now));
    QATLAB_RETURN_IF_ERROR(TouchDevice(m.device_id(), now));
    QATLAB_RETURN_IF_ERROR(transaction.Commit());
    spdlog::info("measurement {}: {} by {}: {}", measurement_id, retryable ? "given back" : "FAILED", m.device_id(),
                 PrintableValue(error));
  }
  if (retryable) AnnounceQueued();
  return Status::Ok();
}

StatusOr<int> DeviceStore::ExpireLeasesLocked(int64_t now) {
  Transaction transaction(*db_);
  QATLAB_RETURN_IF_ERROR(transaction.status());
  QATLAB_ASSIGN_OR_RETURN(std::vector<ExpiredLease> expired, leases_.ExpireDue(*db_, now));
  if (expired.empty()) return 0;
  QATLAB_RETURN_IF_ERROR(transaction.Commit());
  for (const ExpiredLease& e : expired) {
    spdlog::info("measurement {}: {} -> {}", e.id, e.reason, e.outcome == ExpiredLease::kRequeued ? kQueued : kFailed);
  }
  return static_cast<int>(expired.size());
}

StatusOr<int> DeviceStore::ExpireLeases() {
  StatusOr<int> expired = 0;
  {
    std::lock_guard lock(mutex_);
    expired = ExpireLeasesLocked(clock_.NowUnixMs());
  }
  if (expired.ok() && *expired > 0) AnnounceQueued();
  return expired;
}

StatusOr<std::vector<std::string>> DeviceStore::RegisteredBoardKinds() {
  std::lock_guard lock(mutex_);
  std::vector<std::string> kinds;
  Statement select = db_->Prepare("SELECT DISTINCT board_kind FROM devices ORDER BY board_kind");
  while (select.Step()) kinds.push_back(select.ColumnText(0));
  QATLAB_RETURN_IF_ERROR(select.status());
  return kinds;
}

StatusOr<int> DeviceStore::FailUnservedMeasurements() {
  if (options_.queue_timeout_ms <= 0) return 0;
  std::lock_guard lock(mutex_);
  const int64_t now = clock_.NowUnixMs();
  Transaction transaction(*db_);
  QATLAB_RETURN_IF_ERROR(transaction.status());
  std::vector<std::pair<std::string, std::string>> unserved;  // id, board kind
  {
    Statement select = db_->Prepare(
        "SELECT id, board_kind FROM measurements WHERE state = ?1 AND requested_device_id = '' "
        "AND created_unix_ms <= ?2 AND board_kind NOT IN (SELECT board_kind FROM devices)");
    select.Bind(1, kQueued).Bind(2, now - options_.queue_timeout_ms);
    while (select.Step()) unserved.emplace_back(select.ColumnText(0), select.ColumnText(1));
    QATLAB_RETURN_IF_ERROR(select.status());
  }
  if (unserved.empty()) return 0;
  for (const auto& [id, kind] : unserved) {
    Statement fail = db_->Prepare(
        "UPDATE measurements SET state = ?1, error = ?2, finished_unix_ms = ?3 WHERE id = ?4 AND state = ?5");
    fail.Bind(1, kFailed)
        .Bind(2, fmt::format("no agent registered a {} board within {} s of queueing (--measurement-queue-timeout); "
                             "start qatlab-agent --board {} and measure again",
                             kind, options_.queue_timeout_ms / 1000, kind))
        .Bind(3, now)
        .Bind(4, id)
        .Bind(5, kQueued);
    QATLAB_RETURN_IF_ERROR(fail.Run());
  }
  QATLAB_RETURN_IF_ERROR(transaction.Commit());
  for (const auto& [id, kind] : unserved) {
    spdlog::info("measurement {}: QUEUED -> FAILED: no {} board registered within {} s", id, PrintableValue(kind),
                 options_.queue_timeout_ms / 1000);
  }
  return static_cast<int>(unserved.size());
}

}  // namespace qatlab::server
