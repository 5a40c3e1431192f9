-- Run records (JobResult.run, qatlab.v1.RunRecord): what a job's outcome
-- depends on besides its spec (input sums, seed, engine version, threads,
-- model sums), so that `qatctl rerun` can check a re-run. Stored as the
-- serialized message: it is read and written whole, never queried.
-- Only a new nullable column: code that knows just 0001 can still use this
-- database (its results simply have no record).
-- compatible_version: 1

ALTER TABLE results ADD COLUMN run_record BLOB;
