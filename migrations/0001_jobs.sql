-- 0001: jobs, their results, uploaded data sets and stored artifacts.
-- Written only by qatlab-server. States are the numbers of qatlab.v1.JobState
-- (1 QUEUED, 2 RUNNING, 3 SUCCEEDED, 4 FAILED, 5 CANCELLED). Times are Unix
-- milliseconds. Later migrations (0002_devices.sql: devices, measurements)
-- only add tables and columns.

CREATE TABLE jobs (
  seq INTEGER PRIMARY KEY,            -- submission order; also the paging cursor
  id TEXT NOT NULL UNIQUE,            -- "j-" + 12 base32 characters
  experiment TEXT NOT NULL,
  state INTEGER NOT NULL CHECK (state BETWEEN 1 AND 5),
  priority INTEGER NOT NULL,
  spec BLOB NOT NULL,                 -- qatlab.v1.JobSpec, defaults applied
  attempt INTEGER NOT NULL DEFAULT 0, -- leases counted against max_attempts
  max_attempts INTEGER NOT NULL,
  worker_id TEXT NOT NULL DEFAULT '',
  lease_id TEXT NOT NULL DEFAULT '',  -- the current (or last) lease
  lease_deadline_unix_ms INTEGER NOT NULL DEFAULT 0,
  cancel_requested INTEGER NOT NULL DEFAULT 0,
  error TEXT NOT NULL DEFAULT '',
  last_progress BLOB,                 -- qatlab.v1.EpochStats
  idempotency_key TEXT UNIQUE,        -- NULL when the client gave none
  created_unix_ms INTEGER NOT NULL,
  started_unix_ms INTEGER NOT NULL DEFAULT 0,
  finished_unix_ms INTEGER NOT NULL DEFAULT 0
);
-- The queue order: highest priority first, then submission order. Partial
-- indexes hold only the jobs they serve (queries must say `state = 1` or
-- `state = 2` literally for SQLite to use them), so finished jobs cost the
-- hot paths nothing.
CREATE INDEX jobs_queue ON jobs (priority DESC, seq) WHERE state = 1;
-- Lease expiry scans only running jobs by deadline.
CREATE INDEX jobs_lease ON jobs (lease_deadline_unix_ms) WHERE state = 2;
CREATE INDEX jobs_experiment ON jobs (experiment, seq);

CREATE TABLE job_labels (
  job_seq INTEGER NOT NULL REFERENCES jobs (seq) ON DELETE CASCADE,
  key TEXT NOT NULL,
  value TEXT NOT NULL,
  PRIMARY KEY (job_seq, key)
) WITHOUT ROWID;
CREATE INDEX job_labels_pair ON job_labels (key, value, job_seq);

-- One row per finished job (JobResult without the variants).
CREATE TABLE results (
  job_seq INTEGER PRIMARY KEY REFERENCES jobs (seq) ON DELETE CASCADE,
  experiment TEXT NOT NULL,
  model TEXT NOT NULL,
  dataset TEXT NOT NULL,
  train_samples INTEGER NOT NULL,
  test_samples INTEGER NOT NULL,
  total_seconds REAL NOT NULL,
  float_weight_bytes INTEGER NOT NULL,
  created_unix_ms INTEGER NOT NULL
);

-- One row per job and variant: float, ptq_<config>, qat_<config>.
CREATE TABLE variant_results (
  job_seq INTEGER NOT NULL REFERENCES jobs (seq) ON DELETE CASCADE,
  ordinal INTEGER NOT NULL,           -- the order the worker reported
  name TEXT NOT NULL,
  kind TEXT NOT NULL,
  config TEXT NOT NULL,
  weight_bits INTEGER NOT NULL,
  activation_bits INTEGER NOT NULL,
  layer_weight_bits TEXT NOT NULL,    -- comma-separated; empty when uniform
  accuracy REAL NOT NULL,
  integer_accuracy REAL NOT NULL,
  agreement REAL NOT NULL,
  flash_bytes INTEGER NOT NULL,
  parameters INTEGER NOT NULL,
  macs INTEGER NOT NULL,
  ram_bytes INTEGER NOT NULL,
  train_seconds REAL NOT NULL,
  artifact TEXT NOT NULL,
  artifact_sha256 TEXT NOT NULL,
  PRIMARY KEY (job_seq, name)
);

-- The per-epoch training history of each variant.
CREATE TABLE epoch_history (
  job_seq INTEGER NOT NULL REFERENCES jobs (seq) ON DELETE CASCADE,
  variant TEXT NOT NULL,
  epoch INTEGER NOT NULL,
  epochs INTEGER NOT NULL,
  loss REAL NOT NULL,
  train_accuracy REAL NOT NULL,
  test_accuracy REAL NOT NULL,
  seconds REAL NOT NULL,
  PRIMARY KEY (job_seq, variant, epoch)
);

-- Content-addressed files under <data dir>/blobs/; a row exists only after
-- the file was written, fsynced and renamed into place.
CREATE TABLE blobs (
  sha256 TEXT PRIMARY KEY,
  size INTEGER NOT NULL,
  created_unix_ms INTEGER NOT NULL
);

-- Named files a job produced (models, logs).
CREATE TABLE artifacts (
  job_seq INTEGER NOT NULL REFERENCES jobs (seq) ON DELETE CASCADE,
  name TEXT NOT NULL,
  sha256 TEXT NOT NULL REFERENCES blobs (sha256),
  size INTEGER NOT NULL,
  created_unix_ms INTEGER NOT NULL,
  PRIMARY KEY (job_seq, name)
);

-- Data sets users uploaded; job specs refer to them as "dataset:<name>".
CREATE TABLE datasets (
  name TEXT PRIMARY KEY,
  format TEXT NOT NULL,
  sha256 TEXT NOT NULL REFERENCES blobs (sha256),
  size INTEGER NOT NULL,
  created_unix_ms INTEGER NOT NULL
);
