//! Helpers that start the real platform for tests, on free ports, against a real
//! database, and talk to it the way a user's client does.
//!
//! The database is SQLite in a temporary directory, or, when `PAAS_TEST_POSTGRES_URL`
//! names a PostgreSQL server (as `cargo xtask test` does in its second run), a fresh
//! PostgreSQL database per test, dropped afterwards.

pub mod client;
pub mod database;
pub mod docker;
pub mod platform;

pub use client::{ApiClient, Reply};
pub use database::TestDatabase;
pub use platform::{spawn_controller, spawn_controller_with, TestPlatform};

/// A password that satisfies the rules, for test users.
pub const PASSWORD: &str = "correct horse battery staple";
