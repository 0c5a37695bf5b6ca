-- Users, tokens, apps, releases, formation, domains, collaborators and the audit log.
-- Times are Unix milliseconds (UTC). Kept in step with ../postgres/0001_foundation.sql.

CREATE TABLE users (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    username      TEXT    NOT NULL UNIQUE,
    password_hash TEXT    NOT NULL,
    -- Flags are 0 or 1 (sqlx's Any driver maps no SQLite boolean).
    is_admin      BIGINT  NOT NULL DEFAULT 0,
    disabled      BIGINT  NOT NULL DEFAULT 0,
    created_at    BIGINT  NOT NULL
);

CREATE TABLE api_tokens (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id     BIGINT  NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    description TEXT    NOT NULL,
    prefix      TEXT    NOT NULL,
    token_hash  TEXT    NOT NULL UNIQUE,
    created_at  BIGINT  NOT NULL
);
CREATE INDEX api_tokens_user ON api_tokens(user_id);

CREATE TABLE apps (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    name         TEXT    NOT NULL UNIQUE,
    owner_id     BIGINT  NOT NULL REFERENCES users(id),
    -- The number of the newest release; bumped first in every transaction that adds one,
    -- which serialises concurrent writers of one app and keeps versions gapless.
    last_release BIGINT  NOT NULL,
    created_at   BIGINT  NOT NULL
);

CREATE TABLE collaborators (
    app_id  BIGINT NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
    user_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    PRIMARY KEY (app_id, user_id)
);
CREATE INDEX collaborators_user ON collaborators(user_id);

CREATE TABLE builds (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    app_id         BIGINT NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
    source_commit  TEXT   NOT NULL,
    image          TEXT   NOT NULL,
    -- JSON object: process type -> command.
    process_types  TEXT   NOT NULL,
    created_by     TEXT   NOT NULL,
    created_at     BIGINT NOT NULL
);

CREATE TABLE releases (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    app_id     BIGINT NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
    version    BIGINT NOT NULL,
    build_id   BIGINT REFERENCES builds(id),
    -- JSON object: config key -> value.
    config     TEXT   NOT NULL,
    summary    TEXT   NOT NULL,
    created_by TEXT   NOT NULL,
    created_at BIGINT NOT NULL,
    UNIQUE (app_id, version)
);

CREATE TABLE formations (
    app_id       BIGINT NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
    process_type TEXT   NOT NULL,
    quantity     BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL,
    PRIMARY KEY (app_id, process_type)
);

CREATE TABLE domains (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    app_id     BIGINT NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
    hostname   TEXT   NOT NULL UNIQUE,
    created_at BIGINT NOT NULL
);
CREATE INDEX domains_app ON domains(app_id);

-- The audit log outlives what it speaks of: no foreign keys, names instead of ids.
CREATE TABLE events (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    actor      TEXT   NOT NULL,
    action     TEXT   NOT NULL,
    app        TEXT,
    detail     TEXT   NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX events_app ON events(app, id);
