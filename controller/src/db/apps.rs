//! Apps and their collaborators.

use super::{now_ms, Conn};

/// A row of `apps`, with the owner's name.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AppRow {
    /// Key.
    pub id: i64,
    /// The app's name.
    pub name: String,
    /// The owner's user id.
    pub owner_id: i64,
    /// The owner's username.
    pub owner: String,
    /// The newest release's number.
    pub last_release: i64,
    /// Unix ms.
    pub created_at: i64,
}

const SELECT: &str = "SELECT a.id, a.name, a.owner_id, u.username AS owner, a.last_release, a.created_at \
     FROM apps a JOIN users u ON u.id = a.owner_id";

/// Inserts an app whose first release is v1 (the caller inserts that release).
pub async fn app_insert(conn: &mut Conn, name: &str, owner_id: i64) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "INSERT INTO apps (name, owner_id, last_release, created_at) VALUES ($1, $2, 1, $3) RETURNING id",
    )
    .bind(name)
    .bind(owner_id)
    .bind(now_ms())
    .fetch_one(conn)
    .await
}

/// An app by name.
pub async fn app_by_name(conn: &mut Conn, name: &str) -> Result<Option<AppRow>, sqlx::Error> {
    sqlx::query_as(&format!("{SELECT} WHERE a.name = $1")).bind(name).fetch_optional(conn).await
}

/// Every app, by name.
pub async fn app_list_all(conn: &mut Conn) -> Result<Vec<AppRow>, sqlx::Error> {
    sqlx::query_as(&format!("{SELECT} ORDER BY a.name")).fetch_all(conn).await
}

/// The apps a user owns or collaborates on, by name.
pub async fn app_list_for_user(conn: &mut Conn, user_id: i64) -> Result<Vec<AppRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "{SELECT} WHERE a.owner_id = $1 \
         OR EXISTS (SELECT 1 FROM collaborators c WHERE c.app_id = a.id AND c.user_id = $1) \
         ORDER BY a.name"
    ))
    .bind(user_id)
    .fetch_all(conn)
    .await
}

/// Deletes an app and, by cascade, everything that belongs to it; false when it was
/// already gone.
pub async fn app_delete(conn: &mut Conn, id: i64) -> Result<bool, sqlx::Error> {
    let done = sqlx::query("DELETE FROM apps WHERE id = $1").bind(id).execute(conn).await?;
    Ok(done.rows_affected() > 0)
}

/// Allocates the app's next release number. The row lock (PostgreSQL) or write lock
/// (SQLite) taken here is held to the end of the transaction, so concurrent writers of
/// one app get consecutive numbers; `None` when the app is gone.
pub async fn app_next_release(conn: &mut Conn, id: i64) -> Result<Option<i64>, sqlx::Error> {
    sqlx::query_scalar("UPDATE apps SET last_release = last_release + 1 WHERE id = $1 RETURNING last_release")
        .bind(id)
        .fetch_optional(conn)
        .await
}

/// Whether the user collaborates on the app (the owner is not a collaborator row).
pub async fn collaborator_exists(conn: &mut Conn, app_id: i64, user_id: i64) -> Result<bool, sqlx::Error> {
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM collaborators WHERE app_id = $1 AND user_id = $2")
        .bind(app_id)
        .bind(user_id)
        .fetch_one(conn)
        .await?;
    Ok(n > 0)
}

/// Adds a collaborator; a unique violation means they already are one.
pub async fn collaborator_insert(conn: &mut Conn, app_id: i64, user_id: i64) -> Result<(), sqlx::Error> {
    sqlx::query("INSERT INTO collaborators (app_id, user_id) VALUES ($1, $2)")
        .bind(app_id)
        .bind(user_id)
        .execute(conn)
        .await
        .map(|_| ())
}

/// Removes a collaborator; false when they were not one.
pub async fn collaborator_delete(conn: &mut Conn, app_id: i64, user_id: i64) -> Result<bool, sqlx::Error> {
    let done = sqlx::query("DELETE FROM collaborators WHERE app_id = $1 AND user_id = $2")
        .bind(app_id)
        .bind(user_id)
        .execute(conn)
        .await?;
    Ok(done.rows_affected() > 0)
}

/// The collaborators' usernames, by name.
pub async fn collaborator_list_for_app(conn: &mut Conn, app_id: i64) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT u.username FROM collaborators c JOIN users u ON u.id = c.user_id \
         WHERE c.app_id = $1 ORDER BY u.username",
    )
    .bind(app_id)
    .fetch_all(conn)
    .await
}
