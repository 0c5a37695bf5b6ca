-- Health checks per process type, and the outcome of each release's rollout.
-- Times are Unix milliseconds (UTC). Kept in step with ../postgres/0002_rollout.sql.

-- A process type's HTTP health check; without a row, the default check (the port
-- accepts a connection and answers HTTP) applies.
CREATE TABLE healthchecks (
    app_id       BIGINT NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
    process_type TEXT   NOT NULL,
    path         TEXT   NOT NULL,
    timeout_ms   BIGINT NOT NULL,
    interval_ms  BIGINT NOT NULL,
    attempts     BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL,
    PRIMARY KEY (app_id, process_type)
);

-- 'pending' (rolling out), 'succeeded' (promoted) or 'failed' (abandoned, with a
-- reason). Releases made before rollouts were tracked count as succeeded.
ALTER TABLE releases ADD COLUMN status TEXT NOT NULL DEFAULT 'succeeded';
ALTER TABLE releases ADD COLUMN failure TEXT;
ALTER TABLE releases ADD COLUMN settled_at BIGINT;
