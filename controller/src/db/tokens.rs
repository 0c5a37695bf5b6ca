//! API tokens, stored only as SHA-256 hashes.

use super::{now_ms, Conn};

/// A row of `api_tokens`, without the hash.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TokenRow {
    /// Key.
    pub id: i64,
    /// Owner.
    pub user_id: i64,
    /// What it is for.
    pub description: String,
    /// The first characters of the secret.
    pub prefix: String,
    /// Unix ms.
    pub created_at: i64,
}

/// Inserts a token by its hash.
pub async fn token_insert(
    conn: &mut Conn,
    user_id: i64,
    description: &str,
    prefix: &str,
    token_hash: &str,
) -> Result<TokenRow, sqlx::Error> {
    sqlx::query_as(
        "INSERT INTO api_tokens (user_id, description, prefix, token_hash, created_at) \
         VALUES ($1, $2, $3, $4, $5) RETURNING id, user_id, description, prefix, created_at",
    )
    .bind(user_id)
    .bind(description)
    .bind(prefix)
    .bind(token_hash)
    .bind(now_ms())
    .fetch_one(conn)
    .await
}

/// A user's tokens, oldest first.
pub async fn token_list_for_user(conn: &mut Conn, user_id: i64) -> Result<Vec<TokenRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, user_id, description, prefix, created_at FROM api_tokens \
         WHERE user_id = $1 ORDER BY id",
    )
    .bind(user_id)
    .fetch_all(conn)
    .await
}

/// Deletes one of a user's tokens; false when there was none.
pub async fn token_delete(conn: &mut Conn, user_id: i64, id: i64) -> Result<bool, sqlx::Error> {
    let done = sqlx::query("DELETE FROM api_tokens WHERE id = $1 AND user_id = $2")
        .bind(id)
        .bind(user_id)
        .execute(conn)
        .await?;
    Ok(done.rows_affected() > 0)
}

/// The owner of the token with this hash.
pub async fn token_user_by_hash(conn: &mut Conn, token_hash: &str) -> Result<Option<i64>, sqlx::Error> {
    sqlx::query_scalar("SELECT user_id FROM api_tokens WHERE token_hash = $1")
        .bind(token_hash)
        .fetch_optional(conn)
        .await
}
