-- The release phase of each release, and per process type a restart generation and
-- resource limits. Times are Unix milliseconds (UTC). Kept in step with
-- ../sqlite/0003_operations.sql.

-- Whether a release's release command (the Procfile's `release:`) has run: 'pending',
-- 'running', 'succeeded' or 'failed'. Meaningful only while the release is pending and
-- its build has a release command; releases made before it count as having run.
ALTER TABLE releases ADD COLUMN release_phase TEXT NOT NULL DEFAULT 'succeeded';

-- Per process type: a generation that `ps:restart` and limit changes bump (its
-- processes are replaced, rolling), and the memory (bytes) and CPU (nano CPUs) limits
-- of its containers; NULL is no limit.
CREATE TABLE process_settings (
    app_id       BIGINT NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
    process_type TEXT   NOT NULL,
    generation   BIGINT NOT NULL DEFAULT 0,
    memory_bytes BIGINT,
    nano_cpus    BIGINT,
    updated_at   BIGINT NOT NULL,
    PRIMARY KEY (app_id, process_type)
);
