//! A throw-away database per test: a SQLite file, or a fresh PostgreSQL database.

use std::path::Path;

use sqlx::{Connection, Executor};

/// The variable `cargo xtask test` sets to run the tests on PostgreSQL: a URL whose role
/// may create databases.
pub const POSTGRES_URL_VAR: &str = "PAAS_TEST_POSTGRES_URL";

/// A database that exists for one test.
pub struct TestDatabase {
    /// The URL paasd is given.
    pub url: String,
    /// On PostgreSQL: the admin URL and the database's name, to drop it afterwards.
    postgres: Option<(String, String)>,
}

#[allow(clippy::disallowed_methods)] // Test configuration, not a platform setting.
fn postgres_admin_url() -> Option<String> {
    std::env::var(POSTGRES_URL_VAR).ok().filter(|v| !v.is_empty())
}

impl TestDatabase {
    /// Whether tests run on PostgreSQL.
    pub fn is_postgres() -> bool {
        postgres_admin_url().is_some()
    }

    /// A fresh database: on PostgreSQL when configured, else a SQLite file in `dir`.
    pub async fn create(dir: &Path) -> TestDatabase {
        sqlx::any::install_default_drivers();
        let Some(admin_url) = postgres_admin_url() else {
            return TestDatabase {
                url: format!("sqlite://{}", dir.join("paas.db").display()),
                postgres: None,
            };
        };
        let name = format!("paas_test_{:016x}", rand::random::<u64>());
        let mut conn = sqlx::AnyConnection::connect(&admin_url)
            .await
            .unwrap_or_else(|e| panic!("cannot connect to {POSTGRES_URL_VAR}: {e}"));
        conn.execute(format!("CREATE DATABASE {name}").as_str()).await.expect("CREATE DATABASE");
        let (base, _) = admin_url.rsplit_once('/').expect("the URL names a database");
        TestDatabase { url: format!("{base}/{name}"), postgres: Some((admin_url, name)) }
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let Some((admin_url, name)) = self.postgres.take() else { return };
        // Drop runs outside any runtime guarantee: use a small one on its own thread.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().ok()?;
            rt.block_on(async {
                let mut conn = sqlx::AnyConnection::connect(&admin_url).await.ok()?;
                conn.execute(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)").as_str()).await.ok()
            })
        })
        .join();
    }
}
