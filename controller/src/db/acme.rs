//! ACME state: accounts per directory, the HTTP-01 challenges being answered, and the
//! apps whose certificate the platform orders (`apps.acme`, `apps.acme_error`).
//!
//! Account credentials are secrets: only [`account_get`] reads them, for the issuer.

use super::{now_ms, Conn};

/// The stored credentials (JSON) of the account on `directory_url`.
pub async fn account_get(conn: &mut Conn, directory_url: &str) -> Result<Option<String>, sqlx::Error> {
    let row: Option<(String,)> =
        sqlx::query_as("SELECT credentials FROM acme_accounts WHERE directory_url = $1")
            .bind(directory_url)
            .fetch_optional(conn)
            .await?;
    Ok(row.map(|(credentials,)| credentials))
}

/// Stores a new account's credentials.
pub async fn account_insert(
    conn: &mut Conn,
    directory_url: &str,
    credentials: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query("INSERT INTO acme_accounts (directory_url, credentials, created_at) VALUES ($1, $2, $3)")
        .bind(directory_url)
        .bind(credentials)
        .bind(now_ms())
        .execute(conn)
        .await?;
    Ok(())
}

/// Answers `token` with `key_authorization` from now on.
pub async fn challenge_insert(
    conn: &mut Conn,
    token: &str,
    key_authorization: &str,
    app_id: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO acme_challenges (token, key_authorization, app_id, created_at) VALUES ($1, $2, $3, $4)",
    )
    .bind(token)
    .bind(key_authorization)
    .bind(app_id)
    .bind(now_ms())
    .execute(conn)
    .await?;
    Ok(())
}

/// The key authorization that answers `token`.
pub async fn challenge_get(conn: &mut Conn, token: &str) -> Result<Option<String>, sqlx::Error> {
    let row: Option<(String,)> =
        sqlx::query_as("SELECT key_authorization FROM acme_challenges WHERE token = $1")
            .bind(token)
            .fetch_optional(conn)
            .await?;
    Ok(row.map(|(key_authorization,)| key_authorization))
}

/// Stops answering an app's challenges.
pub async fn challenge_delete_for_app(conn: &mut Conn, app_id: i64) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM acme_challenges WHERE app_id = $1").bind(app_id).execute(conn).await?;
    Ok(())
}

/// Turns ordering on or off for an app; either way the last error is forgotten.
pub async fn app_acme_update(conn: &mut Conn, app_id: i64, on: bool) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE apps SET acme = $1, acme_error = NULL WHERE id = $2")
        .bind(i64::from(on))
        .bind(app_id)
        .execute(conn)
        .await?;
    Ok(())
}

/// Records why an app's last order failed, or that it succeeded (`None`).
pub async fn app_acme_error_update(
    conn: &mut Conn,
    app_id: i64,
    error: Option<&str>,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE apps SET acme_error = $1 WHERE id = $2")
        .bind(error)
        .bind(app_id)
        .execute(conn)
        .await?;
    Ok(())
}

/// Whether the platform orders an app's certificate, and why the last order failed.
pub async fn app_acme_get(conn: &mut Conn, app_id: i64) -> Result<(bool, Option<String>), sqlx::Error> {
    let (on, error): (i64, Option<String>) =
        sqlx::query_as("SELECT acme, acme_error FROM apps WHERE id = $1")
            .bind(app_id)
            .fetch_one(conn)
            .await?;
    Ok((on != 0, error))
}

/// The names of the apps whose certificate the platform orders.
pub async fn app_acme_list(conn: &mut Conn) -> Result<Vec<String>, sqlx::Error> {
    let rows: Vec<(String,)> =
        sqlx::query_as("SELECT name FROM apps WHERE acme = 1 ORDER BY name").fetch_all(conn).await?;
    Ok(rows.into_iter().map(|(name,)| name).collect())
}
