//! `cargo xtask bench dashboard`: how long the dashboard's pages take with 200 apps.
//!
//! It builds `paasd` (and the router it starts) in release mode, starts it with the
//! scheduler off (the pages alone) on free loopback ports with a fresh data directory
//! on SQLite, registers an admin, creates the apps (several client threads; not
//! measured), each with a config var (a second release), `web=1` and, for the app whose
//! page is measured, [`APP_RELEASES`] releases more; signs into the dashboard with the
//! sign-in form as a browser does (its CSRF token, then the session cookie); then
//! measures, sequentially on one kept-alive connection, `GET` of the app list, of one
//! app's page and of the audit log.
//!
//! Every measurement starts with [`WARMUP`] requests that are not counted. Latency is
//! the client's time from sending a request to having read its whole answer, so it is
//! an upper bound of the server's render time (it adds loopback and the client);
//! percentiles are nearest-rank over the sorted samples. The results are printed and
//! written to the `## Dashboard` section of `docs/benchmarks.md`; other sections are
//! kept.

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context};
use reqwest::blocking::Client;
use reqwest::Method;
use serde_json::json;

use super::report::{self, Machine};
use super::server::{self, Api, Paasd};
use super::TempDir;
use crate::{apt, env, process};

/// Apps created before measuring, by default (the issue's 200).
const DEFAULT_APPS: usize = 200;
/// Counted requests per page, by default.
const DEFAULT_REQUESTS: usize = 200;
/// Requests sent before each measurement and not counted.
const WARMUP: usize = 20;
/// Extra config releases of the app whose page is measured.
const APP_RELEASES: usize = 30;
/// Client threads that create the apps.
const SETUP_THREADS: usize = 4;
/// The budget the issue sets for a page, server-side.
const BUDGET: Duration = Duration::from_millis(50);
/// The heading of the section of `docs/benchmarks.md` the results replace.
const HEADING: &str = "## Dashboard";

/// The flags of `cargo xtask bench dashboard`.
#[derive(Debug)]
pub struct Options {
    /// `--apps N`.
    apps: usize,
    /// `--requests N`: counted requests per page.
    requests: usize,
}

impl Options {
    /// Parses the arguments after `bench dashboard`.
    pub fn parse(args: &[String]) -> anyhow::Result<Self> {
        let mut options = Self { apps: DEFAULT_APPS, requests: DEFAULT_REQUESTS };
        super::parse_counts(
            "dashboard",
            args,
            &mut [("--apps", &mut options.apps), ("--requests", &mut options.requests)],
        )?;
        Ok(options)
    }

    /// The arguments that give these options.
    pub fn args(&self) -> Vec<String> {
        ["dashboard", "--apps", &self.apps.to_string(), "--requests", &self.requests.to_string()]
            .map(str::to_owned)
            .to_vec()
    }
}

/// One page's measurement.
struct Page {
    name: String,
    bytes: usize,
    /// Sorted, shortest first.
    samples: Vec<Duration>,
}

impl Page {
    /// The nearest-rank percentile `p` (0 < p ≤ 100).
    fn percentile(&self, p: f64) -> Duration {
        let n = self.samples.len();
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss, clippy::cast_precision_loss)]
        let rank = ((p / 100.0 * n as f64).ceil() as usize).clamp(1, n);
        self.samples[rank - 1]
    }
}

pub fn run(options: &Options) -> anyhow::Result<()> {
    let root = process::repo_root();
    apt::ensure_packages(apt::BUILD_PACKAGES)?;
    process::run(process::cargo().args(["build", "--release", "-p", "paasd", "-p", "paas-router"]))?;
    let load = report::load_average();
    let dir = TempDir::create()?;
    let server = Paasd::start(&root.join("target/release/paasd"), &dir.path.join("data"), |cmd| {
        cmd.env(env::DOCKER, "off").env_remove(env::DATABASE_URL);
    })?;
    let client = server::client()?;
    let api = server.sign_in(&client)?;
    let started = Instant::now();
    fill(&api, options.apps)?;
    let measured_app = app_name(options.apps / 2);
    for n in 0..APP_RELEASES {
        let body = json!({ "values": { "BENCH": format!("value-{n}") } });
        api.send(&client, Method::PATCH, &format!("/v1/apps/{measured_app}/config"), Some(body))?;
    }
    eprintln!("xtask: created {} apps in {:.1}s", options.apps, started.elapsed().as_secs_f64());

    let cookie = dashboard_session(&client, &server.base)?;
    let mut pages = Vec::new();
    for (name, path) in [
        (format!("app list ({} apps)", options.apps), "/dashboard/apps".to_owned()),
        (format!("app page ({} releases)", APP_RELEASES + 2), format!("/dashboard/apps/{measured_app}")),
        ("audit log (newest 1000 events)".to_owned(), "/dashboard/admin/audit".to_owned()),
    ] {
        eprintln!("xtask: GET {path} x {} (+{WARMUP} warm-up)", options.requests);
        pages.push(measure(&client, &format!("{}{path}", server.base), &cookie, name, options.requests)?);
    }
    server.stop()?;
    drop(dir);

    let machine = Machine::read(load);
    let section = doc_section(&machine, options, &pages);
    println!();
    for page in &pages {
        println!(
            "{:<36} p50 {:>8}  p99 {:>8}",
            page.name,
            ms(page.percentile(50.0)),
            ms(page.percentile(99.0))
        );
    }
    report::write_section(HEADING, &section)
}

/// Creates `app-0001` … from [`SETUP_THREADS`] threads, each with a config var and
/// `web=1`.
fn fill(api: &Api, apps: usize) -> anyhow::Result<()> {
    std::thread::scope(|scope| {
        let workers: Vec<_> = (0..SETUP_THREADS)
            .map(|worker| {
                scope.spawn(move || -> anyhow::Result<()> {
                    let client = server::client()?;
                    for i in (worker..apps).step_by(SETUP_THREADS) {
                        let name = app_name(i);
                        api.send(&client, Method::POST, "/v1/apps", Some(json!({ "name": name })))?;
                        let config = json!({ "values": { "GREETING": "hello" } });
                        api.send(&client, Method::PATCH, &format!("/v1/apps/{name}/config"), Some(config))?;
                        let scale = json!({ "updates": [{ "type": "web", "quantity": 1 }] });
                        api.send(&client, Method::PATCH, &format!("/v1/apps/{name}/formation"), Some(scale))?;
                    }
                    Ok(())
                })
            })
            .collect();
        workers.into_iter().try_for_each(|w| w.join().map_err(|_| anyhow!("a setup thread panicked"))?)
    })
}

fn app_name(i: usize) -> String {
    format!("app-{:04}", i + 1)
}

/// Signs in with the dashboard's form, as a browser does; returns the `Cookie` header
/// of the session.
fn dashboard_session(client: &Client, base: &str) -> anyhow::Result<String> {
    let form = client.get(format!("{base}/dashboard/sign-in")).send()?;
    let nonce = set_cookie(&form, "paas_sign_in").context("the sign-in page set no cookie")?;
    let page = form.text()?;
    let marker = r#"name="csrf" value=""#;
    let start = page.find(marker).context("the sign-in page has no CSRF token")? + marker.len();
    let csrf = &page[start..start + page[start..].find('"').context("an attribute")?];
    let fields = [("username", server::USERNAME), ("password", server::PASSWORD), ("csrf", csrf)];
    let no_redirects = Client::builder().no_proxy().redirect(reqwest::redirect::Policy::none()).build()?;
    let signed_in = no_redirects
        .post(format!("{base}/dashboard/sign-in"))
        .header("cookie", format!("paas_sign_in={nonce}"))
        .form(&fields)
        .send()?;
    let session = set_cookie(&signed_in, "paas_session")
        .with_context(|| format!("signing in answered {} without a session", signed_in.status()))?;
    Ok(format!("paas_session={session}"))
}

/// The value a response's `Set-Cookie` gives cookie `name`.
fn set_cookie(resp: &reqwest::blocking::Response, name: &str) -> Option<String> {
    resp.headers().get_all("set-cookie").iter().filter_map(|v| v.to_str().ok()).find_map(|v| {
        let value = v.split(';').next()?.strip_prefix(name)?.strip_prefix('=')?;
        Some(value.to_owned()).filter(|v| !v.is_empty())
    })
}

/// `GET url` with the session, [`WARMUP`] times and then `count` times, timing each.
fn measure(client: &Client, url: &str, cookie: &str, name: String, count: usize) -> anyhow::Result<Page> {
    let get = || -> anyhow::Result<usize> {
        let resp = client.get(url).header("cookie", cookie).send()?;
        let status = resp.status();
        let body = resp.bytes()?;
        if status != reqwest::StatusCode::OK {
            bail!("GET {url} answered {status}: {}", String::from_utf8_lossy(&body));
        }
        Ok(body.len())
    };
    for _ in 0..WARMUP {
        get()?;
    }
    let mut samples = Vec::with_capacity(count);
    let mut bytes = 0;
    for _ in 0..count {
        let start = Instant::now();
        bytes = get()?;
        samples.push(start.elapsed());
    }
    samples.sort_unstable();
    Ok(Page { name, bytes, samples })
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

fn doc_section(machine: &Machine, options: &Options, pages: &[Page]) -> String {
    let mut out = format!("{HEADING}\n\n");
    out.push_str(&machine.markdown("cargo xtask bench dashboard"));
    let _ = writeln!(out, "- SQLite as bundled with sqlx\n");
    let _ = writeln!(out, "### Method\n");
    let _ = writeln!(
        out,
        "`paasd` (release build) starts with the scheduler off on a free loopback port with a fresh \
         data directory (SQLite). The benchmark registers an admin and creates {} apps from \
         {SETUP_THREADS} client threads, each with a config var (release v2) and `web=1`; the app \
         whose page is measured gets {APP_RELEASES} more releases. It signs into the dashboard with \
         the sign-in form, as a browser does, and then sends `GET` requests with the session \
         cookie, sequentially on one kept-alive connection: {WARMUP} warm-up requests that are not \
         counted, then {} counted ones per page. Latency is the client's time from sending a request \
         to having read the whole page (uncompressed), so it bounds the server's render time from \
         above; p50 and p99 are nearest-rank percentiles. Any answer other than 200 aborts the run. \
         The issue's budget is {} ms per page, server-side.\n",
        options.apps,
        options.requests,
        BUDGET.as_millis()
    );
    let _ = writeln!(out, "### Results\n");
    let _ = writeln!(out, "| Page | Size | p50 | p99 | max | within {} ms |", BUDGET.as_millis());
    let _ = writeln!(out, "|---|---:|---:|---:|---:|---|");
    for page in pages {
        let max = page.samples.last().copied().unwrap_or_default();
        let _ = writeln!(
            out,
            "| {} | {} KiB | {} | {} | {} | {} |",
            page.name,
            page.bytes / 1024,
            ms(page.percentile(50.0)),
            ms(page.percentile(99.0)),
            ms(max),
            if page.percentile(99.0) < BUDGET { "yes (p99)" } else { "no" }
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_options() {
        let options = Options::parse(&["--apps".into(), "50".into()]).unwrap();
        assert_eq!((options.apps, options.requests), (50, DEFAULT_REQUESTS));
        assert_eq!(Options::parse(&options.args()[1..]).unwrap().apps, 50);
        assert!(Options::parse(&["--apps".into(), "0".into()]).is_err());
        assert!(Options::parse(&["--fast".into()]).is_err());
    }
}
