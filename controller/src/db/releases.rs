//! Releases and the builds they run.

use super::{now_ms, Conn};

/// A row of `releases`, with its build's image.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ReleaseRow {
    /// The app.
    pub app_id: i64,
    /// `N` of `vN`.
    pub version: i64,
    /// The build it runs, if any.
    pub build_id: Option<i64>,
    /// The build's image.
    pub image: Option<String>,
    /// JSON object of config vars.
    pub config: String,
    /// What changed.
    pub summary: String,
    /// Who made it.
    pub created_by: String,
    /// Unix ms.
    pub created_at: i64,
    /// `pending`, `succeeded` or `failed`.
    pub status: String,
    /// Why it failed.
    pub failure: Option<String>,
}

const SELECT: &str = "SELECT r.app_id, r.version, r.build_id, b.image, r.config, r.summary, r.created_by, \
     r.created_at, r.status, r.failure FROM releases r LEFT JOIN builds b ON b.id = r.build_id";

/// A release being rolled out.
pub const STATUS_PENDING: &str = "pending";
/// A release that was promoted.
pub const STATUS_SUCCEEDED: &str = "succeeded";
/// A release that was abandoned.
pub const STATUS_FAILED: &str = "failed";

/// What a new release is made of.
#[derive(Debug, Clone, Copy)]
pub struct NewRelease<'a> {
    /// The app.
    pub app_id: i64,
    /// The number from [`super::apps::app_next_release`] (or 1 for a new app).
    pub version: i64,
    /// The build it runs.
    pub build_id: Option<i64>,
    /// JSON object of config vars.
    pub config: &'a str,
    /// What changed.
    pub summary: &'a str,
    /// Who made it.
    pub created_by: &'a str,
}

/// Inserts a release: `pending` when it has a build to roll out, else `succeeded`.
pub async fn release_insert(conn: &mut Conn, new: NewRelease<'_>) -> Result<(), sqlx::Error> {
    let status = if new.build_id.is_some() { STATUS_PENDING } else { STATUS_SUCCEEDED };
    sqlx::query(
        "INSERT INTO releases (app_id, version, build_id, config, summary, created_by, created_at, status, \
         release_phase) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'pending')",
    )
    .bind(new.app_id)
    .bind(new.version)
    .bind(new.build_id)
    .bind(new.config)
    .bind(new.summary)
    .bind(new.created_by)
    .bind(now_ms())
    .bind(status)
    .execute(conn)
    .await
    .map(|_| ())
}

/// One release of an app.
pub async fn release_by_version(
    conn: &mut Conn,
    app_id: i64,
    version: i64,
) -> Result<Option<ReleaseRow>, sqlx::Error> {
    sqlx::query_as(&format!("{SELECT} WHERE r.app_id = $1 AND r.version = $2"))
        .bind(app_id)
        .bind(version)
        .fetch_optional(conn)
        .await
}

/// An app's releases, newest first, at most `limit`.
pub async fn release_list_for_app(
    conn: &mut Conn,
    app_id: i64,
    limit: i64,
) -> Result<Vec<ReleaseRow>, sqlx::Error> {
    sqlx::query_as(&format!("{SELECT} WHERE r.app_id = $1 ORDER BY r.version DESC LIMIT $2"))
        .bind(app_id)
        .bind(limit)
        .fetch_all(conn)
        .await
}

/// Records a build; returns its id.
pub async fn build_insert(
    conn: &mut Conn,
    app_id: i64,
    source_commit: &str,
    image: &str,
    process_types: &str,
    created_by: &str,
) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "INSERT INTO builds (app_id, source_commit, image, process_types, created_by, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
    )
    .bind(app_id)
    .bind(source_commit)
    .bind(image)
    .bind(process_types)
    .bind(created_by)
    .bind(now_ms())
    .fetch_one(conn)
    .await
}

/// The process types of a build: a JSON object of type -> command.
pub async fn build_process_types(conn: &mut Conn, build_id: i64) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar("SELECT process_types FROM builds WHERE id = $1")
        .bind(build_id)
        .fetch_optional(conn)
        .await
}

/// The release of an app that the scheduler runs: the newest one that has not failed,
/// when it has a build.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct CurrentReleaseRow {
    /// The app's name.
    pub app: String,
    /// The release's number.
    pub version: i64,
    /// JSON object of config vars.
    pub config: String,
    /// The build's image.
    pub image: String,
    /// The build's process types: a JSON object of type -> command.
    pub process_types: String,
    /// `pending` or `succeeded`.
    pub status: String,
    /// Whether its release command ran: `pending`, `running`, `succeeded`, `failed`.
    pub release_phase: String,
}

/// Every app's newest release that has not failed, when it has a build, by app name.
pub async fn release_current_with_build_list(conn: &mut Conn) -> Result<Vec<CurrentReleaseRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT a.name AS app, r.version, r.config, b.image, b.process_types, r.status, r.release_phase \
         FROM apps a JOIN releases r ON r.app_id = a.id \
         JOIN builds b ON b.id = r.build_id \
         WHERE r.version = (SELECT MAX(n.version) FROM releases n WHERE n.app_id = a.id AND n.status <> 'failed') \
         ORDER BY a.name",
    )
    .fetch_all(conn)
    .await
}

/// Settles a pending release of the app named `app`: `succeeded`, or `failed` with a
/// reason. Returns whether a pending release was settled (a settled one stays as it is).
pub async fn release_settle(
    conn: &mut Conn,
    app: &str,
    version: i64,
    status: &str,
    failure: Option<&str>,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE releases SET status = $1, failure = $2, settled_at = $3 \
         WHERE version = $4 AND status = 'pending' AND app_id = (SELECT id FROM apps WHERE name = $5)",
    )
    .bind(status)
    .bind(failure)
    .bind(now_ms())
    .bind(version)
    .bind(app)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() > 0)
}

/// The status and failure of one release of the app named `app`.
pub async fn release_status(
    conn: &mut Conn,
    app: &str,
    version: i64,
) -> Result<Option<(String, Option<String>)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT r.status, r.failure FROM releases r JOIN apps a ON a.id = r.app_id \
         WHERE a.name = $1 AND r.version = $2",
    )
    .bind(app)
    .bind(version)
    .fetch_optional(conn)
    .await
}

/// The number of the app's release that runs: the newest that has not failed.
pub async fn release_current_version(conn: &mut Conn, app_id: i64) -> Result<Option<i64>, sqlx::Error> {
    sqlx::query_scalar("SELECT MAX(version) FROM releases WHERE app_id = $1 AND status <> 'failed'")
        .bind(app_id)
        .fetch_one(conn)
        .await
}

/// A release phase that has not run yet.
pub const PHASE_PENDING: &str = "pending";
/// A release phase under way.
pub const PHASE_RUNNING: &str = "running";
/// A release phase whose command exited 0.
pub const PHASE_SUCCEEDED: &str = "succeeded";
/// A release phase whose command failed.
pub const PHASE_FAILED: &str = "failed";

/// Sets the release phase of a pending release of the app named `app`; returns whether
/// the release was still pending.
pub async fn release_phase_set(
    conn: &mut Conn,
    app: &str,
    version: i64,
    phase: &str,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE releases SET release_phase = $1 \
         WHERE version = $2 AND status = 'pending' AND app_id = (SELECT id FROM apps WHERE name = $3)",
    )
    .bind(phase)
    .bind(version)
    .bind(app)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() > 0)
}
