//! Process settings per app and type: the restart generation and resource limits.

use super::{now_ms, Conn};

/// A row of `process_settings`, with its app's name.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ProcessSettingRow {
    /// The app's name.
    pub app: String,
    /// The process type.
    pub process_type: String,
    /// Bumped by every restart and limit change.
    pub generation: i64,
    /// The memory limit in bytes, if any.
    pub memory_bytes: Option<i64>,
    /// The CPU limit in billionths of a CPU, if any.
    pub nano_cpus: Option<i64>,
}

const SELECT: &str = "SELECT a.name AS app, s.process_type, s.generation, s.memory_bytes, s.nano_cpus \
     FROM process_settings s JOIN apps a ON a.id = s.app_id";

/// Every app's process settings, by app and type.
pub async fn process_setting_list(conn: &mut Conn) -> Result<Vec<ProcessSettingRow>, sqlx::Error> {
    sqlx::query_as(&format!("{SELECT} ORDER BY a.name, s.process_type")).fetch_all(conn).await
}

/// One app's process settings, by type.
pub async fn process_setting_list_for_app(
    conn: &mut Conn,
    app_id: i64,
) -> Result<Vec<ProcessSettingRow>, sqlx::Error> {
    sqlx::query_as(&format!("{SELECT} WHERE s.app_id = $1 ORDER BY s.process_type"))
        .bind(app_id)
        .fetch_all(conn)
        .await
}

/// Bumps the generation of one type, so that its processes are replaced.
pub async fn process_generation_bump(
    conn: &mut Conn,
    app_id: i64,
    process_type: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO process_settings (app_id, process_type, generation, updated_at) VALUES ($1, $2, 1, $3) \
         ON CONFLICT (app_id, process_type) DO UPDATE SET generation = process_settings.generation + 1, \
         updated_at = excluded.updated_at",
    )
    .bind(app_id)
    .bind(process_type)
    .bind(now_ms())
    .execute(conn)
    .await
    .map(|_| ())
}

/// Sets the limits of one type and bumps its generation.
pub async fn process_limits_set(
    conn: &mut Conn,
    app_id: i64,
    process_type: &str,
    memory_bytes: Option<i64>,
    nano_cpus: Option<i64>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO process_settings (app_id, process_type, generation, memory_bytes, nano_cpus, updated_at) \
         VALUES ($1, $2, 1, $3, $4, $5) \
         ON CONFLICT (app_id, process_type) DO UPDATE SET generation = process_settings.generation + 1, \
         memory_bytes = excluded.memory_bytes, nano_cpus = excluded.nano_cpus, updated_at = excluded.updated_at",
    )
    .bind(app_id)
    .bind(process_type)
    .bind(memory_bytes)
    .bind(nano_cpus)
    .bind(now_ms())
    .execute(conn)
    .await
    .map(|_| ())
}
