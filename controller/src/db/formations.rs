//! Formations: quantities per process type.

use super::{now_ms, Conn};

/// A row of `formations`.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct FormationRow {
    /// The process type.
    pub process_type: String,
    /// How many should run.
    pub quantity: i64,
}

/// An app's formation, by type.
pub async fn formation_list_for_app(conn: &mut Conn, app_id: i64) -> Result<Vec<FormationRow>, sqlx::Error> {
    sqlx::query_as("SELECT process_type, quantity FROM formations WHERE app_id = $1 ORDER BY process_type")
        .bind(app_id)
        .fetch_all(conn)
        .await
}

/// Sets the quantity of one type.
pub async fn formation_upsert(
    conn: &mut Conn,
    app_id: i64,
    process_type: &str,
    quantity: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO formations (app_id, process_type, quantity, updated_at) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (app_id, process_type) DO UPDATE SET quantity = excluded.quantity, updated_at = excluded.updated_at",
    )
    .bind(app_id)
    .bind(process_type)
    .bind(quantity)
    .bind(now_ms())
    .execute(conn)
    .await
    .map(|_| ())
}

/// One process type's quantity, with its app's name.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AppFormationRow {
    /// The app's name.
    pub app: String,
    /// The process type.
    pub process_type: String,
    /// How many should run.
    pub quantity: i64,
}

/// Every app's formation, by app and type.
pub async fn formation_list(conn: &mut Conn) -> Result<Vec<AppFormationRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT a.name AS app, f.process_type, f.quantity FROM formations f JOIN apps a ON a.id = f.app_id \
         ORDER BY a.name, f.process_type",
    )
    .fetch_all(conn)
    .await
}
