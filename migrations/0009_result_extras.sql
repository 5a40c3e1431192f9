-- 0009: two JobResult fields the results table had no place for, so that
-- GetResults returns what the worker reported:
--   ptq_test_samples (JobResult field 13): the test images the PTQ variants
--     were evaluated on (until now read back as 0);
--   layer_hessian (field 14): each weighted layer's Hessian trace and HAWQ
--     scores (engine/hessian_trace.h), stored as a serialized JobResult that
--     holds only that field: read and written whole, never queried.
-- Only new nullable columns: code that knows just 0008 can still use this
-- database (it does not read them).
-- compatible_version: 1

ALTER TABLE results ADD COLUMN ptq_test_samples INTEGER;
ALTER TABLE results ADD COLUMN layer_hessian BLOB;
