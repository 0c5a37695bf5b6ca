//! Users.

use super::{now_ms, Conn};

/// A row of `users`.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct UserRow {
    /// Key.
    pub id: i64,
    /// Login name.
    pub username: String,
    /// Argon2 PHC string.
    pub password_hash: String,
    /// Administers the platform: 1 or 0.
    pub is_admin: i64,
    /// May not sign in: 1 or 0.
    pub disabled: i64,
    /// Unix ms.
    pub created_at: i64,
}

impl UserRow {
    /// Whether the user administers the platform.
    pub fn admin(&self) -> bool {
        self.is_admin != 0
    }

    /// Whether the user is locked out.
    pub fn is_disabled(&self) -> bool {
        self.disabled != 0
    }
}

const COLUMNS: &str = "id, username, password_hash, is_admin, disabled, created_at";

/// Inserts a user; the first user of the platform becomes an admin in the same
/// statement.
pub async fn user_insert(
    conn: &mut Conn,
    username: &str,
    password_hash: &str,
) -> Result<UserRow, sqlx::Error> {
    sqlx::query_as(&format!(
        "INSERT INTO users (username, password_hash, is_admin, disabled, created_at) \
         VALUES ($1, $2, CASE WHEN EXISTS (SELECT 1 FROM users) THEN 0 ELSE 1 END, 0, $3) RETURNING {COLUMNS}"
    ))
    .bind(username)
    .bind(password_hash)
    .bind(now_ms())
    .fetch_one(conn)
    .await
}

/// Whether any user exists.
pub async fn user_any(conn: &mut Conn) -> Result<bool, sqlx::Error> {
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM users").fetch_one(conn).await?;
    Ok(n > 0)
}

/// A user by name.
pub async fn user_by_name(conn: &mut Conn, username: &str) -> Result<Option<UserRow>, sqlx::Error> {
    sqlx::query_as(&format!("SELECT {COLUMNS} FROM users WHERE username = $1"))
        .bind(username)
        .fetch_optional(conn)
        .await
}

/// A user by id.
pub async fn user_by_id(conn: &mut Conn, id: i64) -> Result<Option<UserRow>, sqlx::Error> {
    sqlx::query_as(&format!("SELECT {COLUMNS} FROM users WHERE id = $1")).bind(id).fetch_optional(conn).await
}

/// All users by name.
pub async fn user_list(conn: &mut Conn) -> Result<Vec<UserRow>, sqlx::Error> {
    sqlx::query_as(&format!("SELECT {COLUMNS} FROM users ORDER BY username")).fetch_all(conn).await
}

/// Sets the admin and disabled flags that are given; returns the updated row.
pub async fn user_update_flags(
    conn: &mut Conn,
    username: &str,
    is_admin: Option<bool>,
    disabled: Option<bool>,
) -> Result<Option<UserRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "UPDATE users SET is_admin = COALESCE($2, is_admin), disabled = COALESCE($3, disabled) \
         WHERE username = $1 RETURNING {COLUMNS}"
    ))
    .bind(username)
    .bind(is_admin.map(i64::from))
    .bind(disabled.map(i64::from))
    .fetch_optional(conn)
    .await
}

/// How many enabled admins there are.
pub async fn user_count_active_admins(conn: &mut Conn) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("SELECT COUNT(*) FROM users WHERE is_admin = 1 AND disabled = 0").fetch_one(conn).await
}
