//! `cargo xtask`: the project's chores, written in Rust so they run the same on every
//! machine.
//!
//! - `cargo xtask test` runs everything CI runs (`.ci/run` is a thin wrapper over it).
//! - `cargo xtask up` builds the platform and runs `paasd` in the foreground.
//! - `cargo xtask stack` makes the stack image (the base of buildpack builds) when
//!   missing.
//! - `cargo xtask bench api` measures the REST API on SQLite and PostgreSQL,
//!   `cargo xtask bench deploy` the seconds from `git push` to a live release beside
//!   `docker build` + `docker run`, and `cargo xtask bench rollout` the seconds for a
//!   zero-downtime release of a built image and for `scale web=10` beside the docker CLI
//!   by hand, and `cargo xtask bench dashboard` the dashboard's pages with 200 apps,
//!   and `cargo xtask bench router` the router beside nginx and HAProxy;
//!   each writes its section of `docs/benchmarks.md`.
//!
//! Arguments are parsed by hand: the commands are few and their flags simple. Each
//! command lives in its own module; `apt`, `postgres` and `process` are the shared
//! parts, and `env` names every variable xtask reads.

mod apt;
mod bench;
mod docker;
mod env;
mod postgres;
mod process;
mod stack;
mod test;
mod up;

use std::process::ExitCode;

use anyhow::bail;

const USAGE: &str = "\
usage: cargo xtask <command> [options]

commands:
  test [--no-lint] [--no-fuzz] [--sqlite-only] [-- <cargo test args>...]
        Everything CI runs, in order, stopping at the first failure: ensure Debian
        packages, cargo fmt --check, cargo clippy -D warnings, cargo build --bins,
        the stack image (as `stack`), cargo test on SQLite, then cargo test again on
        a private PostgreSQL. Both test runs get PAAS_TEST_STACK_IMAGE.
          --no-lint      skip cargo fmt and cargo clippy
          --no-fuzz      skip building and briefly running the fuzz targets
          --sqlite-only  skip the PostgreSQL test run
          -- <args>      passed to both cargo test runs (e.g. a test name filter)
  up    Install what is missing, make the stack image when missing, build paasd and
        paas in release mode, and run paasd in the foreground (PAAS_DATA_DIR defaults
        to <repo>/.paas).
  stack [--rebuild]
        Make the stack image, the Debian base buildpack builds run in, unless the
        image of the current recipe (stack/, see stack/README.md) exists; then check
        that it runs Python and makes a virtualenv, and print its tag.
          --rebuild      build it even when it exists
  bench api [--apps N] [--requests N]
        Build paasd in release mode and measure its REST API over loopback, on SQLite
        and then on a fresh database of the private PostgreSQL cluster: latency and
        throughput of GET /v1/apps and of config changes (sequential and from 8
        threads). Prints a table and rewrites the `## API` section of
        docs/benchmarks.md.
          --apps N       apps created before measuring (default 1000)
          --requests N   counted requests per measurement (default 500)
  bench deploy [--runs N]
        Build paasd, paas-router and paas in release mode, make the stack image when
        missing, run paasd with Docker on free ports, and time deploys of a small
        Python app: seconds from `git push` to the router's first 200 of the new
        release, cold (a new app) and warm (one line changed), for a Dockerfile app
        and a buildpack app (left out when buildpack builds fail), beside
        `docker build` + `docker run` of the same app. Removes the containers, images
        and network it made. Prints a table and rewrites the `## Deploy` section of
        docs/benchmarks.md.
          --runs N       counted rounds, after one warm-up round (default 5)
  bench dashboard [--apps N] [--requests N]
        Build paasd in release mode, run it without Docker on free ports, create the
        apps (each with a config var and web=1), sign into the dashboard with its form
        and time GET of the app list, one app's page and the audit log. Prints a table
        and rewrites the `## Dashboard` section of docs/benchmarks.md.
          --apps N       apps created before measuring (default 200)
          --requests N   counted requests per page (default 200)
  bench rollout [--runs N]
        Build as `bench deploy` does, run paasd with Docker on free ports and
        PAAS_DRAIN_SECONDS=2, push a small Dockerfile app once, then time: a config
        change and a rollback (releases of the same image) until the new release alone
        is routed, with the router polled throughout for failed requests, and scale
        web=1 -> 10 until all 10 are up and answer through the router (then back to
        1); beside a blue-green by hand (`docker run` of a second container, `docker
        rm -f` of the first) and 9 more `docker run`s. Removes the containers, images
        and network it made. Prints a table and rewrites the `## Rollout` section of
        docs/benchmarks.md.
          --runs N       counted rounds, after one warm-up round (default 5)
  bench router [--duration SECS] [--quick]
        Build paas-router in release mode and run it, nginx and HAProxy (installed
        when missing, with wrk and h2load) in front of one nginx backend, each proxy
        pinned to one CPU and the rest to another: keep-alive throughput (wrk),
        p50/p99 at a fixed rate (h2load --rps), full TLS handshakes per second
        (ECDSA P-256, no resumption) and 60 s of 10 route changes a second counting
        failed requests. Prints a table and rewrites the `## Router` section of
        docs/benchmarks.md.
          --duration SECS  seconds per measurement (default 20; reconfiguration: 60)
          --quick          a smoke run of a few seconds each; the document is kept
  postgres
        Ensure the private PostgreSQL test cluster runs and print its URL.
  help  Print this text.
";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("xtask: error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: &[String]) -> anyhow::Result<ExitCode> {
    let Some((command, rest)) = args.split_first() else {
        eprint!("{USAGE}");
        bail!("no command given");
    };
    match command.as_str() {
        "test" => test::run(test::Options::parse(rest)?)?,
        "bench" => bench::run(&bench::Options::parse(rest)?)?,
        "up" => {
            no_args(command, rest)?;
            return up::run();
        }
        "stack" => stack::run(&stack::Options::parse(rest)?)?,
        "postgres" => {
            no_args(command, rest)?;
            println!("{}", postgres::ensure_running()?);
        }
        "help" | "-h" | "--help" => print!("{USAGE}"),
        other => {
            eprint!("{USAGE}");
            bail!("unknown command `{other}`");
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Rejects arguments given to a command that takes none.
fn no_args(command: &str, rest: &[String]) -> anyhow::Result<()> {
    match rest.first() {
        None => Ok(()),
        Some(arg) => bail!("`{command}` takes no arguments, got `{arg}`; see `cargo xtask help`"),
    }
}
