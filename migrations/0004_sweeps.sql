-- 0004: sweeps (docs/sweeps.md) and jobs that start from another job's float
-- model (JobSpec.baseline_job). A job with a baseline stays QUEUED and is not
-- leased until its baseline SUCCEEDED; it is FAILED when the baseline ends
-- otherwise. Times are Unix milliseconds.
-- Older code would lease a waiting job before its baseline finished, so it
-- must not open this database: compatible_version is this migration's own.

CREATE TABLE sweeps (
  seq INTEGER PRIMARY KEY,
  id TEXT NOT NULL UNIQUE,            -- "s-" + 12 base32 characters
  name TEXT NOT NULL,
  spec BLOB NOT NULL,                 -- qatlab.v1.SweepSpec as submitted
  created_unix_ms INTEGER NOT NULL
);

-- The job whose float model this one starts from (NULL: it trains its own).
ALTER TABLE jobs ADD COLUMN baseline_seq INTEGER REFERENCES jobs (seq);
-- The sweep that created the job (NULL: submitted on its own).
ALTER TABLE jobs ADD COLUMN sweep_seq INTEGER REFERENCES sweeps (seq);
-- Role in its sweep: 1 a baseline, 0 a grid point.
ALTER TABLE jobs ADD COLUMN sweep_baseline INTEGER NOT NULL DEFAULT 0;
CREATE INDEX jobs_sweep ON jobs (sweep_seq, seq) WHERE sweep_seq IS NOT NULL;
-- Queued jobs waiting on a baseline, found when the baseline ends.
CREATE INDEX jobs_waiting ON jobs (baseline_seq) WHERE state = 1 AND baseline_seq IS NOT NULL;

-- The float variant of a job that did not train it: the baseline's id.
ALTER TABLE variant_results ADD COLUMN baseline_job TEXT NOT NULL DEFAULT '';
