//! The environment variables xtask reads or sets, and the one function that reads them.
//!
//! The platform's own variables are documented in `paas_core::settings`; xtask repeats
//! the few it needs here rather than depend on the workspace's crates, so that it still
//! builds when they do not.

/// Set by cargo for `cargo run`: the cargo binary to use for the steps.
pub const CARGO: &str = "CARGO";

/// Address of paasd's REST API (`paas_core::settings::API_ADDR`); `up` prints its URL.
pub const API_ADDR: &str = "PAAS_API_ADDR";
/// The default of [`API_ADDR`] (`paas_core::settings::API_ADDR`).
pub const API_ADDR_DEFAULT: &str = "127.0.0.1:7700";

/// paasd's state directory (`paas_core::settings::DATA_DIR`); `up` defaults it to
/// `<repo>/.paas`.
pub const DATA_DIR: &str = "PAAS_DATA_DIR";

/// paasd's database (`paas_core::settings::DATABASE_URL`); `bench` sets it for the
/// PostgreSQL run and removes it for the SQLite run.
pub const DATABASE_URL: &str = "PAAS_DATABASE_URL";

/// paasd's log filter (`paas_core::settings::LOG`); `bench` sets it to `warn`.
pub const LOG: &str = "PAAS_LOG";

/// Set for the second `cargo test` run: the test helpers create and drop a fresh
/// database per test through this PostgreSQL URL. Unset, tests use SQLite.
pub const TEST_POSTGRES_URL: &str = "PAAS_TEST_POSTGRES_URL";

/// Set for both `cargo test` runs: the content tag of the stack image
/// (`paas/stack:bookworm-<hex>`) that `cargo xtask test` made or found, for the tests that
/// build apps on it or run it.
pub const TEST_STACK_IMAGE: &str = "PAAS_TEST_STACK_IMAGE";

/// The value of an environment variable; unset, empty and non-UTF-8 all read as `None`.
#[allow(
    clippy::disallowed_methods,
    reason = "xtask is a program of its own; this is the one function where it reads its environment"
)]
pub fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|value| !value.is_empty())
}
