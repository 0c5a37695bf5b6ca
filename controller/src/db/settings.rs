//! Platform settings an admin changes at run time (table `platform_settings`): a name
//! without a row keeps its start-up value.

use super::{now_ms, Conn};

/// The name of the registration mode's row.
pub const REGISTRATION: &str = "registration";

/// A row of `platform_settings`.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct PlatformSettingRow {
    /// The setting's name.
    pub name: String,
    /// Its value, as the logic wrote it.
    pub value: String,
    /// Who set it.
    pub updated_by: String,
    /// When (Unix ms).
    pub updated_at: i64,
}

/// The stored value of `name`, if an admin set one.
pub async fn platform_setting_get(
    conn: &mut Conn,
    name: &str,
) -> Result<Option<PlatformSettingRow>, sqlx::Error> {
    sqlx::query_as("SELECT name, value, updated_by, updated_at FROM platform_settings WHERE name = $1")
        .bind(name)
        .fetch_optional(conn)
        .await
}

/// Stores `value` for `name`, replacing what was there.
pub async fn platform_setting_set(
    conn: &mut Conn,
    name: &str,
    value: &str,
    updated_by: &str,
) -> Result<PlatformSettingRow, sqlx::Error> {
    sqlx::query_as(
        "INSERT INTO platform_settings (name, value, updated_by, updated_at) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (name) DO UPDATE SET value = excluded.value, updated_by = excluded.updated_by, \
         updated_at = excluded.updated_at \
         RETURNING name, value, updated_by, updated_at",
    )
    .bind(name)
    .bind(value)
    .bind(updated_by)
    .bind(now_ms())
    .fetch_one(conn)
    .await
}
