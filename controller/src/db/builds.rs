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
