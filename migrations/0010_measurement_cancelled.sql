-- 0010: a CANCELLED state for measurements. Until now CancelMeasurement (and
-- CancelSearch, through it) ended a measurement FAILED with the error
-- "cancelled before it ran" (it was QUEUED) or "cancelled while it ran on
-- <device id>" (it was RUNNING), because the CHECK on measurements.state
-- allowed only QUEUED, RUNNING, SUCCEEDED and FAILED. SQLite cannot change a
-- CHECK in place, so the table is rebuilt: the new table, every row copied,
-- the old table dropped, the new one renamed, and its indexes created again
-- (dropping the table dropped them; it has no triggers). Columns keep their
-- names, types, defaults and order (lease_binding, added by 0007, stays
-- last); `seq` keeps its values, so queue order and paging do not change.
--
-- Rows cancelled before this migration become CANCELLED, keeping their
-- error: FAILED with exactly one of the two texts above (the second naming
-- the row's own device_id). Only DeviceStore::Cancel writes them, unchanged
-- since it was written; the agent's failures, lease expiry and the
-- unserved-queue timeout write other texts. Any other FAILED row stays
-- FAILED.
--
-- Older code can still use this database: it spells the states as text, its
-- queue leases only QUEUED rows, expiry looks only at RUNNING ones, and a
-- cancel of a CANCELLED row is refused as for any finished one; everything
-- it writes the new CHECK allows. Two differences remain while it runs: it
-- cancels to FAILED again (those rows stay FAILED when newer code returns,
-- the migration having run), and its search runner does not count CANCELLED
-- as final, so a search waiting on a measurement a user cancelled directly
-- (not through CancelSearch) waits until the search is cancelled.
-- compatible_version: 1

CREATE TABLE measurements_0010 (
  seq INTEGER PRIMARY KEY,            -- queue order
  id TEXT NOT NULL UNIQUE,            -- "m-" + 12 base32 characters
  job_seq INTEGER NOT NULL REFERENCES jobs (seq) ON DELETE CASCADE,
  variant TEXT NOT NULL,              -- a quantized variant of the job, e.g. "qat_w8a8"
  board_kind TEXT NOT NULL,           -- the kind of board that may take it
  requested_device_id TEXT NOT NULL DEFAULT '',  -- '' : any device of board_kind
  device_id TEXT NOT NULL DEFAULT '', -- the device running it (RUNNING) or that ran it
  origin TEXT NOT NULL CHECK (origin IN ('request', 'measure_on')),
  state TEXT NOT NULL CHECK (state IN ('QUEUED', 'RUNNING', 'SUCCEEDED', 'FAILED', 'CANCELLED')),
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
  finished_unix_ms INTEGER NOT NULL DEFAULT 0,
  lease_binding TEXT NOT NULL DEFAULT ''  -- 0007: "<lease id> <token digest>", '' unbound
);

INSERT INTO measurements_0010 (seq, id, job_seq, variant, board_kind, requested_device_id, device_id, origin, state,
                               attempt, max_attempts, lease_id, lease_deadline_unix_ms, error, result, median_us,
                               bit_exact, created_unix_ms, started_unix_ms, finished_unix_ms, lease_binding)
SELECT seq, id, job_seq, variant, board_kind, requested_device_id, device_id, origin,
       CASE WHEN state = 'FAILED' AND (error = 'cancelled before it ran'
                                       OR error = 'cancelled while it ran on ' || device_id)
            THEN 'CANCELLED' ELSE state END,
       attempt, max_attempts, lease_id, lease_deadline_unix_ms, error, result, median_us,
       bit_exact, created_unix_ms, started_unix_ms, finished_unix_ms, lease_binding
FROM measurements;

DROP TABLE measurements;
ALTER TABLE measurements_0010 RENAME TO measurements;

-- The indexes of 0002, as 0002 spelled them.
CREATE INDEX measurements_queue ON measurements (state, board_kind, seq);
CREATE INDEX measurements_lease ON measurements (state, lease_deadline_unix_ms);
CREATE INDEX measurements_job ON measurements (job_seq, seq);
CREATE UNIQUE INDEX measurements_measure_on ON measurements (job_seq, variant, board_kind)
  WHERE origin = 'measure_on';
