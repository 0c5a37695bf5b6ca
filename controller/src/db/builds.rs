//! Reading builds: an app's builds and the releases that run them. (A build is written
//! with its release, by `releases::build_insert`.)

use super::Conn;

/// A row of `builds`.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct BuildRow {
    /// The build's id.
    pub id: i64,
    /// The commit built.
    pub source_commit: String,
    /// The image made.
    pub image: String,
    /// JSON object: process type -> command.
    pub process_types: String,
    /// Who pushed.
    pub created_by: String,
    /// Unix ms.
    pub created_at: i64,
}

/// An app's builds, newest first, at most `limit`.
pub async fn build_list_for_app(
    conn: &mut Conn,
    app_id: i64,
    limit: i64,
) -> Result<Vec<BuildRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, source_commit, image, process_types, created_by, created_at FROM builds \
         WHERE app_id = $1 ORDER BY id DESC LIMIT $2",
    )
    .bind(app_id)
    .bind(limit)
    .fetch_all(conn)
    .await
}

/// Which release runs which build, for every release of an app that has one: pairs of
/// (build id, release number), by release number.
pub async fn build_release_versions_for_app(
    conn: &mut Conn,
    app_id: i64,
) -> Result<Vec<(i64, i64)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT build_id, version FROM releases WHERE app_id = $1 AND build_id IS NOT NULL ORDER BY version",
    )
    .bind(app_id)
    .fetch_all(conn)
    .await
}

/// A build as disk hygiene sees it: its image and whether that was collected.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct BuildImageRow {
    /// The build's id.
    pub id: i64,
    /// The image made.
    pub image: String,
    /// When its image was removed (Unix ms), if it was.
    pub collected_at: Option<i64>,
}

/// Every build of an app with its image, oldest first.
pub async fn build_image_list_for_app(
    conn: &mut Conn,
    app_id: i64,
) -> Result<Vec<BuildImageRow>, sqlx::Error> {
    sqlx::query_as("SELECT id, image, collected_at FROM builds WHERE app_id = $1 ORDER BY id")
        .bind(app_id)
        .fetch_all(conn)
        .await
}

/// Every release of an app that runs a build: (release number, build id, status), by
/// release number.
pub async fn build_release_status_for_app(
    conn: &mut Conn,
    app_id: i64,
) -> Result<Vec<(i64, i64, String)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT version, build_id, status FROM releases \
         WHERE app_id = $1 AND build_id IS NOT NULL ORDER BY version",
    )
    .bind(app_id)
    .fetch_all(conn)
    .await
}

/// Marks a build's image as collected at `at` (Unix ms), unless it was already.
pub async fn build_mark_collected(conn: &mut Conn, build_id: i64, at: i64) -> Result<bool, sqlx::Error> {
    let done = sqlx::query("UPDATE builds SET collected_at = $1 WHERE id = $2 AND collected_at IS NULL")
        .bind(at)
        .bind(build_id)
        .execute(conn)
        .await?;
    Ok(done.rows_affected() > 0)
}

/// When a build's image was collected (Unix ms); `None` while it is kept (or for no
/// such build).
pub async fn build_collected_at(conn: &mut Conn, build_id: i64) -> Result<Option<i64>, sqlx::Error> {
    let row: Option<(Option<i64>,)> = sqlx::query_as("SELECT collected_at FROM builds WHERE id = $1")
        .bind(build_id)
        .fetch_optional(conn)
        .await?;
    Ok(row.and_then(|(at,)| at))
}
