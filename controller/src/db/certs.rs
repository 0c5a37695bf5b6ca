//! TLS certificates per app, the host names each covers, and `apps.tls_enforce`.
//!
//! Listing queries leave the private key out; only [`certificate_route_list`], which
//! feeds the routers, reads it.

use super::{now_ms, Conn};

/// A row of `certificates`, without its key.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct CertificateRow {
    /// Its id.
    pub id: i64,
    /// Its issuer's distinguished name.
    pub issuer: String,
    /// SHA-256 of the leaf's DER.
    pub fingerprint: String,
    /// Unix ms.
    pub not_before: i64,
    /// Unix ms.
    pub not_after: i64,
    /// Who uploaded it.
    pub created_by: String,
    /// Unix ms.
    pub created_at: i64,
    /// 1 when issued by ACME (`paas certs:auto`), 0 when uploaded.
    pub auto: i64,
}

/// What a new certificate row holds. `Debug` never shows the key.
pub struct CertificateNew<'a> {
    /// The chain, PEM.
    pub chain_pem: &'a str,
    /// The private key, PEM.
    pub key_pem: &'a str,
    /// The issuer's distinguished name.
    pub issuer: &'a str,
    /// SHA-256 of the leaf's DER.
    pub fingerprint: &'a str,
    /// Unix ms.
    pub not_before: i64,
    /// Unix ms.
    pub not_after: i64,
    /// Who uploads it.
    pub created_by: &'a str,
    /// Issued by ACME.
    pub auto: bool,
}

/// A host name and the certificate that covers it, with its key: the routers' view.
#[derive(Clone, sqlx::FromRow)]
pub struct CertificateRouteRow {
    /// The app.
    pub app: String,
    /// The host name.
    pub hostname: String,
    /// The chain, PEM.
    pub chain_pem: String,
    /// The private key, PEM.
    pub key_pem: String,
}

/// An app's certificates, oldest first.
pub async fn certificate_list_for_app(
    conn: &mut Conn,
    app_id: i64,
) -> Result<Vec<CertificateRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, issuer, fingerprint, not_before, not_after, created_by, created_at, auto
         FROM certificates WHERE app_id = $1 ORDER BY id",
    )
    .bind(app_id)
    .fetch_all(conn)
    .await
}

/// The host names of an app's certificates, as `(certificate id, host name)`, by name.
pub async fn certificate_host_list_for_app(
    conn: &mut Conn,
    app_id: i64,
) -> Result<Vec<(i64, String)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT h.certificate_id, h.hostname FROM certificate_hosts h
         JOIN certificates c ON c.id = h.certificate_id WHERE c.app_id = $1 ORDER BY h.hostname",
    )
    .bind(app_id)
    .fetch_all(conn)
    .await
}

/// Adds a certificate of an app; returns its id. Its host names come next, with
/// [`certificate_host_insert`].
pub async fn certificate_insert(
    conn: &mut Conn,
    app_id: i64,
    new: &CertificateNew<'_>,
) -> Result<CertificateRow, sqlx::Error> {
    sqlx::query_as(
        "INSERT INTO certificates
           (app_id, chain_pem, key_pem, issuer, fingerprint, not_before, not_after, created_by, created_at, auto)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
         RETURNING id, issuer, fingerprint, not_before, not_after, created_by, created_at, auto",
    )
    .bind(app_id)
    .bind(new.chain_pem)
    .bind(new.key_pem)
    .bind(new.issuer)
    .bind(new.fingerprint)
    .bind(new.not_before)
    .bind(new.not_after)
    .bind(new.created_by)
    .bind(now_ms())
    .bind(i64::from(new.auto))
    .fetch_one(conn)
    .await
}

/// Records that a certificate covers `hostname`; a unique violation means another
/// certificate does already.
pub async fn certificate_host_insert(
    conn: &mut Conn,
    certificate_id: i64,
    hostname: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query("INSERT INTO certificate_hosts (hostname, certificate_id) VALUES ($1, $2)")
        .bind(hostname)
        .bind(certificate_id)
        .execute(conn)
        .await?;
    Ok(())
}

/// Removes a certificate of an app and its host names; false when the app has no such
/// certificate.
pub async fn certificate_delete(
    conn: &mut Conn,
    app_id: i64,
    certificate_id: i64,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query("DELETE FROM certificates WHERE id = $1 AND app_id = $2")
        .bind(certificate_id)
        .bind(app_id)
        .execute(&mut *conn)
        .await?;
    if done.rows_affected() == 0 {
        return Ok(false);
    }
    // The foreign key cascades too; this keeps the table clean whatever the pragma.
    sqlx::query("DELETE FROM certificate_hosts WHERE certificate_id = $1")
        .bind(certificate_id)
        .execute(conn)
        .await?;
    Ok(true)
}

/// Every host name covered by a certificate, with its app, chain and key.
pub async fn certificate_route_list(conn: &mut Conn) -> Result<Vec<CertificateRouteRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT a.name AS app, h.hostname, c.chain_pem, c.key_pem FROM certificate_hosts h
         JOIN certificates c ON c.id = h.certificate_id JOIN apps a ON a.id = c.app_id ORDER BY h.hostname",
    )
    .fetch_all(conn)
    .await
}

/// Sets an app's `tls_enforce`.
pub async fn app_tls_enforce_update(conn: &mut Conn, app_id: i64, enforce: bool) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE apps SET tls_enforce = $1 WHERE id = $2")
        .bind(i64::from(enforce))
        .bind(app_id)
        .execute(conn)
        .await?;
    Ok(())
}

/// An app's `tls_enforce`.
pub async fn app_tls_enforce_get(conn: &mut Conn, app_id: i64) -> Result<bool, sqlx::Error> {
    let (enforce,): (i64,) =
        sqlx::query_as("SELECT tls_enforce FROM apps WHERE id = $1").bind(app_id).fetch_one(conn).await?;
    Ok(enforce != 0)
}

/// The names of the apps with `tls_enforce` on.
pub async fn app_tls_enforced_list(conn: &mut Conn) -> Result<Vec<String>, sqlx::Error> {
    let rows: Vec<(String,)> =
        sqlx::query_as("SELECT name FROM apps WHERE tls_enforce = 1 ORDER BY name").fetch_all(conn).await?;
    Ok(rows.into_iter().map(|(name,)| name).collect())
}
