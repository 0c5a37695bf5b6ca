-- TLS certificates uploaded per app (`paas certs:add`), and `paas tls:enforce`.
-- Times are Unix milliseconds (UTC). Kept in step with ../postgres/0005_certificates.sql.

CREATE TABLE certificates (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    app_id      BIGINT NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
    -- The certificate, then its intermediates, PEM, as uploaded.
    chain_pem   TEXT   NOT NULL,
    -- A secret: carried to the routers, never returned by the API nor logged.
    key_pem     TEXT   NOT NULL,
    issuer      TEXT   NOT NULL,
    -- SHA-256 of the leaf's DER, hex pairs separated by ':'.
    fingerprint TEXT   NOT NULL,
    not_before  BIGINT NOT NULL,
    not_after   BIGINT NOT NULL,
    created_by  TEXT   NOT NULL,
    created_at  BIGINT NOT NULL
);
CREATE INDEX certificates_app ON certificates(app_id);

-- The host names a certificate covers (its subjectAltName DNS names): at most one
-- certificate per host name, across the platform.
CREATE TABLE certificate_hosts (
    hostname       TEXT   NOT NULL PRIMARY KEY,
    certificate_id BIGINT NOT NULL REFERENCES certificates(id) ON DELETE CASCADE
);
CREATE INDEX certificate_hosts_certificate ON certificate_hosts(certificate_id);

-- 1: plain HTTP is redirected to HTTPS and HTTPS answers carry HSTS.
ALTER TABLE apps ADD COLUMN tls_enforce BIGINT NOT NULL DEFAULT 0;
