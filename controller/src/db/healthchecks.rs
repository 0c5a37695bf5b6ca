//! Health checks per process type.

use super::{now_ms, Conn};

/// A row of `healthchecks`.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct HealthcheckRow {
    /// The process type.
    pub process_type: String,
    /// The path asked.
    pub path: String,
    /// Milliseconds one attempt may take.
    pub timeout_ms: i64,
    /// Milliseconds between attempts.
    pub interval_ms: i64,
    /// Attempts before giving up.
    pub attempts: i64,
}

/// A health check with the name of its app, for the scheduler.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct AppHealthcheckRow {
    /// The app's name.
    pub app: String,
    /// The process type.
    pub process_type: String,
    /// The path asked.
    pub path: String,
    /// Milliseconds one attempt may take.
    pub timeout_ms: i64,
    /// Milliseconds between attempts.
    pub interval_ms: i64,
    /// Attempts before giving up.
    pub attempts: i64,
}

/// The app's health checks, by process type.
pub async fn healthcheck_list_for_app(
    conn: &mut Conn,
    app_id: i64,
) -> Result<Vec<HealthcheckRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT process_type, path, timeout_ms, interval_ms, attempts FROM healthchecks \
         WHERE app_id = $1 ORDER BY process_type",
    )
    .bind(app_id)
    .fetch_all(conn)
    .await
}

/// Every app's health checks.
pub async fn healthcheck_list(conn: &mut Conn) -> Result<Vec<AppHealthcheckRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT a.name AS app, h.process_type, h.path, h.timeout_ms, h.interval_ms, h.attempts \
         FROM healthchecks h JOIN apps a ON a.id = h.app_id ORDER BY a.name, h.process_type",
    )
    .fetch_all(conn)
    .await
}

/// Sets the check of one process type.
pub async fn healthcheck_upsert(
    conn: &mut Conn,
    app_id: i64,
    row: &HealthcheckRow,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO healthchecks (app_id, process_type, path, timeout_ms, interval_ms, attempts, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (app_id, process_type) DO UPDATE SET \
         path = excluded.path, timeout_ms = excluded.timeout_ms, interval_ms = excluded.interval_ms, \
         attempts = excluded.attempts, updated_at = excluded.updated_at",
    )
    .bind(app_id)
    .bind(&row.process_type)
    .bind(&row.path)
    .bind(row.timeout_ms)
    .bind(row.interval_ms)
    .bind(row.attempts)
    .bind(now_ms())
    .execute(conn)
    .await
    .map(|_| ())
}

/// Removes the check of one process type; returns whether there was one.
pub async fn healthcheck_delete(
    conn: &mut Conn,
    app_id: i64,
    process_type: &str,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query("DELETE FROM healthchecks WHERE app_id = $1 AND process_type = $2")
        .bind(app_id)
        .bind(process_type)
        .execute(conn)
        .await?;
    Ok(done.rows_affected() > 0)
}
