-- Platform settings an admin changes at run time, one row per name. A name without a
-- row has its start-up value; a row wins over it from then on. Names: `registration`
-- (`open`, `admin_only` or `disabled`; `paas registration:set`, start-up value
-- PAAS_REGISTRATION). Times are Unix milliseconds (UTC). Kept in step with
-- ../postgres/0006_settings.sql.

CREATE TABLE platform_settings (
    name       TEXT   NOT NULL PRIMARY KEY,
    value      TEXT   NOT NULL,
    updated_by TEXT   NOT NULL,
    updated_at BIGINT NOT NULL
);
