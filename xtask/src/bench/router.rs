//! `cargo xtask bench router`: the paas router beside nginx and HAProxy, in front of
//! the same backend on this machine, in one run.
//!
//! The proxies run on one CPU and everything else (the backend, the load generators,
//! xtask itself) on another, pinned with `taskset`, so that a proxy has a CPU of its
//! own and is the part under test; all three run the whole time, one measured at a
//! time, with the same settings where they have a say (`proxies.rs`). It measures, for
//! each proxy in turn:
//!
//! 1. **keep-alive throughput**: `wrk` with [`CONNECTIONS`] kept-alive HTTP/1.1
//!    connections, as fast as the proxy answers, after a warm-up that is not counted;
//! 2. **latency at a fixed rate**: `h2load --rps` with [`LATENCY_CLIENTS`]
//!    connections at half the lowest throughput of (1), the same rate for all three,
//!    p50 and p99 from h2load's per-request log;
//! 3. **full TLS handshakes per second**: xtask's rustls client without session
//!    resumption (`tls.rs`), [`TLS_THREADS`] threads, with the proxy's CPU use, since
//!    the client may be what runs out of CPU first;
//! 4. **reconfiguration**: 60 s of traffic at about the rate of (2) while the route
//!    moves between two backends 10 times a second (`reconfig.rs`), counting failed
//!    requests and how long each change takes to show.
//!
//! The table goes to stdout and, except with `--quick`, to the `## Router` section of
//! `docs/benchmarks.md`, with the goals and whether they were met.

mod feed;
mod load;
mod procs;
mod proxies;
mod reconfig;
mod tls;

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{bail, Context};

use self::load::{Pace, Rated, Wrk};
use self::procs::{Shares, Usage};
use self::proxies::{Kind, Layout, Proxy};
use self::reconfig::{percentile, Reconfig, CHANGES_PER_SECOND};
use self::tls::Handshakes;
use super::report::{self, Machine};
use super::TempDir;
use crate::{apt, process};

/// The host name the app is served at, and the name in the certificate.
pub const HOST: &str = "bench.localhost";

/// Seconds per measurement, by default; the reconfiguration run takes
/// [`RECONFIG_SECS`].
const DEFAULT_SECS: u64 = 20;
/// Seconds of the reconfiguration run (the 60).
const RECONFIG_SECS: u64 = 60;
/// `--quick`: seconds per measurement and of the reconfiguration run.
const QUICK_SECS: u64 = 2;
const QUICK_RECONFIG_SECS: u64 = 3;
/// wrk's connections (throughput and reconfiguration).
const CONNECTIONS: usize = 64;
/// h2load's connections at the fixed rate.
const LATENCY_CLIENTS: usize = 32;
/// The share of the lowest throughput that makes the fixed rate.
const RATE_SHARE: f64 = 0.5;
/// Handshaking client threads.
const TLS_THREADS: usize = 16;
/// Below this share of a CPU, a proxy was not what limited the handshakes.
const SATURATED: f64 = 0.9;
/// The heading of the section of `docs/benchmarks.md` the results replace.
const HEADING: &str = "## Router";
/// The order the proxies are measured in, and the table's columns.
const KINDS: [Kind; 3] = [Kind::Router, Kind::Nginx, Kind::Haproxy];

/// The flags of `cargo xtask bench router`.
#[derive(Debug)]
pub struct Options {
    /// `--duration SECS`: seconds per measurement (not the reconfiguration run).
    duration: Option<u64>,
    /// `--quick`: a smoke run of a few seconds each, not written to the document.
    quick: bool,
}

impl Options {
    /// Parses the arguments after `bench router`.
    pub fn parse(args: &[String]) -> anyhow::Result<Self> {
        let mut options = Self { duration: None, quick: false };
        let mut args = args.iter();
        while let Some(arg) = args.next() {
            match arg.as_str() {
                "--duration" => options.duration = Some(super::count(arg, args.next())? as u64),
                "--quick" => options.quick = true,
                other => {
                    bail!("unknown option `{other}` for `bench router`; it takes --duration SECS and --quick")
                }
            }
        }
        Ok(options)
    }

    /// The arguments that give these options.
    pub fn args(&self) -> Vec<String> {
        let mut args = vec!["router".to_owned()];
        if let Some(secs) = self.duration {
            args.extend(["--duration".to_owned(), secs.to_string()]);
        }
        if self.quick {
            args.push("--quick".to_owned());
        }
        args
    }

    fn measure(&self) -> Duration {
        let default = if self.quick { QUICK_SECS } else { DEFAULT_SECS };
        Duration::from_secs(self.duration.unwrap_or(default))
    }

    fn reconfig(&self) -> Duration {
        Duration::from_secs(if self.quick { QUICK_RECONFIG_SECS } else { RECONFIG_SECS })
    }

    fn warmup(&self) -> Duration {
        Duration::from_secs(if self.quick { 1 } else { 2 })
    }
}

/// Everything measured of one proxy.
#[derive(Default)]
struct Measured {
    throughput: Wrk,
    /// The CPU used during the throughput run.
    throughput_usage: Shares,
    rated: Rated,
    handshakes: Handshakes,
    reconfig: Reconfig,
}

pub fn run(options: &Options) -> anyhow::Result<()> {
    apt::ensure_packages(apt::BUILD_PACKAGES)?;
    apt::ensure_packages(apt::ROUTER_BENCH_PACKAGES)?;
    process::run(process::cargo().args(["build", "--release", "-p", "paas-router"]))?;
    let router = process::repo_root().join("target/release/paas-router");
    let cpus = procs::allowed_cpus()?;
    let [load_cpu, proxy_cpu] = match cpus.as_slice() {
        [first, .., last] => [*first, *last],
        _ => bail!("`bench router` needs two CPUs (one for the proxy, one for the load); this process may use {cpus:?}"),
    };
    // Before pinning, which `nproc` would see.
    let machine = Machine::read(report::load_average());
    procs::pin_self(load_cpu)?;
    eprintln!("xtask: proxies on CPU {proxy_cpu}; backend, load generators and xtask on CPU {load_cpu}");
    let tick = procs::ticks_per_second() as f64;

    let dir = TempDir::create()?;
    let ports = super::free_ports(2)?;
    let (a, b) = (SocketAddr::from(([127, 0, 0, 1], ports[0])), SocketAddr::from(([127, 0, 0, 1], ports[1])));
    let layout = Layout::create(&dir.path, a, b)?;
    let _backend = proxies::start_backend(&layout, load_cpu)?;
    load::wait_for_body(a, b"a\n", Duration::from_secs(10))?;
    load::wait_for_body(b, b"b\n", Duration::from_secs(10))?;
    let client_tls = tls::client_config(&layout.cert)?;
    let mut running = Vec::new();
    for kind in KINDS {
        let proxy = Proxy::start(kind, &layout, proxy_cpu, &router)?;
        let log =
            |what: &str| format!("{} {what}; the end of its log:\n{}", kind.name(), proxy.group.log_tail());
        load::wait_for_body(proxy.http, b"a\n", Duration::from_secs(20))
            .with_context(|| log("does not serve the app"))?;
        tls::handshake(&client_tls, proxy.https).with_context(|| log("does not complete a TLS handshake"))?;
        running.push(proxy);
    }
    let mut measured: Vec<Measured> = KINDS.iter().map(|_| Measured::default()).collect();
    let cpus = [proxy_cpu, load_cpu];
    let (secs, warmup) = (options.measure(), options.warmup());

    for (proxy, m) in running.iter_mut().zip(&mut measured) {
        eprintln!(
            "xtask: {}: keep-alive throughput, wrk -c{CONNECTIONS} for {}s",
            proxy.kind.name(),
            secs.as_secs()
        );
        load::wrk(&dir.path, load_cpu, proxy.http, CONNECTIONS, warmup, Pace::Flat)?;
        let (started, usage) = (std::time::Instant::now(), Usage::now(&proxy.group, &cpus));
        m.throughput = load::wrk(&dir.path, load_cpu, proxy.http, CONNECTIONS, secs, Pace::Flat)?;
        let seconds = started.elapsed().as_secs_f64();
        m.throughput_usage = Usage::now(&proxy.group, &cpus).since(&usage, seconds, tick);
        proxy.group.check_running()?;
    }
    let slowest = measured.iter().map(|m| m.throughput.rate()).fold(f64::INFINITY, f64::min);
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss, clippy::cast_precision_loss)]
    let per_client = ((slowest * RATE_SHARE / LATENCY_CLIENTS as f64).floor() as usize).max(1);
    let rate = per_client * LATENCY_CLIENTS;
    for (proxy, m) in running.iter_mut().zip(&mut measured) {
        eprintln!("xtask: {}: latency at {rate} req/s, h2load for {}s", proxy.kind.name(), secs.as_secs());
        m.rated =
            load::h2load_rate(&dir.path, load_cpu, proxy.http, LATENCY_CLIENTS, per_client, warmup, secs)?;
        proxy.group.check_running()?;
    }
    for (proxy, m) in running.iter_mut().zip(&mut measured) {
        eprintln!("xtask: {}: full TLS handshakes for {}s", proxy.kind.name(), secs.as_secs());
        m.handshakes =
            tls::measure(&client_tls, proxy.https, &proxy.group, &cpus, tick, TLS_THREADS, warmup, secs)?;
        proxy.group.check_running()?;
    }
    // The same rate as the latency run: each wrk connection waits its share of a second.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss, clippy::cast_precision_loss)]
    let pause = Duration::from_millis((CONNECTIONS as f64 * 1000.0 / rate as f64).round() as u64);
    for (proxy, m) in running.iter_mut().zip(&mut measured) {
        let duration = options.reconfig();
        eprintln!(
            "xtask: {}: {}s with {CHANGES_PER_SECOND} route changes a second",
            proxy.kind.name(),
            duration.as_secs()
        );
        m.reconfig = reconfig::run(proxy, &dir.path, load_cpu, (a, b), (CONNECTIONS, pause), duration)?;
        proxy.group.check_running()?;
    }
    drop(running);

    let table = table(&measured, rate, pause, [proxy_cpu, load_cpu]);
    println!("\n{table}");
    let verdicts = goals(&measured);
    for line in &verdicts {
        println!("{line}");
    }
    if options.quick {
        eprintln!("\nxtask: a --quick run: {} left as it is", report::DOC);
        return Ok(());
    }
    let section =
        doc_section(&machine, options, &table, &verdicts, (rate, pause), proxy_cpu, load_cpu, &measured);
    report::write_section(HEADING, &section)
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

/// `a / b` as `0.97`, or `–` when `b` is zero.
fn over(a: f64, b: f64) -> String {
    report::ratio((b > 0.0).then(|| a / b))
}

/// Handshakes per second of the proxy's CPU time.
fn handshakes_per_cpu_second(h: &Handshakes) -> f64 {
    let cpu = h.usage.proxy * h.seconds;
    if cpu > 0.0 {
        h.completed as f64 / cpu
    } else {
        0.0
    }
}

/// Seconds of the proxy's CPU per request of the throughput run.
fn cpu_per_request(m: &Measured) -> f64 {
    let requests = m.throughput.requests as f64;
    if requests > 0.0 {
        m.throughput_usage.proxy * m.throughput.seconds / requests
    } else {
        0.0
    }
}

/// `52%`.
fn percent(share: f64) -> String {
    format!("{:.0}%", share * 100.0)
}

/// `97% / 100%`: how busy the proxy's CPU and the load's were, with anything.
fn busy(shares: &Shares) -> String {
    shares.cpus.iter().map(|s| percent(*s)).collect::<Vec<_>>().join(" / ")
}

/// The results as a Markdown table: each proxy's value and its ratio to nginx.
fn table(measured: &[Measured], rate: usize, pause: Duration, [proxy_cpu, load_cpu]: [usize; 2]) -> String {
    let [router, nginx, haproxy] = measured else { return String::new() };
    let mut out = String::new();
    let _ = writeln!(out, "| Measurement | paas router | nginx | HAProxy | router/nginx | HAProxy/nginx |");
    let _ = writeln!(out, "|---|---:|---:|---:|---:|---:|");
    let mut row =
        |name: &str, value: &dyn Fn(&Measured) -> String, number: Option<&dyn Fn(&Measured) -> f64>| {
            let (r, h) = match number {
                Some(f) => (over(f(router), f(nginx)), over(f(haproxy), f(nginx))),
                None => ("–".to_owned(), "–".to_owned()),
            };
            let _ = writeln!(
                out,
                "| {name} | {} | {} | {} | {r} | {h} |",
                value(router),
                value(nginx),
                value(haproxy)
            );
        };
    row(
        &format!("keep-alive throughput (wrk, {CONNECTIONS} connections)"),
        &|m| format!("{:.0} req/s", m.throughput.rate()),
        Some(&|m| m.throughput.rate()),
    );
    row("… proxy's processes: share of a CPU", &|m| percent(m.throughput_usage.proxy), None);
    let busy_row = format!("… CPU {proxy_cpu} (proxy) / CPU {load_cpu} (load) busy, all processes");
    row(&busy_row, &|m| busy(&m.throughput_usage), None);
    row(
        "… proxy CPU time per request",
        &|m| format!("{:.0} µs", cpu_per_request(m) * 1e6),
        Some(&|m| cpu_per_request(m)),
    );
    row(
        "… errors (non-2xx, socket)",
        &|m| (m.throughput.non_2xx + m.throughput.socket_error_total()).to_string(),
        None,
    );
    row(
        &format!("p50 at {rate} req/s (h2load, {LATENCY_CLIENTS} connections)"),
        &|m| ms(m.rated.percentile(50.0)),
        Some(&|m| m.rated.percentile(50.0).as_secs_f64()),
    );
    row(
        &format!("p99 at {rate} req/s"),
        &|m| ms(m.rated.percentile(99.0)),
        Some(&|m| m.rated.percentile(99.0).as_secs_f64()),
    );
    row(
        "… answered at that rate (failed)",
        &|m| format!("{:.0}/s ({})", m.rated.rate(), m.rated.failed),
        None,
    );
    row(
        "full TLS 1.3 handshakes/s (ECDSA P-256, no resumption)",
        &|m| format!("{:.0}/s", m.handshakes.rate()),
        Some(&|m| m.handshakes.rate()),
    );
    row("… proxy's processes: share of a CPU", &|m| percent(m.handshakes.usage.proxy), None);
    row(&busy_row, &|m| busy(&m.handshakes.usage), None);
    row(
        "… handshakes per second of proxy CPU",
        &|m| format!("{:.0}", handshakes_per_cpu_second(&m.handshakes)),
        Some(&|m| handshakes_per_cpu_second(&m.handshakes)),
    );
    row("… failed handshakes", &|m| m.handshakes.failed.to_string(), None);
    row(
        &format!(
            "reconfiguration, wrk -c{CONNECTIONS} each waiting {} ms: route changes made (failed, late)",
            pause.as_millis()
        ),
        &|m| format!("{} ({}, {})", m.reconfig.changes, m.reconfig.change_failures, m.reconfig.late),
        None,
    );
    row(
        "… time a change command took: p50 / p99",
        &|m| {
            format!(
                "{} / {}",
                ms(percentile(&m.reconfig.apply, 50.0)),
                ms(percentile(&m.reconfig.apply, 99.0))
            )
        },
        None,
    );
    row("… wrk's rate", &|m| format!("{:.0} req/s", m.reconfig.wrk.rate()), None);
    row(
        "… requests answered (wrk + probe)",
        &|m| (m.reconfig.wrk.requests + m.reconfig.probe_requests - m.reconfig.probe_failures).to_string(),
        None,
    );
    row("… non-2xx answers (wrk)", &|m| m.reconfig.wrk.non_2xx.to_string(), None);
    row(
        "… socket errors (wrk: connect/read/write/timeout)",
        &|m| {
            let [c, r, w, t] = m.reconfig.wrk.socket_errors;
            format!("{c}/{r}/{w}/{t}")
        },
        None,
    );
    row("… failed probe requests", &|m| m.reconfig.probe_failures.to_string(), None);
    row("… **failed requests, all kinds**", &|m| format!("**{}**", m.reconfig.errors()), None);
    row(
        "… answers from backend a / b (wrk)",
        &|m| match m.reconfig.wrk.bodies {
            Some([a, b, 0]) => format!("{a} / {b}"),
            Some([a, b, other]) => format!("{a} / {b} (+{other} other)"),
            None => "n/a".to_owned(),
        },
        None,
    );
    row(
        "… a change shown to the probe after: p50 / p99",
        &|m| {
            format!(
                "{} / {}",
                ms(percentile(&m.reconfig.shown, 50.0)),
                ms(percentile(&m.reconfig.shown, 99.0))
            )
        },
        None,
    );
    row("… changes not shown before the next one", &|m| m.reconfig.not_shown.to_string(), None);
    out
}

/// The goals, each a line saying whether the router met it.
fn goals(measured: &[Measured]) -> Vec<String> {
    let [router, nginx, _] = measured else { return Vec::new() };
    let met = |ok: bool| if ok { "met" } else { "**not met**" };
    let mut lines = Vec::new();
    let (rt, nt) = (router.throughput.rate(), nginx.throughput.rate());
    lines.push(format!(
        "- Throughput >= nginx: {} ({rt:.0} against {nt:.0} req/s, {}x).",
        met(rt >= nt),
        over(rt, nt)
    ));
    let (rp, np) = (router.rated.percentile(99.0), nginx.rated.percentile(99.0));
    lines.push(format!(
        "- p99 <= nginx at the fixed rate: {} ({} against {}).",
        met(rp <= np),
        ms(rp),
        ms(np)
    ));
    let (rh, nh) = (router.handshakes.rate(), nginx.handshakes.rate());
    let (rc, nc) =
        (handshakes_per_cpu_second(&router.handshakes), handshakes_per_cpu_second(&nginx.handshakes));
    let (ru, nu) = (router.handshakes.usage.proxy, nginx.handshakes.usage.proxy);
    let verdict = if rh >= 1.5 * nh {
        "met"
    } else if (ru < SATURATED || nu < SATURATED) && rc >= 1.5 * nc {
        "**not met** as measured, met per second of proxy CPU"
    } else {
        "**not met**"
    };
    let mut line = format!(
        "- Handshakes/s >= 1.5x nginx: {verdict} ({rh:.0} against {nh:.0}/s, {}x; per second of proxy CPU, \
         which does not depend on the client keeping up: {rc:.0} against {nc:.0}, {}x",
        over(rh, nh),
        over(rc, nc),
    );
    for (name, share) in [("the router", ru), ("nginx", nu)] {
        if share < SATURATED {
            let _ = write!(
                line,
                "; {name} used {} of its CPU, so the client (or other work on the machine) set its pace",
                percent(share)
            );
        }
    }
    line.push_str(").");
    lines.push(line);
    let errors = router.reconfig.errors() + router.reconfig.change_failures as u64;
    lines.push(format!(
        "- 0 errors under reconfiguration: {} ({} failed requests, {} failed route changes; nginx: {}, HAProxy: {}).",
        met(errors == 0),
        router.reconfig.errors(),
        router.reconfig.change_failures,
        nginx.reconfig.errors(),
        measured[2].reconfig.errors(),
    ));
    let p99 = percentile(&router.reconfig.shown, 99.0);
    lines.push(format!(
        "- A route change reaches the router in < 100 ms (p99): {} ({} p99 until the probe saw it, {} of {} changes not seen before the next).",
        met(p99 < Duration::from_millis(100) && router.reconfig.not_shown == 0),
        ms(p99),
        router.reconfig.not_shown,
        router.reconfig.changes,
    ));
    lines
}

/// The first line a program prints about its version (on stdout or stderr).
fn version(program: &str, args: &[&str]) -> String {
    let Ok(out) = process::output(std::process::Command::new(program).args(args)) else {
        return "unknown".to_owned();
    };
    let text = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    text.lines().map(str::trim).find(|l| !l.is_empty()).unwrap_or("unknown").to_owned()
}

#[allow(clippy::too_many_arguments)]
fn doc_section(
    machine: &Machine,
    options: &Options,
    table: &str,
    goals: &[String],
    (rate, pause): (usize, Duration),
    proxy_cpu: usize,
    load_cpu: usize,
    measured: &[Measured],
) -> String {
    let mut command = "cargo xtask bench router".to_owned();
    if let Some(secs) = options.duration {
        let _ = write!(command, " --duration {secs}");
    }
    let secs = options.measure().as_secs();
    let negotiated: Vec<String> = KINDS
        .iter()
        .zip(measured)
        .map(|(kind, m)| format!("{}: {}", kind.name(), m.handshakes.negotiated))
        .collect();
    let mut out = format!("{HEADING}\n\n");
    out.push_str(&machine.markdown(&command));
    let _ = writeln!(
        out,
        "- Pinned with `taskset`: each proxy on CPU {proxy_cpu}; the backend, the load generators and xtask on CPU {load_cpu}"
    );
    let _ = writeln!(
        out,
        "- {}; {}; paas-router release build (`cargo build --release -p paas-router`, rustls 0.23 with ring)",
        version(proxies::NGINX, &["-v"]),
        version(proxies::HAPROXY, &["-v"]).split(" - ").next().unwrap_or("HAProxy"),
    );
    let _ = writeln!(
        out,
        "- Load: {}; {}; xtask's own clients (release build); {}\n",
        version("wrk", &["-v"]).split(" [").next().unwrap_or("wrk"),
        version("h2load", &["--version"]),
        version("openssl", &["version"]).split(" (").next().unwrap_or("OpenSSL"),
    );
    let _ = writeln!(out, "### Method\n");
    let _ = writeln!(
        out,
        "Three proxies run at once, each measured in turn, in front of one backend: a second nginx (1 worker, on \
         the load CPU) answering every request with a 2-byte body (`a\\n` on one port, `b\\n` on another, so an \
         answer tells which served it). The app is `{HOST}`. The proxies have one CPU to themselves and one \
         worker each (nginx `worker_processes 1`, HAProxy `nbthread 1`, the router, allowed one CPU, runs a \
         single-threaded tokio runtime) and the same settings where they have a say: an access line per request \
         (nginx and HAProxy to a file; the router, as paasd starts it with `PAAS_LOG=info`, posts its lines to \
         the feed, the controller's part, which is where paas keeps them for `paas logs`, and its own log has \
         them only at debug), client keep-alive for 30 s idle with no cap on requests per connection, pooled keep-alive connections \
         to the backend kept 90 s (nginx `upstream` `keepalive`, HAProxy `http-reuse always`), TLS 1.2 and 1.3 \
         with Mozilla's intermediate suites, ALPN h2 and http/1.1, and the same self-signed ECDSA P-256 \
         certificate (the router's as the per-host file for `{HOST}`); each sets `X-Forwarded-For`, `-Proto`, \
         `-Port` and `X-Request-Id`. The router follows a route feed that xtask serves (the controller's watch \
         stream: a snapshot, then changes) and is never restarted.\n"
    );
    let _ = writeln!(
        out,
        "1. **Keep-alive throughput**: `wrk -t1 -c{CONNECTIONS} -d{secs}s` over HTTP/1.1 with `Host: {HOST}`, \
         after {}s of warm-up that is not counted. wrk is a closed loop: each connection sends its next request \
         when the answer comes. The proxy's share of a CPU is its processes' user and system time over the run \
         (`/proc/<pid>/stat`); each CPU's busy share counts every process on it (`/proc/stat`), so other work \
         on the machine shows there: a proxy below 100% on a CPU near 100% busy was short of CPU, not idle.",
        options.warmup().as_secs()
    );
    let _ = writeln!(
        out,
        "2. **Latency at a fixed rate**: `h2load --h1 -c{LATENCY_CLIENTS} --rps` for {secs}s after {}s of \
         warm-up, {rate} requests a second in all (half the lowest throughput of 1, the same for all three): \
         below saturation. p50 and p99 are nearest-rank over every request of h2load's `--log-file`. (wrk2 is \
         not in Debian. h2load times a request from when it is sent; when a connection waits for a late \
         answer, the requests due meanwhile go out later and their wait is not counted, so tails under \
         overload would be understated; below saturation this hardly arises.)",
        options.warmup().as_secs()
    );
    let _ = writeln!(
        out,
        "3. **Full TLS handshakes**: xtask's rustls client (ring; TLS 1.3 with X25519) with session resumption \
         turned off, from {TLS_THREADS} threads for {secs}s after {}s of warm-up: connect, handshake with SNI \
         `{HOST}`, `close_notify`, close; no HTTP request. The client accepts only the benchmark's certificate \
         and checks the handshake signature. (wrk and h2load keep TLS sessions across their reconnections and \
         resume them: an nginx log showed every handshake after the first resumed, so they cannot measure \
         full handshakes.) Negotiated: {}. The client does more public-key work per handshake than the server \
         (it verifies the ECDSA signature) on a CPU it shares with the backend, so it may set the pace: the \
         table gives the proxy's CPU share and handshakes per second of proxy CPU, which is what a proxy with \
         a whole CPU would reach.",
        options.warmup().as_secs(),
        negotiated.join("; ")
    );
    let _ = writeln!(
        out,
        "4. **Reconfiguration**: {}s during which the route moves between the backends {CHANGES_PER_SECOND} \
         times a second (b, a, b, …): for the router a `changes` message on its route feed; for nginx the \
         `upstream` file rewritten (one rename) and `nginx -s reload`; for HAProxy `set server app/web1 addr \
         127.0.0.1 port <port>` on its admin socket (the runtime API). Under `wrk -c{CONNECTIONS}` from 1 s \
         before the first change to 1 s after the last, each connection waiting {pause} ms before each \
         request (wrk's Lua `delay`: about the fixed rate of 2, below saturation, as proxies run in \
         production; a Lua script also counts which backend answered), plus a probe: xtask's client on one kept-alive connection (opened again when it breaks), a request \
         about every millisecond. Failed requests are wrk's non-2xx answers and socket errors (wrk does not \
         retry: a kept-alive connection the proxy closes under a request is a read error) and the probe's \
         requests without a 200. A change has shown when the first probe request sent after it is answered by \
         the new backend; its delay is until that answer arrived.\n",
        options.reconfig().as_secs(),
        pause = pause.as_millis(),
    );
    let _ = writeln!(out, "### Results\n");
    let _ = writeln!(
        out,
        "Ratios are to nginx: above 1 is more throughput or handshakes, or a longer latency or more CPU per \
         request. The reconfiguration rows count everything that failed during the 60 s.\n"
    );
    out.push_str(table);
    let _ = writeln!(out, "\n### Goals (issue 5)\n");
    for line in goals {
        let _ = writeln!(out, "{line}");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_options() {
        let options = Options::parse(&["--duration".into(), "5".into(), "--quick".into()]).unwrap();
        assert_eq!((options.duration, options.quick), (Some(5), true));
        assert_eq!(options.measure(), Duration::from_secs(5));
        assert_eq!(options.reconfig(), Duration::from_secs(QUICK_RECONFIG_SECS));
        assert_eq!(Options::parse(&options.args()[1..]).unwrap().duration, Some(5));
        let default = Options::parse(&[]).unwrap();
        assert_eq!(
            (default.measure(), default.reconfig()),
            (Duration::from_secs(20), Duration::from_secs(60))
        );
        assert!(Options::parse(&["--duration".into(), "0".into()]).is_err());
        assert!(Options::parse(&["--fast".into()]).is_err());
    }
}
