//! `cargo xtask bench api`: latency and throughput of paasd's REST API, on SQLite and
//! on PostgreSQL side by side.
//!
//! It builds `paasd` (and the router it starts) in release mode; then, for each
//! database, it starts `target/release/paasd` with the scheduler off (the API alone) on
//! free loopback ports with a fresh data directory (and, for PostgreSQL, a fresh
//! database on the private test cluster), registers an admin, creates the apps
//! (several client threads; not measured), then measures:
//!
//! - `GET /v1/apps`, which answers with every app, sequentially on one kept-alive
//!   connection;
//! - `PATCH /v1/apps/{app}/config` on random apps (each makes a release), likewise;
//! - the same `PATCH` from [`CONCURRENCY`] client threads, one connection each.
//!
//! Every measurement starts with [`WARMUP`] requests that are not counted. Latency is
//! the client's time from sending a request to having read its whole answer;
//! percentiles are nearest-rank over the sorted samples. The results are printed and
//! written to the `## API` section of `docs/benchmarks.md`; other sections are kept.

use std::fmt::Write as _;
use std::path::Path;
use std::sync::Barrier;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context};
use reqwest::blocking::Client;
use reqwest::Method;
use serde_json::json;

use super::report::{self, Machine};
use super::server::{self, Api, Paasd};
use super::{Rng, TempDir};
use crate::{apt, env, postgres, process};

/// Apps created before measuring, by default.
const DEFAULT_APPS: usize = 1000;
/// Counted requests per measurement, by default.
const DEFAULT_REQUESTS: usize = 500;
/// Requests sent before each measurement and not counted.
const WARMUP: usize = 50;
/// Client threads of the concurrent measurement.
const CONCURRENCY: usize = 8;
/// Client threads that create the apps.
const SETUP_THREADS: usize = 4;
/// The heading of the section of `docs/benchmarks.md` the results replace.
const HEADING: &str = "## API";

/// The flags of `cargo xtask bench api`.
#[derive(Debug)]
pub struct Options {
    /// `--apps N`: apps created before measuring.
    apps: usize,
    /// `--requests N`: counted requests per measurement.
    requests: usize,
}

impl Options {
    /// Parses the arguments after `bench api`.
    pub fn parse(args: &[String]) -> anyhow::Result<Self> {
        let mut options = Self { apps: DEFAULT_APPS, requests: DEFAULT_REQUESTS };
        super::parse_counts(
            "api",
            args,
            &mut [("--apps", &mut options.apps), ("--requests", &mut options.requests)],
        )?;
        if options.requests < CONCURRENCY {
            bail!("`--requests` must be at least {CONCURRENCY} (one per client thread)");
        }
        Ok(options)
    }

    /// The arguments of `cargo xtask bench` that give these options.
    pub fn args(&self) -> Vec<String> {
        let words = ["api", "--apps", &self.apps.to_string(), "--requests", &self.requests.to_string()];
        words.map(str::to_owned).to_vec()
    }
}

pub fn run(options: &Options) -> anyhow::Result<()> {
    let root = process::repo_root();
    apt::ensure_packages(apt::BUILD_PACKAGES)?;
    // paasd starts the router next to it, whatever else it runs.
    process::run(process::cargo().args(["build", "--release", "-p", "paasd", "-p", "paas-router"]))?;
    let load = report::load_average();
    let paasd = root.join("target/release/paasd");

    let sqlite = bench_backend(&paasd, None, options).context("benchmark on SQLite failed")?;

    postgres::ensure_running()?;
    let pg_version = postgres::psql("SHOW server_version")?;
    let database = PgDatabase::create()?;
    let postgres = bench_backend(&paasd, Some(&postgres::database_url(&database.name)), options)
        .context("benchmark on PostgreSQL failed")?;
    drop(database);

    let report = Report { options, machine: Machine::read(load), pg_version, sqlite, postgres };
    println!();
    print!("{}", report.terminal_table());
    report::write_section(HEADING, &report.doc_section())
}

/// What one database's run measured.
struct Results {
    /// Time to create the apps (not a measurement; shown to spot regressions).
    setup: Duration,
    /// Size of one `GET /v1/apps` answer.
    list_bytes: usize,
    list: Stats,
    config_set: Stats,
    config_set_concurrent: Stats,
}

/// Starts paasd on `database_url` (SQLite in its data dir when `None`), fills it and
/// measures it.
fn bench_backend(paasd: &Path, database_url: Option<&str>, options: &Options) -> anyhow::Result<Results> {
    let name = if database_url.is_some() { "PostgreSQL" } else { "SQLite" };
    eprintln!("\nxtask: ==> bench api on {name}");
    let dir = TempDir::create()?;
    let server = Paasd::start(paasd, &dir.path.join("data"), |cmd| {
        cmd.env(env::DOCKER, "off");
        match database_url {
            Some(url) => cmd.env(env::DATABASE_URL, url),
            None => cmd.env_remove(env::DATABASE_URL),
        };
    })?;
    let client = server::client()?;
    let api = server.sign_in(&client)?;

    let started = Instant::now();
    create_apps(&api, options.apps)?;
    let setup = started.elapsed();
    eprintln!("xtask: created {} apps in {:.1}s", options.apps, setup.as_secs_f64());

    let listed = api.send(&client, Method::GET, "/v1/apps", None)?;
    let count = serde_json::from_slice::<serde_json::Value>(&listed)?.as_array().map_or(0, Vec::len);
    if count != options.apps {
        bail!("GET /v1/apps listed {count} apps, expected {}", options.apps);
    }

    let mut rng = Rng::seeded();
    eprintln!("xtask: GET /v1/apps x {} (+{WARMUP} warm-up)", options.requests);
    let list = measure(options.requests, || api.send(&client, Method::GET, "/v1/apps", None).map(drop))?;
    eprintln!("xtask: PATCH config x {} (+{WARMUP} warm-up)", options.requests);
    let mut n = 0;
    let config_set = measure(options.requests, || {
        n += 1;
        config_set(&api, &client, rng.below(options.apps), n)
    })?;
    eprintln!("xtask: PATCH config x {} from {CONCURRENCY} threads (+{WARMUP} warm-up)", options.requests);
    let config_set_concurrent = measure_concurrent(&api, options)?;

    server.stop()?;
    drop(dir);
    Ok(Results { setup, list_bytes: listed.len(), list, config_set, config_set_concurrent })
}

/// Creates `app-0001` … `app-N` from [`SETUP_THREADS`] threads.
fn create_apps(api: &Api, apps: usize) -> anyhow::Result<()> {
    std::thread::scope(|scope| {
        let workers: Vec<_> = (0..SETUP_THREADS)
            .map(|worker| {
                scope.spawn(move || -> anyhow::Result<()> {
                    let client = server::client()?;
                    for i in (worker..apps).step_by(SETUP_THREADS) {
                        let body = json!({ "name": app_name(i) });
                        api.send(&client, Method::POST, "/v1/apps", Some(body))?;
                    }
                    Ok(())
                })
            })
            .collect();
        workers.into_iter().try_for_each(|w| w.join().map_err(|_| anyhow!("a setup thread panicked"))?)
    })
}

/// The name of the `i`th app (from 0): `app-0001`.
fn app_name(i: usize) -> String {
    format!("app-{:04}", i + 1)
}

/// One `PATCH /v1/apps/{app}/config` setting `BENCH` to a new value.
fn config_set(api: &Api, client: &Client, app: usize, n: usize) -> anyhow::Result<()> {
    let path = format!("/v1/apps/{}/config", app_name(app));
    let body = json!({ "values": { "BENCH": format!("value-{n}") } });
    api.send(client, Method::PATCH, &path, Some(body)).map(drop)
}

/// Runs `request` [`WARMUP`] times, then `count` times, timing each.
fn measure(count: usize, mut request: impl FnMut() -> anyhow::Result<()>) -> anyhow::Result<Stats> {
    for _ in 0..WARMUP {
        request()?;
    }
    let mut samples = Vec::with_capacity(count);
    let started = Instant::now();
    for _ in 0..count {
        let start = Instant::now();
        request()?;
        samples.push(start.elapsed());
    }
    Ok(Stats::new(samples, started.elapsed()))
}

/// `PATCH config` on random apps from [`CONCURRENCY`] threads, each with its own
/// connection; the [`WARMUP`] and counted requests are shared out among them, and the
/// clock starts when every thread has warmed up.
fn measure_concurrent(api: &Api, options: &Options) -> anyhow::Result<Stats> {
    let share = |total: usize, thread: usize| total / CONCURRENCY + usize::from(thread < total % CONCURRENCY);
    let ready = Barrier::new(CONCURRENCY + 1);
    let done = Barrier::new(CONCURRENCY + 1);
    std::thread::scope(|scope| {
        let ready = &ready;
        let done = &done;
        let workers: Vec<_> = (0..CONCURRENCY)
            .map(|thread| {
                scope.spawn(move || -> anyhow::Result<Vec<Duration>> {
                    // Reach both barriers whatever happens, or the main thread waits forever.
                    let prepared = server::client().and_then(|client| {
                        let mut rng = Rng::seeded();
                        for n in 0..share(WARMUP, thread) {
                            config_set(api, &client, rng.below(options.apps), n)?;
                        }
                        Ok((client, rng))
                    });
                    ready.wait();
                    let result = prepared.and_then(|(client, mut rng)| {
                        let count = share(options.requests, thread);
                        let mut samples = Vec::with_capacity(count);
                        for n in 0..count {
                            let start = Instant::now();
                            config_set(api, &client, rng.below(options.apps), n)?;
                            samples.push(start.elapsed());
                        }
                        Ok(samples)
                    });
                    done.wait();
                    result
                })
            })
            .collect();
        ready.wait();
        let started = Instant::now();
        done.wait();
        let elapsed = started.elapsed();
        let mut samples = Vec::with_capacity(options.requests);
        for worker in workers {
            samples.extend(worker.join().map_err(|_| anyhow!("a client thread panicked"))??);
        }
        Ok(Stats::new(samples, elapsed))
    })
}

/// Latency samples of one measurement and its wall time.
struct Stats {
    /// Sorted, shortest first.
    samples: Vec<Duration>,
    elapsed: Duration,
}

impl Stats {
    fn new(mut samples: Vec<Duration>, elapsed: Duration) -> Self {
        samples.sort_unstable();
        Self { samples, elapsed }
    }

    /// The nearest-rank percentile `p` (0 < p ≤ 100).
    fn percentile(&self, p: f64) -> Duration {
        let n = self.samples.len();
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss, clippy::cast_precision_loss)]
        let rank = ((p / 100.0 * n as f64).ceil() as usize).clamp(1, n);
        self.samples[rank - 1]
    }

    fn max(&self) -> Duration {
        self.samples.last().copied().unwrap_or_default()
    }

    #[allow(clippy::cast_precision_loss)]
    fn per_second(&self) -> f64 {
        self.samples.len() as f64 / self.elapsed.as_secs_f64()
    }
}

/// A fresh database `paas_bench_<random>` on the test cluster, dropped when dropped.
struct PgDatabase {
    name: String,
}

impl PgDatabase {
    fn create() -> anyhow::Result<Self> {
        let name = format!("paas_bench_{}", super::unique_suffix());
        postgres::psql(&format!("CREATE DATABASE {name}"))?;
        eprintln!("xtask: created the database {name}");
        Ok(Self { name })
    }
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        match postgres::psql(&format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name)) {
            Ok(_) => eprintln!("xtask: dropped the database {}", self.name),
            Err(err) => eprintln!("xtask: warning: could not drop the database {}: {err:#}", self.name),
        }
    }
}

/// Everything the table and the document show.
struct Report<'a> {
    options: &'a Options,
    machine: Machine,
    /// `SHOW server_version` of the test cluster.
    pg_version: String,
    sqlite: Results,
    postgres: Results,
}

/// One row: a measurement, a metric, and the two values.
struct Row {
    measurement: String,
    metric: &'static str,
    sqlite: f64,
    postgres: f64,
    unit: &'static str,
}

impl Report<'_> {
    fn rows(&self) -> Vec<Row> {
        let mut rows = Vec::new();
        let list = format!("GET /v1/apps ({} apps)", self.options.apps);
        let seq = "PATCH config, sequential".to_owned();
        let conc = format!("PATCH config, {CONCURRENCY} threads");
        type Pick = fn(&Results) -> &Stats;
        let measurements: [(String, Pick); 3] =
            [(list, |r| &r.list), (seq, |r| &r.config_set), (conc, |r| &r.config_set_concurrent)];
        for (measurement, pick) in measurements {
            let (s, p) = (pick(&self.sqlite), pick(&self.postgres));
            let ms = |d: Duration| d.as_secs_f64() * 1000.0;
            for (metric, sqlite, postgres, unit) in [
                ("p50", ms(s.percentile(50.0)), ms(p.percentile(50.0)), "ms"),
                ("p99", ms(s.percentile(99.0)), ms(p.percentile(99.0)), "ms"),
                ("max", ms(s.max()), ms(p.max()), "ms"),
                ("throughput", s.per_second(), p.per_second(), "req/s"),
            ] {
                rows.push(Row { measurement: measurement.clone(), metric, sqlite, postgres, unit });
            }
        }
        rows
    }

    fn terminal_table(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "{:<28} {:<10} {:>14} {:>14} {:>8}",
            "measurement", "metric", "SQLite", "PostgreSQL", "PG/SQLite"
        );
        for row in self.rows() {
            let _ = writeln!(
                out,
                "{:<28} {:<10} {:>14} {:>14} {:>8}",
                row.measurement,
                row.metric,
                value(row.sqlite, row.unit),
                value(row.postgres, row.unit),
                ratio(row.postgres, row.sqlite),
            );
        }
        let _ = writeln!(
            out,
            "(setup, not measured: {} apps created in {:.1}s on SQLite, {:.1}s on PostgreSQL)",
            self.options.apps,
            self.sqlite.setup.as_secs_f64(),
            self.postgres.setup.as_secs_f64()
        );
        out
    }

    fn doc_section(&self) -> String {
        let m = &self.machine;
        let o = self.options;
        let mut out = String::new();
        let _ = writeln!(out, "{HEADING}\n");
        out.push_str(&m.markdown("cargo xtask bench api"));
        let _ = writeln!(
            out,
            "- PostgreSQL {} (the xtask test cluster); SQLite as bundled with sqlx\n",
            self.pg_version
        );
        let _ = writeln!(out, "### Method\n");
        let _ = writeln!(
            out,
            "For each database, `paasd` (release build) starts with `PAAS_DOCKER=off` (the API \
             alone: no scheduler, builds or registry) on free loopback ports with a fresh data \
             directory: SQLite is the default file in the data directory (WAL, \
             `synchronous = FULL`); PostgreSQL is a fresh database on the xtask test cluster \
             (127.0.0.1:{}), dropped afterwards. The benchmark registers an admin, logs in, and \
             creates {} apps from {SETUP_THREADS} client threads (not measured: {:.1}s on SQLite, \
             {:.1}s on PostgreSQL). The client (xtask, release build, reqwest blocking) runs on the \
             same machine, sharing its CPUs with paasd, and talks to it over loopback. Then:\n",
            postgres::PORT,
            o.apps,
            self.sqlite.setup.as_secs_f64(),
            self.postgres.setup.as_secs_f64(),
        );
        let _ = writeln!(
            out,
            "1. **GET /v1/apps**: the admin lists every app ({} apps, {} KiB of JSON per answer, \
             uncompressed: the client does not ask for gzip); sequential requests on one \
             kept-alive connection.",
            o.apps,
            self.sqlite.list_bytes / 1024
        );
        let _ = writeln!(
            out,
            "2. **PATCH config, sequential**: `PATCH /v1/apps/{{app}}/config` setting one var on \
             an app picked at random; each makes a new release (a write transaction). Sequential \
             requests on one kept-alive connection."
        );
        let _ = writeln!(
            out,
            "3. **PATCH config, {CONCURRENCY} threads**: the same request from {CONCURRENCY} client \
             threads at once, each with its own kept-alive connection; throughput is all counted \
             requests over the wall time from the moment every thread has warmed up to the moment \
             the last one is done.\n"
        );
        let _ = writeln!(
            out,
            "Each measurement first sends {WARMUP} warm-up requests that are not counted, then \
             {} counted requests (in the concurrent run shared out among the threads). Latency is \
             the client's time from sending a request to having read the whole answer; p50 and \
             p99 are nearest-rank percentiles of the sorted samples; throughput is counted \
             requests per second of wall time. Any answer other than 2xx aborts the run. With {} \
             samples, p99 is decided by the {} slowest requests, so p99 and max move from run to \
             run more than p50 and throughput do: compare those first.\n",
            o.requests,
            o.requests,
            o.requests - (99 * o.requests).div_ceil(100) + 1,
        );
        let _ = writeln!(
            out,
            "**PostgreSQL's write numbers are optimistic.** The xtask test cluster runs with \
             `fsync=off`, `synchronous_commit=off` and `full_page_writes=off`, so its commits \
             never wait for the disk, while SQLite runs with `synchronous = FULL` and does. A \
             PostgreSQL configured for durability pays a WAL flush per commit, which the PATCH \
             rows do not include here. The read row (GET) is comparable.\n"
        );
        let _ = writeln!(out, "### Results\n");
        let _ = writeln!(
            out,
            "Latencies in milliseconds (lower is better), throughput in requests per second \
             (higher is better). PostgreSQL/SQLite above 1 means PostgreSQL took longer (latency) \
             or served more (throughput).\n"
        );
        let _ = writeln!(out, "| Measurement | Metric | SQLite | PostgreSQL | PostgreSQL/SQLite |");
        let _ = writeln!(out, "|---|---|---:|---:|---:|");
        for row in self.rows() {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} |",
                row.measurement,
                row.metric,
                value(row.sqlite, row.unit),
                value(row.postgres, row.unit),
                ratio(row.postgres, row.sqlite),
            );
        }
        out
    }
}

/// `3.21 ms`, `1234 req/s`.
fn value(v: f64, unit: &str) -> String {
    if unit == "ms" {
        format!("{v:.2} ms")
    } else {
        format!("{v:.0} {unit}")
    }
}

fn ratio(postgres: f64, sqlite: f64) -> String {
    if sqlite > 0.0 {
        format!("{:.2}", postgres / sqlite)
    } else {
        "n/a".to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let samples = (1..=100).rev().map(Duration::from_millis).collect();
        let stats = Stats::new(samples, Duration::from_secs(1));
        assert_eq!(stats.percentile(50.0), Duration::from_millis(50));
        assert_eq!(stats.percentile(99.0), Duration::from_millis(99));
        assert_eq!(stats.max(), Duration::from_millis(100));
        assert!((stats.per_second() - 100.0).abs() < 1e-9);
    }

    #[test]
    fn parses_options() {
        let args = |s: &str| s.split_whitespace().map(str::to_owned).collect::<Vec<_>>();
        let o = Options::parse(&[]).unwrap();
        assert_eq!((o.apps, o.requests), (DEFAULT_APPS, DEFAULT_REQUESTS));
        let o = Options::parse(&args("--apps 10 --requests 20")).unwrap();
        assert_eq!((o.apps, o.requests), (10, 20));
        assert!(Options::parse(&args("--runs 3")).is_err());
        assert!(Options::parse(&args("--apps 0")).is_err());
        assert!(Options::parse(&args("--requests")).is_err());
        assert!(Options::parse(&args("--requests 7")).is_err());
    }
}
