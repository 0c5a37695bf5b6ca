//! The store: queries over SQLite or PostgreSQL through sqlx's `Any` driver.
//!
//! Functions are named resource first (`app_insert`, `release_list_for_app`) and take a
//! `&mut AnyConnection`, which is either a pooled connection or an open transaction, so
//! the logic decides what is atomic. SQL is written once for both databases: `$N`
//! placeholders, `RETURNING`, `ON CONFLICT`, times as Unix milliseconds.
//!
//! SQLite and write transactions: every transaction that writes begins with
//! [`Db::begin_write`], which on SQLite queues writers in order inside the process, and
//! its first statement is a write, so that it takes SQLite's write lock at once instead
//! of failing later when a read snapshot cannot be upgraded.

pub mod acme;
pub mod apps;
pub mod builds;
pub mod certs;
pub mod domains;
pub mod events;
pub mod formations;
pub mod healthchecks;
pub mod overview;
pub mod process_settings;
pub mod releases;
pub mod routes;
pub mod settings;
pub mod tokens;
pub mod users;

use std::ops::{Deref, DerefMut};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{Any, AnyPool, Executor, Transaction};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

pub use sqlx::AnyConnection as Conn;

/// Which database is behind the pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// A SQLite file.
    Sqlite,
    /// A PostgreSQL server.
    Postgres,
}

/// The connection pool and what it talks to.
#[derive(Debug, Clone)]
pub struct Db {
    /// The pool; only `db` functions and the `app` layer's transactions use it.
    pub pool: AnyPool,
    /// Which database.
    pub backend: Backend,
    /// SQLite has one writer at a time: write transactions queue here, in order,
    /// instead of sleeping in SQLite's busy handler (which gives a long, unfair tail).
    /// `None` on PostgreSQL, where row locks order writers of the same rows.
    writers: Option<Arc<Semaphore>>,
}

/// A write transaction: derefs to the transaction (and so to a connection); commit it
/// or drop it to roll back.
pub struct WriteTx {
    tx: Transaction<'static, Any>,
    _turn: Option<OwnedSemaphorePermit>,
}

impl WriteTx {
    /// Commits, then lets the next writer go.
    pub async fn commit(self) -> Result<(), sqlx::Error> {
        self.tx.commit().await
    }
}

impl Deref for WriteTx {
    type Target = Transaction<'static, Any>;
    fn deref(&self) -> &Self::Target {
        &self.tx
    }
}

impl DerefMut for WriteTx {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.tx
    }
}

/// Why the store could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// The URL is neither `sqlite:` nor `postgres:`.
    #[error("unsupported database URL scheme (expected sqlite:// or postgres://)")]
    Scheme,
    /// Connecting failed.
    #[error("cannot connect to the database")]
    Connect(#[source] sqlx::Error),
    /// A migration failed.
    #[error("cannot migrate the database")]
    Migrate(#[source] sqlx::migrate::MigrateError),
}

const SQLITE_PRAGMAS: &str = "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; \
     PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 60000;";

impl Db {
    /// Connects and brings the schema up to date. `sqlite://PATH` creates the file.
    pub async fn open(url: &str) -> Result<Db, OpenError> {
        sqlx::any::install_default_drivers();
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Backend::Postgres
        } else {
            return Err(OpenError::Scheme);
        };
        let url = match backend {
            Backend::Sqlite if !url.contains("mode=") => {
                format!("{url}{}mode=rwc", if url.contains('?') { '&' } else { '?' })
            }
            _ => url.to_owned(),
        };
        let options = AnyConnectOptions::from_str(&url).map_err(OpenError::Connect)?;
        let pool = AnyPoolOptions::new()
            .max_connections(16)
            .acquire_timeout(Duration::from_secs(30))
            .after_connect(move |conn, _meta| {
                Box::pin(async move {
                    if backend == Backend::Sqlite {
                        conn.execute(SQLITE_PRAGMAS).await?;
                    }
                    Ok(())
                })
            })
            .connect_with(options)
            .await
            .map_err(OpenError::Connect)?;
        let migrator = match backend {
            Backend::Sqlite => sqlx::migrate!("../migrations/sqlite"),
            Backend::Postgres => sqlx::migrate!("../migrations/postgres"),
        };
        migrator.run(&pool).await.map_err(OpenError::Migrate)?;
        let writers = (backend == Backend::Sqlite).then(|| Arc::new(Semaphore::new(1)));
        Ok(Db { pool, backend, writers })
    }

    /// Begins a transaction that writes; on SQLite, after waiting for the writer
    /// before it to finish.
    pub async fn begin_write(&self) -> Result<WriteTx, sqlx::Error> {
        let turn = match &self.writers {
            Some(writers) => {
                Some(writers.clone().acquire_owned().await.map_err(|_| sqlx::Error::PoolClosed)?)
            }
            None => None,
        };
        Ok(WriteTx { tx: self.pool.begin().await?, _turn: turn })
    }

    /// Whether the database answers; for `/readyz`.
    pub async fn ping(&self) -> Result<(), sqlx::Error> {
        sqlx::query("SELECT 1").execute(&self.pool).await.map(|_| ())
    }

    /// Closes every connection.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// Now, in Unix milliseconds.
pub fn now_ms() -> i64 {
    let since_epoch = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    i64::try_from(since_epoch.as_millis()).unwrap_or(i64::MAX)
}
