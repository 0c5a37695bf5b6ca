-- Certificates from an ACME server (`paas certs:auto`): the account per directory, the
-- HTTP-01 challenges being answered, and which apps and certificates are managed.
-- Times are Unix milliseconds (UTC). Kept in step with ../sqlite/0007_acme.sql.

-- One account per ACME directory URL. `credentials` is a secret (the account's private
-- key, as instant-acme serialises it): never returned by the API nor logged.
CREATE TABLE acme_accounts (
    directory_url TEXT   NOT NULL PRIMARY KEY,
    credentials   TEXT   NOT NULL,
    created_at    BIGINT NOT NULL
);

-- What `/.well-known/acme-challenge/<token>` answers while an order is validated.
CREATE TABLE acme_challenges (
    token             TEXT   NOT NULL PRIMARY KEY,
    key_authorization TEXT   NOT NULL,
    app_id            BIGINT NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
    created_at        BIGINT NOT NULL
);

-- 1: the platform orders and renews the app's certificate.
ALTER TABLE apps ADD COLUMN acme BIGINT NOT NULL DEFAULT 0;
-- Why the last order failed, for `paas certs`; NULL after a success.
ALTER TABLE apps ADD COLUMN acme_error TEXT;
-- 1: issued by ACME (replaced on renewal), 0: uploaded.
ALTER TABLE certificates ADD COLUMN auto BIGINT NOT NULL DEFAULT 0;
