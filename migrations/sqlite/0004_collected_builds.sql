-- Disk hygiene: when a build's image was removed from the registry and the node
-- (Unix milliseconds, UTC); NULL while it is kept. A release whose build was
-- collected cannot be rolled back to. Kept in step with ../postgres/0004_collected_builds.sql.
ALTER TABLE builds ADD COLUMN collected_at BIGINT;
