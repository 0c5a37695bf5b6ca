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

/// The platform domain (`paas_core::settings::DOMAIN`); `bench` sets it to `localhost`.
pub const DOMAIN: &str = "PAAS_DOMAIN";

/// Whether paasd runs apps on the Docker engine (`paas_core::settings::DOCKER`): `bench
/// api` sets it `off` (the API alone), `bench deploy` `on`.
pub const DOCKER: &str = "PAAS_DOCKER";

/// How long a replaced `web` process drains before it is stopped
/// (`paas_core::settings::DRAIN_SECONDS`); `bench rollout` sets it short.
pub const DRAIN_SECONDS: &str = "PAAS_DRAIN_SECONDS";

/// paasd's other listeners, each set by `bench` to a free loopback port: the builder's
/// git endpoint, the router, the registry gateway, the registry's token endpoint and
/// the registry itself (`paas_core::settings::BUILDER_ADDR`, `HTTP_ADDR`, `HTTPS_ADDR`,
/// `REGISTRY_GATEWAY_ADDR`, `REGISTRY_TOKEN_ADDR`, `REGISTRY_ADDR`).
pub const BUILDER_ADDR: &str = "PAAS_BUILDER_ADDR";
pub const HTTP_ADDR: &str = "PAAS_HTTP_ADDR";
pub const HTTPS_ADDR: &str = "PAAS_HTTPS_ADDR";
pub const REGISTRY_GATEWAY_ADDR: &str = "PAAS_REGISTRY_GATEWAY_ADDR";
pub const REGISTRY_TOKEN_ADDR: &str = "PAAS_REGISTRY_TOKEN_ADDR";
pub const REGISTRY_ADDR: &str = "PAAS_REGISTRY_ADDR";

/// Set for the git commands of `bench deploy`, which isolate git from the machine's and
/// the user's configuration: a temporary `HOME` (and `XDG_CONFIG_HOME` in it), no system
/// config, no credential prompts, a fixed author and committer.
pub const HOME: &str = "HOME";
pub const XDG_CONFIG_HOME: &str = "XDG_CONFIG_HOME";
pub const GIT_CONFIG_NOSYSTEM: &str = "GIT_CONFIG_NOSYSTEM";
pub const GIT_TERMINAL_PROMPT: &str = "GIT_TERMINAL_PROMPT";
pub const GIT_AUTHOR_NAME: &str = "GIT_AUTHOR_NAME";
pub const GIT_AUTHOR_EMAIL: &str = "GIT_AUTHOR_EMAIL";
pub const GIT_COMMITTER_NAME: &str = "GIT_COMMITTER_NAME";
pub const GIT_COMMITTER_EMAIL: &str = "GIT_COMMITTER_EMAIL";

/// Set to the loopback addresses for `bench deploy`'s `git push`, so that a proxy in
/// the environment does not take pushes to the local builder.
pub const NO_PROXY: &str = "NO_PROXY";
pub const NO_PROXY_LOWER: &str = "no_proxy";

/// Set to `0` for `bench deploy`'s `docker build`: the classic builder, which is what
/// the engine's build API runs for paas's builder too.
pub const DOCKER_BUILDKIT: &str = "DOCKER_BUILDKIT";

/// Set for the second `cargo test` run: the test helpers create and drop a fresh
/// database per test through this PostgreSQL URL. Unset, tests use SQLite.
pub const TEST_POSTGRES_URL: &str = "PAAS_TEST_POSTGRES_URL";

/// Set for the second `cargo test` run (PostgreSQL): how many deploys and config changes
/// the rollout load test makes under load. The first run makes the full 10; the
/// second, which shows the same on another store, fewer, to keep CI within its time.
pub const TEST_ROLLOUT_ROUNDS: &str = "PAAS_TEST_ROLLOUT_ROUNDS";
/// The rounds of the PostgreSQL run.
pub const TEST_ROLLOUT_ROUNDS_POSTGRES: &str = "3";

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
