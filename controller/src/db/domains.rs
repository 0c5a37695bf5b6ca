//! Custom domains.

use super::{now_ms, Conn};

/// A row of `domains`.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct DomainRow {
    /// The host name.
    pub hostname: String,
    /// Unix ms.
    pub created_at: i64,
}

/// An app's custom domains, by name.
pub async fn domain_list_for_app(conn: &mut Conn, app_id: i64) -> Result<Vec<DomainRow>, sqlx::Error> {
    sqlx::query_as("SELECT hostname, created_at FROM domains WHERE app_id = $1 ORDER BY hostname")
        .bind(app_id)
        .fetch_all(conn)
        .await
}

/// Adds a domain; a unique violation means some app has it already.
pub async fn domain_insert(conn: &mut Conn, app_id: i64, hostname: &str) -> Result<DomainRow, sqlx::Error> {
    sqlx::query_as("INSERT INTO domains (app_id, hostname, created_at) VALUES ($1, $2, $3) RETURNING hostname, created_at")
        .bind(app_id)
        .bind(hostname)
        .bind(now_ms())
        .fetch_one(conn)
        .await
}

/// Removes a domain of an app; false when the app had no such domain.
pub async fn domain_delete(conn: &mut Conn, app_id: i64, hostname: &str) -> Result<bool, sqlx::Error> {
    let done = sqlx::query("DELETE FROM domains WHERE app_id = $1 AND hostname = $2")
        .bind(app_id)
        .bind(hostname)
        .execute(conn)
        .await?;
    Ok(done.rows_affected() > 0)
}
