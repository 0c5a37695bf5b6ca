//! What the route table is made of: apps and their custom domains.

use super::Conn;

/// An app and one of its custom host names (`None` for an app without any).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AppHostRow {
    /// The app.
    pub name: String,
    /// A custom host name of it.
    pub hostname: Option<String>,
}

/// Every app with each of its custom host names, by app.
pub async fn app_host_list(conn: &mut Conn) -> Result<Vec<AppHostRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT a.name, d.hostname FROM apps a LEFT JOIN domains d ON d.app_id = a.id ORDER BY a.name",
    )
    .fetch_all(conn)
    .await
}
