-- 0003: trained float models (ONNX) users uploaded; job specs refer to them
-- as "model:<name>". Like data sets: immutable once named, the bytes in the
-- blob store. The shape columns are what the server's check of the file
-- found at upload, so a submission is checked against its data without
-- reading the file again. Times are Unix milliseconds.
-- Only a new table: code that knows just 0001 can still use this database.
-- compatible_version: 1

CREATE TABLE models (
  name TEXT PRIMARY KEY,
  sha256 TEXT NOT NULL REFERENCES blobs (sha256),
  size INTEGER NOT NULL,
  input_height INTEGER NOT NULL,
  input_width INTEGER NOT NULL,
  input_channels INTEGER NOT NULL,
  num_classes INTEGER NOT NULL,
  layer_count INTEGER NOT NULL,
  parameters INTEGER NOT NULL,
  opset INTEGER NOT NULL,
  created_unix_ms INTEGER NOT NULL
);
