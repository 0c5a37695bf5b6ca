//! `cargo xtask bench api`: latency and throughput of paasd's REST API, on SQLite and
//! on PostgreSQL side by side.
//!
//! Run from `cargo xtask` (an unoptimised build), it hands over to a release build of
//! xtask, so that the client's own cost stays small. It builds `paasd` in release mode;
//! then, for each database, it starts `target/release/paasd` on a free loopback port
//! with a fresh data directory (and, for PostgreSQL, a fresh database on the private
//! test cluster), registers an admin, creates the apps (several client threads; not
//! measured), then measures:
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
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::Barrier;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{anyhow, bail, Context};
use reqwest::blocking::Client;
use reqwest::Method;
use serde_json::json;

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
/// The admin the benchmark registers.
const USERNAME: &str = "bench";
const PASSWORD: &str = "bench-password";
/// The document whose `## API` section the results replace.
const DOC: &str = "docs/benchmarks.md";
/// The heading of that section.
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
    pub fn parse(args: &[String]) -> anyhow::Result<Self> {
        let mut args = args.iter();
        match args.next().map(String::as_str) {
            Some("api") => {}
            Some(other) => bail!("unknown benchmark `{other}`; the one benchmark is `api`"),
            None => bail!("`bench` needs a benchmark: `cargo xtask bench api`"),
        }
        let mut options = Self { apps: DEFAULT_APPS, requests: DEFAULT_REQUESTS };
        while let Some(arg) = args.next() {
            let target = match arg.as_str() {
                "--apps" => &mut options.apps,
                "--requests" => &mut options.requests,
                other => bail!("unknown option `{other}` for `bench api`; see `cargo xtask help`"),
            };
            let value = args.next().with_context(|| format!("`{arg}` needs a number"))?;
            *target = value
                .parse()
                .ok()
                .filter(|n| *n >= 1)
                .with_context(|| format!("`{arg}` needs a positive number, got `{value}`"))?;
        }
        if options.requests < CONCURRENCY {
            bail!("`--requests` must be at least {CONCURRENCY} (one per client thread)");
        }
        Ok(options)
    }
}

pub fn run(options: &Options) -> anyhow::Result<()> {
    if cfg!(debug_assertions) {
        // `cargo xtask` builds xtask unoptimised, and an unoptimised HTTP client doubles
        // the measured latency of the small requests: measure from a release build.
        eprintln!("xtask: running the benchmark from a release build of xtask");
        let (apps, requests) = (options.apps.to_string(), options.requests.to_string());
        return process::run(
            process::cargo().args(["run", "--release", "--quiet", "-p", "xtask", "--"]).args([
                "bench",
                "api",
                "--apps",
                &apps,
                "--requests",
                &requests,
            ]),
        );
    }
    let root = process::repo_root();
    apt::ensure_packages(apt::BUILD_PACKAGES)?;
    process::run(process::cargo().args(["build", "--release", "-p", "paasd"]))?;
    let load = load_average();
    let paasd = root.join("target/release/paasd");

    let sqlite = bench_backend(&paasd, None, options).context("benchmark on SQLite failed")?;

    postgres::ensure_running()?;
    let pg_version = postgres::psql("SHOW server_version")?;
    let database = PgDatabase::create()?;
    let postgres = bench_backend(&paasd, Some(&postgres::database_url(&database.name)), options)
        .context("benchmark on PostgreSQL failed")?;
    drop(database);

    let report = Report { options, machine: Machine::read(pg_version, load), sqlite, postgres };
    println!();
    print!("{}", report.terminal_table());
    let path = root.join(DOC);
    let existing = match std::fs::read_to_string(&path) {
        Ok(text) => Some(text),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => None,
        Err(err) => return Err(err).with_context(|| format!("could not read {}", path.display())),
    };
    let text = match existing {
        Some(text) => replace_section(&text, &report.doc_section()),
        None => format!("{}\n{}", DOC_INTRO, report.doc_section()),
    };
    std::fs::write(&path, text).with_context(|| format!("could not write {}", path.display()))?;
    eprintln!("\nxtask: wrote the `{HEADING}` section of {DOC}");
    Ok(())
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
    let server = Paasd::start(paasd, &dir.path.join("data"), database_url)?;
    let base = server.base.clone();

    let client = client()?;
    call(&client, Method::POST, &format!("{base}/v1/auth/register"), Some(credentials()))
        .context("could not register the admin")?;
    let session = call(&client, Method::POST, &format!("{base}/v1/auth/login"), Some(credentials()))
        .context("could not log in")?;
    let session: serde_json::Value = serde_json::from_slice(&session)?;
    let token = session["token"].as_str().context("the login answer has no `token`")?.to_owned();
    let api = Api { base, token };

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
                    let client = client()?;
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
                    let prepared = client().and_then(|client| {
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

/// The API of one running paasd, signed in as the admin.
struct Api {
    base: String,
    token: String,
}

impl Api {
    /// Sends one authenticated request and reads the whole answer; fails unless 2xx.
    fn send(
        &self,
        client: &Client,
        method: Method,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> anyhow::Result<Vec<u8>> {
        let mut request =
            client.request(method.clone(), format!("{}{path}", self.base)).bearer_auth(&self.token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        finish(&method, path, request.send())
    }
}

/// An HTTP client: one kept-alive connection for sequential requests, no proxy.
fn client() -> anyhow::Result<Client> {
    Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(120))
        .build()
        .context("could not build the HTTP client")
}

fn credentials() -> serde_json::Value {
    json!({ "username": USERNAME, "password": PASSWORD })
}

/// Sends one unauthenticated request; fails unless 2xx.
fn call(
    client: &Client,
    method: Method,
    url: &str,
    body: Option<serde_json::Value>,
) -> anyhow::Result<Vec<u8>> {
    let mut request = client.request(method.clone(), url);
    if let Some(body) = body {
        request = request.json(&body);
    }
    finish(&method, url, request.send())
}

/// The body of a 2xx answer; anything else is an error with the status and body.
fn finish(
    method: &Method,
    what: &str,
    sent: reqwest::Result<reqwest::blocking::Response>,
) -> anyhow::Result<Vec<u8>> {
    let response = sent.with_context(|| format!("{method} {what} failed"))?;
    let status = response.status();
    let body = response.bytes().with_context(|| format!("{method} {what}: could not read the answer"))?;
    if !status.is_success() {
        bail!("{method} {what} answered {status}: {}", String::from_utf8_lossy(&body));
    }
    Ok(body.to_vec())
}

/// A running `paasd`, stopped with SIGTERM when dropped.
struct Paasd {
    child: Option<Child>,
    /// `http://127.0.0.1:PORT`.
    base: String,
}

impl Paasd {
    /// Starts paasd with its state in `data_dir` and waits until `/readyz` answers 200.
    fn start(program: &Path, data_dir: &Path, database_url: Option<&str>) -> anyhow::Result<Self> {
        let port = free_port()?;
        let addr = format!("127.0.0.1:{port}");
        let mut cmd = Command::new(program);
        cmd.env(env::API_ADDR, &addr).env(env::DATA_DIR, data_dir).env(env::LOG, "warn");
        match database_url {
            Some(url) => cmd.env(env::DATABASE_URL, url),
            None => cmd.env_remove(env::DATABASE_URL),
        };
        eprintln!("xtask: starting {} on {addr}", program.display());
        let child = cmd.spawn().with_context(|| format!("could not start {}", program.display()))?;
        let mut server = Self { child: Some(child), base: format!("http://{addr}") };
        server.wait_ready()?;
        Ok(server)
    }

    fn wait_ready(&mut self) -> anyhow::Result<()> {
        let client = Client::builder().no_proxy().timeout(Duration::from_secs(2)).build()?;
        let url = format!("{}/readyz", self.base);
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(child) = &mut self.child {
                if let Some(status) = child.try_wait()? {
                    self.child = None;
                    bail!("paasd exited before it was ready ({status})");
                }
            }
            if client.get(&url).send().is_ok_and(|r| r.status().is_success()) {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!("paasd did not answer 200 on {url} within 60s");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Sends SIGTERM and waits for paasd to exit (killing it after 15s).
    fn stop(mut self) -> anyhow::Result<()> {
        self.terminate()
    }

    fn terminate(&mut self) -> anyhow::Result<()> {
        let Some(mut child) = self.child.take() else { return Ok(()) };
        let _ = process::output(Command::new("kill").args(["-TERM", &child.id().to_string()]));
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Some(status) = child.try_wait()? {
                if !status.success() {
                    eprintln!("xtask: warning: paasd exited with {status} after SIGTERM");
                }
                return Ok(());
            }
            if Instant::now() > deadline {
                child.kill()?;
                child.wait()?;
                bail!("paasd did not exit within 15s of SIGTERM; killed it");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Paasd {
    fn drop(&mut self) {
        if let Err(err) = self.terminate() {
            eprintln!("xtask: warning: {err:#}");
        }
    }
}

/// A free TCP port on loopback (free when asked; paasd binds it a moment later).
fn free_port() -> anyhow::Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0").context("could not find a free port")?;
    Ok(listener.local_addr()?.port())
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

/// A fresh database `paas_bench_<random>` on the test cluster, dropped when dropped.
struct PgDatabase {
    name: String,
}

impl PgDatabase {
    fn create() -> anyhow::Result<Self> {
        let name = format!("paas_bench_{}", unique_suffix());
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

/// Where the numbers were taken.
struct Machine {
    date: String,
    cpus: String,
    cpu_model: String,
    memory: String,
    kernel: String,
    commit: String,
    postgres: String,
    /// The 1-, 5- and 15-minute load averages before the first measurement.
    load: String,
}

impl Machine {
    fn read(postgres: String, load: String) -> Self {
        let command = |program: &str, args: &[&str]| {
            process::read(Command::new(program).args(args))
                .map(|out| out.trim().to_owned())
                .unwrap_or_else(|_| "unknown".to_owned())
        };
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu_model = proc_field(&cpuinfo, "model name").unwrap_or("unknown").to_owned();
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        let memory = proc_field(&meminfo, "MemTotal")
            .and_then(|v| v.trim_end_matches("kB").trim().parse::<u64>().ok())
            .map_or_else(|| "unknown".to_owned(), |kib| format!("{:.1} GiB", kib as f64 / 1024.0 / 1024.0));
        let root = process::repo_root();
        let root = root.to_string_lossy();
        let mut commit = command("git", &["-C", &root, "rev-parse", "--short", "HEAD"]);
        if !command("git", &["-C", &root, "status", "--porcelain"]).is_empty() {
            commit.push_str(" (with uncommitted changes)");
        }
        Self {
            date: command("date", &["-u", "+%Y-%m-%d %H:%M UTC"]),
            cpus: command("nproc", &[]),
            cpu_model,
            memory,
            kernel: command("uname", &["-r"]),
            commit,
            postgres,
            load,
        }
    }
}

/// The 1-, 5- and 15-minute load averages: other work on the machine skews the numbers.
fn load_average() -> String {
    let loadavg = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let fields: Vec<&str> = loadavg.split_whitespace().take(3).collect();
    if fields.len() == 3 {
        fields.join(", ")
    } else {
        "unknown".to_owned()
    }
}

/// The value of the first `name: value` line of a `/proc` file.
fn proc_field<'a>(text: &'a str, name: &str) -> Option<&'a str> {
    text.lines().find_map(|line| {
        let (key, value) = line.split_once(':')?;
        (key.trim() == name).then(|| value.trim())
    })
}

/// Everything the table and the document show.
struct Report<'a> {
    options: &'a Options,
    machine: Machine,
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
        let _ =
            writeln!(out, "Measured on {} with `cargo xtask bench api` at commit {}.\n", m.date, m.commit);
        let _ = writeln!(out, "### Machine\n");
        let _ = writeln!(out, "- CPU: {} ({} CPUs as `nproc` counts them)", m.cpu_model, m.cpus);
        let _ = writeln!(out, "- Memory: {}", m.memory);
        let _ = writeln!(out, "- Kernel: Linux {}", m.kernel);
        let _ = writeln!(
            out,
            "- Load average before measuring (1, 5, 15 min): {} (other work on the machine skews \
             the numbers)",
            m.load
        );
        let _ = writeln!(
            out,
            "- PostgreSQL {} (the xtask test cluster); SQLite as bundled with sqlx\n",
            m.postgres
        );
        let _ = writeln!(out, "### Method\n");
        let _ = writeln!(
            out,
            "For each database, `paasd` (release build) starts on a free loopback port with a \
             fresh data directory: SQLite is the default file in the data directory (WAL, \
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

/// The start of a new `docs/benchmarks.md`.
const DOC_INTRO: &str = "\
# Benchmarks

Numbers measured on one machine, to compare the databases paasd supports and to notice
regressions. They are only as good as their method: each section says what was measured,
how, and where. `cargo xtask` regenerates each section; see `cargo xtask help`.
";

/// `doc` with its `## API` section (to the next `## ` heading or the end) replaced by
/// `section`, or `section` appended when there is none.
fn replace_section(doc: &str, section: &str) -> String {
    let lines: Vec<&str> = doc.split_inclusive('\n').collect();
    let is_heading = |line: &str| line.trim_end() == HEADING;
    let Some(start) = lines.iter().position(|line| is_heading(line)) else {
        let mut out = doc.trim_end().to_owned();
        out.push_str("\n\n");
        out.push_str(section);
        return out;
    };
    let end = lines[start + 1..]
        .iter()
        .position(|line| line.starts_with("## "))
        .map_or(lines.len(), |offset| start + 1 + offset);
    let mut out: String = lines[..start].concat();
    out.push_str(section);
    if end < lines.len() {
        out.push('\n');
        out.push_str(&lines[end..].concat());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_only_the_api_section() {
        let doc = "# B\n\nintro\n\n## Build\n\nfast\n\n## API\n\nold\n### Sub\nold\n\n## Git\n\npush\n";
        let new = replace_section(doc, "## API\n\nnew\n");
        assert_eq!(new, "# B\n\nintro\n\n## Build\n\nfast\n\n## API\n\nnew\n\n## Git\n\npush\n");
        let at_end = replace_section("# B\n\n## API\n\nold\n", "## API\n\nnew\n");
        assert_eq!(at_end, "# B\n\n## API\n\nnew\n");
        let appended = replace_section("# B\n\nintro\n", "## API\n\nnew\n");
        assert_eq!(appended, "# B\n\nintro\n\n## API\n\nnew\n");
    }

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
        let o = Options::parse(&args("api")).unwrap();
        assert_eq!((o.apps, o.requests), (DEFAULT_APPS, DEFAULT_REQUESTS));
        let o = Options::parse(&args("api --apps 10 --requests 20")).unwrap();
        assert_eq!((o.apps, o.requests), (10, 20));
        assert!(Options::parse(&args("db")).is_err());
        assert!(Options::parse(&args("api --apps 0")).is_err());
        assert!(Options::parse(&args("api --requests")).is_err());
    }
}
