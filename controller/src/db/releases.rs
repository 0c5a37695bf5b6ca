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
}

const SELECT: &str =
    "SELECT r.app_id, r.version, r.build_id, b.image, r.config, r.summary, r.created_by, r.created_at \
     FROM releases r LEFT JOIN builds b ON b.id = r.build_id";

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

/// Inserts a release.
pub async fn release_insert(conn: &mut Conn, new: NewRelease<'_>) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO releases (app_id, version, build_id, config, summary, created_by, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(new.app_id)
    .bind(new.version)
    .bind(new.build_id)
    .bind(new.config)
    .bind(new.summary)
    .bind(new.created_by)
    .bind(now_ms())
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

/// The current release of an app whose current release has a build: what the scheduler
/// runs.
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
}

/// Every app's current release that has a build, by app name.
pub async fn release_current_with_build_list(conn: &mut Conn) -> Result<Vec<CurrentReleaseRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT a.name AS app, r.version, r.config, b.image, b.process_types \
         FROM apps a JOIN releases r ON r.app_id = a.id AND r.version = a.last_release \
         JOIN builds b ON b.id = r.build_id ORDER BY a.name",
    )
    .fetch_all(conn)
    .await
}
