//! Helpers that start the real platform for tests, on free ports, against a real
//! database, and talk to it the way a user's client does.
//!
//! The database is SQLite in a temporary directory, or, when `PAAS_TEST_POSTGRES_URL`
//! names a PostgreSQL server (as `cargo xtask test` does in its second run), a fresh
//! PostgreSQL database per test, dropped afterwards.

pub mod checkout;
pub mod client;
pub mod dashboard;
pub mod database;
pub mod deployer;
pub mod docker;
pub mod load;
pub mod panic_message;
pub mod platform;
pub mod webdriver;

pub use client::{ApiClient, Reply};
pub use database::TestDatabase;
pub use platform::{
    spawn_controller, spawn_controller_with, spawn_platform, spawn_platform_with, TestPlatform,
};

/// A password that satisfies the rules, for test users.
pub const PASSWORD: &str = "correct horse battery staple";

/// The stack image `cargo xtask test` makes (`cargo xtask stack`).
pub const STACK_IMAGE: &str = "paas/stack:bookworm";

/// Polls `check` every 100 ms until it gives a value; panics naming `what` after
/// three minutes, a limit for a stuck platform on a loaded machine, not a measure of
/// speed.
pub async fn eventually<T, F: std::future::Future<Output = Option<T>>>(
    what: &str,
    mut check: impl FnMut() -> F,
) -> T {
    let give_up = tokio::time::Instant::now() + std::time::Duration::from_secs(180);
    while tokio::time::Instant::now() < give_up {
        if let Some(value) = check().await {
            return value;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("never happened: {what}");
}

/// A binary of this workspace's debug build (`cargo build --bins` makes them all).
pub fn workspace_binary(name: &str) -> std::path::PathBuf {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/debug").join(name);
    assert!(path.exists(), "{} is missing: run `cargo build --bins` first", path.display());
    path
}

/// The real `paas` CLI with its credentials in `config_dir`, the test password for
/// `login`, no colours and no terminal: stdout and stderr piped.
pub fn paas_command(config_dir: &std::path::Path, args: &[&str]) -> std::process::Command {
    let mut command = std::process::Command::new(workspace_binary("paas"));
    command
        .args(args)
        .env("PAAS_CONFIG_DIR", config_dir)
        .env("PAAS_PASSWORD", PASSWORD)
        .env("NO_COLOR", "1")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    command
}
