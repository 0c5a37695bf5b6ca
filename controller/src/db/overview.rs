//! Read-only summaries for the dashboard, each in one query however many apps there
//! are: the newest release's status, the running release and the last deploy of every
//! app, and the newest failed releases of the platform.

use super::Conn;

/// What the dashboard's app list needs of one app's releases and builds.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ReleaseSummaryRow {
    /// The app's name.
    pub app: String,
    /// The status of its newest release: `pending`, `succeeded` or `failed`.
    pub newest_status: Option<String>,
    /// The newest release that has not failed.
    pub current_version: Option<i64>,
    /// When its newest build was made (Unix ms), if it has one.
    pub deployed_at: Option<i64>,
    /// Who pushed its newest build.
    pub deployed_by: Option<String>,
}

/// Every app's release summary, by name.
pub async fn release_summary_list(conn: &mut Conn) -> Result<Vec<ReleaseSummaryRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT a.name AS app, \
         (SELECT r.status FROM releases r WHERE r.app_id = a.id AND r.version = a.last_release) AS newest_status, \
         (SELECT MAX(r.version) FROM releases r WHERE r.app_id = a.id AND r.status <> 'failed') AS current_version, \
         (SELECT MAX(b.created_at) FROM builds b WHERE b.app_id = a.id) AS deployed_at, \
         (SELECT b.created_by FROM builds b WHERE b.app_id = a.id ORDER BY b.id DESC LIMIT 1) AS deployed_by \
         FROM apps a ORDER BY a.name",
    )
    .fetch_all(conn)
    .await
}

/// A failed release, with its app's name.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct FailedReleaseRow {
    /// The app's name.
    pub app: String,
    /// `N` of `vN`.
    pub version: i64,
    /// Why it failed.
    pub failure: Option<String>,
    /// Who made it.
    pub created_by: String,
    /// When it was made (Unix ms).
    pub created_at: i64,
}

/// The platform's newest failed releases, newest first.
pub async fn release_failed_list(conn: &mut Conn, limit: i64) -> Result<Vec<FailedReleaseRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT a.name AS app, r.version, r.failure, r.created_by, r.created_at \
         FROM releases r JOIN apps a ON a.id = r.app_id WHERE r.status = 'failed' \
         ORDER BY r.created_at DESC, r.id DESC LIMIT $1",
    )
    .bind(limit)
    .fetch_all(conn)
    .await
}

/// Every build of every app with its image, oldest first.
pub async fn build_image_list_all(conn: &mut Conn) -> Result<Vec<super::builds::BuildImageRow>, sqlx::Error> {
    sqlx::query_as("SELECT id, image, collected_at FROM builds ORDER BY id").fetch_all(conn).await
}
