-- 0002: boards that agents registered (devices) and the measurements of
-- exported models queued for them. Written only by qatlab-server (see
-- server/device_store.h for the state machine). Times are Unix milliseconds.
-- Only new tables: code that knows just 0001 can still use this database.
-- compatible_version: 1

CREATE TABLE devices (
  seq INTEGER PRIMARY KEY,
  id TEXT NOT NULL UNIQUE,            -- "d-" + 12 base32 characters
  name TEXT NOT NULL UNIQUE,          -- chosen by the agent; re-registering a name keeps the id
  board_kind TEXT NOT NULL,           -- e.g. "mps2-an386"
  core TEXT NOT NULL,
  clock_hz INTEGER NOT NULL,
  flash_bytes INTEGER NOT NULL,
  ram_bytes INTEGER NOT NULL,
  firmware_version TEXT NOT NULL,
  kernel_variant TEXT NOT NULL,
  emulated INTEGER NOT NULL,
  registered_unix_ms INTEGER NOT NULL,
  last_seen_unix_ms INTEGER NOT NULL  -- any call from its agent; ONLINE/OFFLINE derive from it
);

CREATE TABLE measurements (
  seq INTEGER PRIMARY KEY,            -- queue order
  id TEXT NOT NULL UNIQUE,            -- "m-" + 12 base32 characters
  job_seq INTEGER NOT NULL REFERENCES jobs (seq) ON DELETE CASCADE,
  variant TEXT NOT NULL,              -- a quantized variant of the job, e.g. "qat_w8a8"
  board_kind TEXT NOT NULL,           -- the kind of board that may take it
  requested_device_id TEXT NOT NULL DEFAULT '',  -- '' : any device of board_kind
  device_id TEXT NOT NULL DEFAULT '', -- the device running it (RUNNING) or that ran it
  origin TEXT NOT NULL CHECK (origin IN ('request', 'measure_on')),
  state TEXT NOT NULL CHECK (state IN ('QUEUED', 'RUNNING', 'SUCCEEDED', 'FAILED')),
  attempt INTEGER NOT NULL DEFAULT 0, -- leases counted against max_attempts
  max_attempts INTEGER NOT NULL,
  lease_id TEXT NOT NULL DEFAULT '',
  lease_deadline_unix_ms INTEGER NOT NULL DEFAULT 0,
  error TEXT NOT NULL DEFAULT '',
  result BLOB,                        -- qatlab.v1.MeasurementResult once SUCCEEDED
  median_us REAL,                     -- copied out of result for plain SQL queries
  bit_exact INTEGER,                  -- 1 when every checked output matched the host reference
  created_unix_ms INTEGER NOT NULL,
  started_unix_ms INTEGER NOT NULL DEFAULT 0,
  finished_unix_ms INTEGER NOT NULL DEFAULT 0
);
-- Leasing scans the queued measurements of one board kind in queue order.
CREATE INDEX measurements_queue ON measurements (state, board_kind, seq);
CREATE INDEX measurements_lease ON measurements (state, lease_deadline_unix_ms);
CREATE INDEX measurements_job ON measurements (job_seq, seq);
-- A job's spec.measure_on queues each (variant, board kind) once, however
-- often the completion path asks; user requests may repeat a measurement.
CREATE UNIQUE INDEX measurements_measure_on ON measurements (job_seq, variant, board_kind)
  WHERE origin = 'measure_on';
