-- 0008: mixed-precision searches the server runs (docs/search.md). The
-- search's parameters, progress, job ids and result live in `search`, a
-- serialized qatlab.v1.Search; `state` is copied out so the server finds the
-- searches to resume after a restart (QUEUED or RUNNING) without parsing
-- every row. Times are Unix milliseconds.
-- A new table only: older code can still use this database (it does not run
-- searches).
-- compatible_version: 1

CREATE TABLE searches (
  seq INTEGER PRIMARY KEY,
  id TEXT NOT NULL UNIQUE,            -- "se-" + 12 base32 characters
  state INTEGER NOT NULL,             -- qatlab.v1.JobState
  search BLOB NOT NULL,               -- qatlab.v1.Search
  idempotency_key TEXT UNIQUE,        -- NULL when none was given
  created_unix_ms INTEGER NOT NULL,
  updated_unix_ms INTEGER NOT NULL
);
CREATE INDEX searches_unfinished ON searches (seq) WHERE state IN (1, 2);
