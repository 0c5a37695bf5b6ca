//! The audit log.

use super::{now_ms, Conn};

/// A row of `events`.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct EventRow {
    /// Increasing key.
    pub id: i64,
    /// Who acted.
    pub actor: String,
    /// What they did.
    pub action: String,
    /// On which app.
    pub app: Option<String>,
    /// Details; never a secret.
    pub detail: String,
    /// Unix ms.
    pub created_at: i64,
}

/// Records an event.
pub async fn event_insert(
    conn: &mut Conn,
    actor: &str,
    action: &str,
    app: Option<&str>,
    detail: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query("INSERT INTO events (actor, action, app, detail, created_at) VALUES ($1, $2, $3, $4, $5)")
        .bind(actor)
        .bind(action)
        .bind(app)
        .bind(detail)
        .bind(now_ms())
        .execute(conn)
        .await
        .map(|_| ())
}

/// The newest events, optionally of one app, newest first.
pub async fn event_list(
    conn: &mut Conn,
    app: Option<&str>,
    limit: i64,
) -> Result<Vec<EventRow>, sqlx::Error> {
    const SELECT: &str = "SELECT id, actor, action, app, detail, created_at FROM events";
    match app {
        Some(app) => {
            sqlx::query_as(&format!("{SELECT} WHERE app = $1 ORDER BY id DESC LIMIT $2"))
                .bind(app)
                .bind(limit)
                .fetch_all(conn)
                .await
        }
        None => {
            sqlx::query_as(&format!("{SELECT} ORDER BY id DESC LIMIT $1")).bind(limit).fetch_all(conn).await
        }
    }
}
