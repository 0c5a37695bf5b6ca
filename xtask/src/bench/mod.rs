//! `cargo xtask bench`: the benchmarks, each writing its own `## ` section of
//! `docs/benchmarks.md`.
//!
//! - `api` (`api.rs`): latency and throughput of paasd's REST API, SQLite and
//!   PostgreSQL side by side.
//! - `deploy` (`deploy.rs`): seconds from `git push` to the first 200 of the new
//!   release, cold and warm, beside `docker build` + `docker run` of the same app.
//! - `rollout` (`rollout.rs`): seconds for a zero-downtime release of an already-built
//!   image (config change, rollback) and for `scale web=10` from 1, until healthy and
//!   routed, beside the same by hand with the docker CLI.
//! - `dashboard` (`dashboard.rs`): the time of the dashboard's pages with 200 apps.
//! - `router` (`router.rs`, `router/`): the router beside nginx and HAProxy: keep-alive
//!   throughput, latency at a fixed rate, full TLS handshakes, errors under route changes.
//!
//! What they share lives here and in these modules: `server.rs` starts a release-build
//! `paasd` on free loopback ports and talks to its API; `platform.rs` prepares the
//! machine, runs that paasd with the scheduler on and removes what a benchmark made on
//! the Docker engine; `git.rs` commits and pushes an app; `probe.rs` polls an app the
//! way traffic reaches it; `report.rs` describes the machine, formats numbers and
//! rewrites one section of the document. Run from `cargo xtask` (an
//! unoptimised build), every benchmark hands over to a release build of xtask first, so
//! that the client's own cost stays small.

mod api;
mod dashboard;
mod deploy;
mod git;
mod platform;
mod probe;
mod report;
mod rollout;
mod router;
mod server;

use std::net::TcpListener;
use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context};

use crate::process;

/// Which benchmark `cargo xtask bench` runs, with its flags.
#[derive(Debug)]
pub enum Options {
    /// `bench api ...`.
    Api(api::Options),
    /// `bench deploy ...`.
    Deploy(deploy::Options),
    /// `bench rollout ...`.
    Rollout(rollout::Options),
    /// `bench dashboard ...`.
    Dashboard(dashboard::Options),
    /// `bench router ...`.
    Router(router::Options),
}

impl Options {
    pub fn parse(args: &[String]) -> anyhow::Result<Self> {
        let Some((which, rest)) = args.split_first() else {
            bail!("`bench` needs a benchmark: `cargo xtask bench api`, `bench deploy`, `bench rollout`, `bench dashboard` or `bench router`");
        };
        match which.as_str() {
            "api" => Ok(Self::Api(api::Options::parse(rest)?)),
            "deploy" => Ok(Self::Deploy(deploy::Options::parse(rest)?)),
            "rollout" => Ok(Self::Rollout(rollout::Options::parse(rest)?)),
            "dashboard" => Ok(Self::Dashboard(dashboard::Options::parse(rest)?)),
            "router" => Ok(Self::Router(router::Options::parse(rest)?)),
            other => bail!(
                "unknown benchmark `{other}`; the benchmarks are `api`, `deploy`, `rollout`, `dashboard` and `router`"
            ),
        }
    }

    /// The arguments of `cargo xtask bench` that give these options.
    fn args(&self) -> Vec<String> {
        match self {
            Self::Api(options) => options.args(),
            Self::Deploy(options) => options.args(),
            Self::Rollout(options) => options.args(),
            Self::Dashboard(options) => options.args(),
            Self::Router(options) => options.args(),
        }
    }
}

pub fn run(options: &Options) -> anyhow::Result<()> {
    if cfg!(debug_assertions) {
        // `cargo xtask` builds xtask unoptimised, and an unoptimised HTTP client doubles
        // the measured latency of small requests: measure from a release build.
        eprintln!("xtask: running the benchmark from a release build of xtask");
        return process::run(
            process::cargo()
                .args(["run", "--release", "--quiet", "-p", "xtask", "--", "bench"])
                .args(options.args()),
        );
    }
    match options {
        Options::Api(options) => api::run(options),
        Options::Deploy(options) => deploy::run(options),
        Options::Rollout(options) => rollout::run(options),
        Options::Dashboard(options) => dashboard::run(options),
        Options::Router(options) => router::run(options),
    }
}

/// Parses the `--flag N` options of `bench <bench>` into the counts `flags` names; an
/// option it does not name is an error.
fn parse_counts(bench: &str, args: &[String], flags: &mut [(&str, &mut usize)]) -> anyhow::Result<()> {
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        let Some((_, target)) = flags.iter_mut().find(|(flag, _)| flag == arg) else {
            let known: Vec<String> = flags.iter().map(|(flag, _)| format!("{flag} N")).collect();
            bail!("unknown option `{arg}` for `bench {bench}`; it takes {}", known.join(" and "));
        };
        **target = count(arg, args.next())?;
    }
    Ok(())
}

/// The number given to a `--flag N` option: at least 1.
fn count(flag: &str, value: Option<&String>) -> anyhow::Result<usize> {
    let value = value.with_context(|| format!("`{flag}` needs a number"))?;
    value
        .parse()
        .ok()
        .filter(|n| *n >= 1)
        .with_context(|| format!("`{flag}` needs a positive number, got `{value}`"))
}

/// `n` distinct TCP ports on loopback, free when asked (a program binds them a moment
/// later): all are held until all are found, so none is handed out twice.
fn free_ports(n: usize) -> anyhow::Result<Vec<u16>> {
    let listeners = (0..n)
        .map(|_| TcpListener::bind("127.0.0.1:0").context("could not find a free port"))
        .collect::<anyhow::Result<Vec<_>>>()?;
    listeners.iter().map(|l| Ok(l.local_addr()?.port())).collect()
}

/// One free TCP port on loopback.
fn free_port() -> anyhow::Result<u16> {
    Ok(free_ports(1)?[0])
}

/// A fresh directory under the system's temporary directory, removed when dropped.
struct TempDir {
    path: PathBuf,
}

impl TempDir {
    fn create() -> anyhow::Result<Self> {
        let path = std::env::temp_dir().join(format!("paas-bench-{}", unique_suffix()));
        std::fs::create_dir(&path).with_context(|| format!("could not create {}", path.display()))?;
        Ok(Self { path })
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if let Err(err) = std::fs::remove_dir_all(&self.path) {
            eprintln!("xtask: warning: could not remove {}: {err}", self.path.display());
        }
    }
}

/// Lowercase hex unique to this run: the process id and the clock.
fn unique_suffix() -> String {
    let mut rng = Rng::seeded();
    format!("{:x}_{:08x}", std::process::id(), rng.next() & 0xffff_ffff)
}

/// xorshift64*: random enough to pick apps, with no crate.
struct Rng(u64);

impl Rng {
    /// Seeded from the clock and a counter, so threads started together differ.
    fn seeded() -> Self {
        use std::sync::atomic::{AtomicU64, Ordering};
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let nanos = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_nanos();
        #[allow(clippy::cast_possible_truncation)]
        let seed =
            (nanos as u64) ^ COUNTER.fetch_add(1, Ordering::Relaxed).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        Self(seed | 1)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A number in `0..n`.
    fn below(&mut self, n: usize) -> usize {
        #[allow(clippy::cast_possible_truncation)]
        let pick = (self.next() % n as u64) as usize;
        pick
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_owned).collect()
    }

    #[test]
    fn counts_are_parsed_and_an_unknown_flag_names_the_known_ones() {
        let (mut apps, mut requests) = (1, 2);
        let mut flags = [("--apps", &mut apps), ("--requests", &mut requests)];
        parse_counts("api", &args("--requests 7 --apps 3"), &mut flags).unwrap();
        assert_eq!((apps, requests), (3, 7));
        let mut flags = [("--runs", &mut apps)];
        let refused = parse_counts("deploy", &args("--fast"), &mut flags).unwrap_err().to_string();
        assert_eq!(refused, "unknown option `--fast` for `bench deploy`; it takes --runs N");
    }

    #[test]
    fn parses_the_benchmark_and_gives_its_arguments_back() {
        for line in ["api --apps 10 --requests 20", "deploy --runs 3", "rollout --runs 2"] {
            assert_eq!(Options::parse(&args(line)).unwrap().args(), args(line));
        }
        assert!(matches!(Options::parse(&args("api")), Ok(Options::Api(_))));
        assert!(matches!(Options::parse(&args("deploy")), Ok(Options::Deploy(_))));
        assert!(matches!(Options::parse(&args("rollout")), Ok(Options::Rollout(_))));
        assert!(Options::parse(&args("db")).is_err());
        assert!(Options::parse(&[]).is_err());
    }

    #[test]
    fn free_ports_are_distinct() {
        let mut ports = free_ports(6).unwrap();
        ports.sort_unstable();
        ports.dedup();
        assert_eq!(ports.len(), 6);
    }
}
