-- 0007: which worker token took each lease, so that a lease id (a capability)
-- stays usable only by the token that took it, across server restarts too
-- (server/store/lease.h, "Holder binding"). Written by the same UPDATE that
-- grants the lease; cleared with the lease when the row is requeued.
-- The value is "<lease id> <hex SHA-256 of the caller's authorization
-- header>": never the token itself. '' when the lease is not bound (an open
-- server, or a lease granted before this migration). The lease id in the value
-- makes a binding left behind by older code (which grants without writing
-- this column) recognisably stale: it names another lease and binds nothing.
-- Only new columns with defaults: older code can still use this database.
-- compatible_version: 1

ALTER TABLE jobs ADD COLUMN lease_binding TEXT NOT NULL DEFAULT '';
ALTER TABLE measurements ADD COLUMN lease_binding TEXT NOT NULL DEFAULT '';
