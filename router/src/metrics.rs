//! The router's Prometheus metrics, kept in atomics and written in the text exposition
//! format (version 0.0.4) on a separate admin listener (`GET /metrics`, see [`serve`]).
//!
//! Series, every one with `# HELP` and `# TYPE`:
//!
//! - `paas_router_requests_total{app,code}` (counter): requests answered, by app and
//!   status class (`code` is `1xx` .. `5xx`: bounded, five per app; a status above 599,
//!   which no standard defines, counts as `5xx`);
//! - `paas_router_request_duration_seconds{app}` (histogram, `_bucket{le}`, `_sum`,
//!   `_count`): from a request's arrival to its response head, the part the router and
//!   the process control (the access line has the whole service time, body included).
//!   Per app, because one router serves every app and a slow one would hide in a
//!   global histogram; there are as many as there are apps in the route table;
//! - `paas_router_upstream_errors_total{app,kind}` (counter): failed attempts to reach
//!   a process: `connect` (each one, even when the retry on the next process saved the
//!   request), `failed` (connected, then no usable answer; not counted when the
//!   client's body was at fault), `timeout` (no answer within the response timeout);
//! - `paas_router_open_connections` and `paas_router_max_connections` (gauges): client
//!   connections being served on both listeners, and how many may be;
//! - `paas_router_route_table_version` and
//!   `paas_router_route_table_last_change_timestamp_seconds` (gauges): the served
//!   table's version and when this router began serving it (at start: when it loaded
//!   the saved table).
//!
//! The `app` label is an app's name only for requests routed to an app of the route
//! table; `(controller)` and `(builder)` are the platform's own hosts, and `""` is
//! everything routed nowhere (unknown hosts, requests refused before routing). No
//! label value ever comes from what a client sent, so a client cannot make series.
//! An app's series stay until the router restarts.
//!
//! Requests are counted when their response head is ready, before it is sent: a
//! client that has read a response finds it counted.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::fmt::{self, Write as _};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use arc_swap::ArcSwap;
use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{HeaderValue, ALLOW, CACHE_CONTROL, CONTENT_TYPE};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use paas_core::AppName;
use rustc_hash::FxHashMap;
use tokio::net::TcpListener;

use crate::error::ErrorChain;
use crate::table::{Routes, Table, Target};
use crate::tasks::TaskGroup;

/// The path metrics are served on.
pub const METRICS_PATH: &str = "/metrics";
/// The `Content-Type` of the text exposition format.
pub const CONTENT_TYPE_TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The upper bounds, in seconds, of the latency histogram's buckets (Prometheus's
/// default buckets); `+Inf` follows.
pub const BUCKETS: [f64; 11] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];
/// [`BUCKETS`] in microseconds, what durations are compared with.
const BUCKETS_US: [u64; 11] =
    [5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000, 1_000_000, 2_500_000, 5_000_000, 10_000_000];

/// The status classes, the values of `code`.
const CLASSES: [&str; 5] = ["1xx", "2xx", "3xx", "4xx", "5xx"];

/// The `app` of requests routed to no app.
pub const UNROUTED: &str = "";
/// The `app` of requests for `paas.<domain>`.
pub const CONTROLLER: &str = "(controller)";
/// The `app` of requests for `git.<domain>`.
pub const BUILDER: &str = "(builder)";

const REQUESTS: &str = "paas_router_requests_total";
const DURATION: &str = "paas_router_request_duration_seconds";
const UPSTREAM_ERRORS: &str = "paas_router_upstream_errors_total";
const OPEN_CONNECTIONS: &str = "paas_router_open_connections";
const MAX_CONNECTIONS: &str = "paas_router_max_connections";
const TABLE_VERSION: &str = "paas_router_route_table_version";
const TABLE_CHANGED: &str = "paas_router_route_table_last_change_timestamp_seconds";

/// Why an attempt to reach a process failed: the `kind` of
/// `paas_router_upstream_errors_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum UpstreamError {
    /// No connection could be made.
    Connect,
    /// Connected, then no usable answer.
    Failed,
    /// No answer within the response timeout.
    Timeout,
}

impl UpstreamError {
    const ALL: [Self; 3] = [Self::Connect, Self::Failed, Self::Timeout];

    fn label(self) -> &'static str {
        match self {
            Self::Connect => "connect",
            Self::Failed => "failed",
            Self::Timeout => "timeout",
        }
    }
}

/// The counters of one `app` label value.
#[derive(Debug, Default)]
pub(crate) struct Series {
    /// Requests by status class, [`CLASSES`] order.
    codes: [AtomicU64; 5],
    /// Requests by latency bucket, not cumulative: slot `i` counts durations above
    /// bucket `i - 1` and at most bucket `i`; the last slot those above every bound.
    buckets: [AtomicU64; BUCKETS.len() + 1],
    /// The sum of the durations, in microseconds.
    sum_us: AtomicU64,
    /// Upstream errors, [`UpstreamError::ALL`] order.
    upstream_errors: [AtomicU64; 3],
}

impl Series {
    /// Counts a request answered with `status` after `took`.
    fn observe(&self, status: StatusCode, took: Duration) {
        let class = usize::from(status.as_u16() / 100).clamp(1, 5) - 1;
        self.codes[class].fetch_add(1, Ordering::Relaxed);
        let us = u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
        let bucket = BUCKETS_US.iter().position(|bound| us <= *bound).unwrap_or(BUCKETS_US.len());
        self.buckets[bucket].fetch_add(1, Ordering::Relaxed);
        self.sum_us.fetch_add(us, Ordering::Relaxed);
    }

    /// Counts a failed attempt to reach a process.
    pub fn upstream_error(&self, kind: UpstreamError) {
        self.upstream_errors[kind as usize].fetch_add(1, Ordering::Relaxed);
    }

    fn snapshot(&self) -> SeriesSnapshot {
        let load = |n: &AtomicU64| n.load(Ordering::Relaxed);
        SeriesSnapshot {
            codes: self.codes.each_ref().map(load),
            buckets: self.buckets.each_ref().map(load),
            sum_us: load(&self.sum_us),
            upstream_errors: self.upstream_errors.each_ref().map(load),
        }
    }
}

/// Which series a request's answer is counted in: set by the proxy once it knows the
/// request's target, read by [`Metrics::record`]; unset, the answer counts as
/// [`UNROUTED`].
#[derive(Default)]
pub(crate) struct Served(Option<Arc<Series>>);

impl Served {
    /// Marks the answer as served for `series`, unless it is marked already.
    pub fn mark(&mut self, series: impl FnOnce() -> Arc<Series>) {
        self.0.get_or_insert_with(series);
    }
}

/// Every counter and gauge of one router.
pub(crate) struct Metrics {
    /// The series by `app` label; only the proxy adds to it, from route table targets.
    /// Read without a lock; a new app copies the map.
    series: ArcSwap<FxHashMap<Box<str>, Arc<Series>>>,
    /// The series of [`UNROUTED`].
    unrouted: Arc<Series>,
    open_connections: AtomicU64,
    max_connections: u64,
}

impl Metrics {
    /// Counters at zero, for a router allowing `max_connections` open connections.
    pub fn new(max_connections: usize) -> Self {
        let unrouted = Arc::new(Series::default());
        let series = FxHashMap::from_iter([(Box::from(UNROUTED), unrouted.clone())]);
        Self {
            series: ArcSwap::from_pointee(series),
            unrouted,
            open_connections: AtomicU64::new(0),
            max_connections: u64::try_from(max_connections.max(1)).unwrap_or(u64::MAX),
        }
    }

    /// The series of requests for `target`.
    pub fn for_target(&self, target: &Target) -> Arc<Series> {
        self.series(match target {
            Target::App(app) => app.as_str(),
            Target::Controller => CONTROLLER,
            Target::Builder => BUILDER,
        })
    }

    /// The series of requests for `app`.
    pub fn for_app(&self, app: &AppName) -> Arc<Series> {
        self.series(app.as_str())
    }

    /// The series of `app`, made on first use. Callers pass only names from the route
    /// table or the fixed labels above, never a client's bytes.
    fn series(&self, app: &str) -> Arc<Series> {
        if let Some(series) = self.series.load().get(app) {
            return series.clone();
        }
        self.series.rcu(|current| {
            let mut next = FxHashMap::clone(current);
            next.entry(Box::from(app)).or_insert_with(Arc::default);
            next
        });
        self.series.load().get(app).cloned().expect("just inserted")
    }

    /// Counts an answer with `status` after `took` in the series `served` marks, else
    /// as [`UNROUTED`].
    pub fn record(&self, served: Served, status: StatusCode, took: Duration) {
        served.0.as_ref().unwrap_or(&self.unrouted).observe(status, took);
    }

    /// Counts an open client connection until the guard is dropped.
    pub fn open_connection(self: &Arc<Self>) -> OpenConnection {
        self.open_connections.fetch_add(1, Ordering::Relaxed);
        OpenConnection(self.clone())
    }

    /// Every value now, with the route table `table`.
    fn snapshot(&self, table: &Table) -> Snapshot {
        Snapshot {
            series: self
                .series
                .load()
                .iter()
                .map(|(app, series)| (app.to_string(), series.snapshot()))
                .collect(),
            open_connections: self.open_connections.load(Ordering::Relaxed),
            max_connections: self.max_connections,
            table_version: table.source.version,
            table_published: table.published,
        }
    }
}

/// An open client connection, counted until dropped.
pub(crate) struct OpenConnection(Arc<Metrics>);

impl Drop for OpenConnection {
    fn drop(&mut self) {
        self.0.open_connections.fetch_sub(1, Ordering::Relaxed);
    }
}

/// The values of one series at one moment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct SeriesSnapshot {
    codes: [u64; 5],
    buckets: [u64; BUCKETS.len() + 1],
    sum_us: u64,
    upstream_errors: [u64; 3],
}

/// Every value at one moment: what [`render`] writes.
#[derive(Debug, Clone)]
struct Snapshot {
    /// By `app` label, in order.
    series: BTreeMap<String, SeriesSnapshot>,
    open_connections: u64,
    max_connections: u64,
    table_version: u64,
    table_published: SystemTime,
}

/// Writes `snapshot` in the text exposition format.
fn render(snapshot: &Snapshot) -> String {
    let mut out = String::with_capacity(512 + snapshot.series.len() * 2048);
    family(&mut out, REQUESTS, "counter", "Requests answered, by app and status class.");
    for (app, series) in &snapshot.series {
        for (code, count) in CLASSES.iter().zip(series.codes) {
            sample(&mut out, REQUESTS, &[("app", app), ("code", code)], count);
        }
    }
    family(&mut out, DURATION, "histogram", "Time from a request's arrival to its response head, by app.");
    let bucket = format!("{DURATION}_bucket");
    for (app, series) in &snapshot.series {
        let mut cumulative = 0;
        for (bound, count) in BUCKETS.iter().zip(series.buckets) {
            cumulative += count;
            sample(&mut out, &bucket, &[("app", app), ("le", &bound.to_string())], cumulative);
        }
        let count = cumulative + series.buckets[BUCKETS.len()];
        sample(&mut out, &bucket, &[("app", app), ("le", "+Inf")], count);
        sample(&mut out, &format!("{DURATION}_sum"), &[("app", app)], series.sum_us as f64 / 1e6);
        sample(&mut out, &format!("{DURATION}_count"), &[("app", app)], count);
    }
    family(&mut out, UPSTREAM_ERRORS, "counter", "Failed attempts to reach a process, by app and kind.");
    for (app, series) in &snapshot.series {
        for (kind, count) in UpstreamError::ALL.iter().zip(series.upstream_errors) {
            sample(&mut out, UPSTREAM_ERRORS, &[("app", app), ("kind", kind.label())], count);
        }
    }
    family(&mut out, OPEN_CONNECTIONS, "gauge", "Client connections being served.");
    sample(&mut out, OPEN_CONNECTIONS, &[], snapshot.open_connections);
    family(&mut out, MAX_CONNECTIONS, "gauge", "How many client connections may be served at once.");
    sample(&mut out, MAX_CONNECTIONS, &[], snapshot.max_connections);
    family(&mut out, TABLE_VERSION, "gauge", "The version of the route table served.");
    sample(&mut out, TABLE_VERSION, &[], snapshot.table_version);
    family(
        &mut out,
        TABLE_CHANGED,
        "gauge",
        "When the router began serving its route table, in seconds since the Unix epoch.",
    );
    let published = snapshot.table_published.duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default();
    sample(&mut out, TABLE_CHANGED, &[], format_args!("{:.3}", published.as_secs_f64()));
    out
}

/// Writes the `# HELP` and `# TYPE` lines of a metric family.
fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {}", Escaped(help, false));
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

/// Writes one sample line.
fn sample(out: &mut String, name: &str, labels: &[(&str, &str)], value: impl fmt::Display) {
    out.push_str(name);
    if !labels.is_empty() {
        out.push('{');
        for (i, (label, value)) in labels.iter().enumerate() {
            let comma = if i == 0 { "" } else { "," };
            let _ = write!(out, "{comma}{label}=\"{}\"", Escaped(value, true));
        }
        out.push('}');
    }
    let _ = writeln!(out, " {value}");
}

/// Text escaped for the exposition format: `\` as `\\` and a line feed as `\n`; in a
/// label value (`.1`) also `"` as `\"`.
struct Escaped<'a>(&'a str, bool);

impl fmt::Display for Escaped<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Self(text, label) = *self;
        let mut rest = text;
        while let Some(at) = rest.find(|c| matches!(c, '\\' | '\n') || (label && c == '"')) {
            f.write_str(&rest[..at])?;
            f.write_str(match rest.as_bytes()[at] {
                b'\\' => "\\\\",
                b'\n' => "\\n",
                _ => "\\\"",
            })?;
            rest = &rest[at + 1..];
        }
        f.write_str(rest)
    }
}

/// Serves `GET /metrics` on `listener` (plain HTTP/1.1) until the future is dropped:
/// 404 for any other path, 405 for any other method. Each connection is a task of
/// `connections`, which the caller cuts at shutdown.
pub(crate) async fn serve(
    listener: TcpListener,
    metrics: Arc<Metrics>,
    routes: Arc<Routes>,
    connections: TaskGroup,
    header_read_timeout: Duration,
) {
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new()).header_read_timeout(header_read_timeout);
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                tracing::warn!(error = %e, "cannot accept a metrics connection");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let (metrics, routes) = (metrics.clone(), routes.clone());
        let service = service_fn(move |req| {
            let response = answer(&req, &metrics, &routes);
            async move { Ok::<_, Infallible>(response) }
        });
        let connection = http.serve_connection(TokioIo::new(stream), service);
        connections.spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(%peer, error = %ErrorChain(&e), "metrics connection ended with an error");
            }
        });
    }
}

/// The answer to one request of the admin listener.
fn answer(req: &Request<Incoming>, metrics: &Metrics, routes: &Routes) -> Response<Full<Bytes>> {
    let status = |status: StatusCode| {
        let mut response = Response::new(Full::new(Bytes::from(format!("{status}\n"))));
        *response.status_mut() = status;
        response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
        response
    };
    if req.uri().path() != METRICS_PATH {
        return status(StatusCode::NOT_FOUND);
    }
    if req.method() != Method::GET {
        let mut response = status(StatusCode::METHOD_NOT_ALLOWED);
        response.headers_mut().insert(ALLOW, HeaderValue::from_static("GET"));
        return response;
    }
    let text = render(&metrics.snapshot(&routes.load()));
    let mut response = Response::new(Full::new(Bytes::from(text)));
    response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE_TEXT));
    response.headers_mut().insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snapshot(series: Vec<(&str, SeriesSnapshot)>) -> Snapshot {
        Snapshot {
            series: series.into_iter().map(|(app, s)| (app.to_owned(), s)).collect(),
            open_connections: 3,
            max_connections: 100,
            table_version: 7,
            table_published: SystemTime::UNIX_EPOCH + Duration::from_millis(1_700_000_000_250),
        }
    }

    /// A label value read back from a rendered line, from its opening quote; the rest
    /// of the line after the closing quote.
    fn unescape(quoted: &str) -> Option<(String, &str)> {
        let mut out = String::new();
        let mut chars = quoted.strip_prefix('"')?.char_indices();
        while let Some((at, c)) = chars.next() {
            match c {
                '"' => return Some((out, &quoted[at + 2..])),
                '\\' => match chars.next()?.1 {
                    '\\' => out.push('\\'),
                    '"' => out.push('"'),
                    'n' => out.push('\n'),
                    _ => return None,
                },
                '\n' => return None,
                c => out.push(c),
            }
        }
        None
    }

    #[test]
    fn every_family_is_announced_and_gauges_are_written() {
        let text = render(&snapshot(vec![(UNROUTED, SeriesSnapshot::default())]));
        for (name, kind) in [
            (REQUESTS, "counter"),
            (DURATION, "histogram"),
            (UPSTREAM_ERRORS, "counter"),
            (OPEN_CONNECTIONS, "gauge"),
            (MAX_CONNECTIONS, "gauge"),
            (TABLE_VERSION, "gauge"),
            (TABLE_CHANGED, "gauge"),
        ] {
            assert!(text.contains(&format!("\n# TYPE {name} {kind}\n")), "{name}");
            assert!(text.contains(&format!("# HELP {name} ")), "{name}");
        }
        let lines: Vec<&str> = text.lines().collect();
        for line in [
            "paas_router_requests_total{app=\"\",code=\"2xx\"} 0",
            "paas_router_upstream_errors_total{app=\"\",kind=\"timeout\"} 0",
            "paas_router_open_connections 3",
            "paas_router_max_connections 100",
            "paas_router_route_table_version 7",
            "paas_router_route_table_last_change_timestamp_seconds 1700000000.250",
        ] {
            assert!(lines.contains(&line), "{line} in\n{text}");
        }
        assert!(text.ends_with('\n'));
    }

    #[test]
    fn histogram_buckets_are_cumulative_and_end_with_the_count() {
        let metrics = Metrics::new(10);
        let series = metrics.series("hello");
        for ms in [1, 5, 7, 30, 30, 200, 20_000] {
            series.observe(StatusCode::OK, Duration::from_millis(ms));
        }
        series.observe(StatusCode::BAD_GATEWAY, Duration::from_micros(10_001));
        let snapshot =
            Snapshot { series: BTreeMap::from([("hello".into(), series.snapshot())]), ..snapshot(vec![]) };
        let text = render(&snapshot);
        let buckets: Vec<(&str, &str)> = text
            .lines()
            .filter_map(|line| {
                line.strip_prefix("paas_router_request_duration_seconds_bucket{app=\"hello\",le=\"")
            })
            .map(|rest| rest.split_once("\"} ").unwrap())
            .collect();
        assert_eq!(
            buckets,
            [
                ("0.005", "2"),
                ("0.01", "3"),
                ("0.025", "4"),
                ("0.05", "6"),
                ("0.1", "6"),
                ("0.25", "7"),
                ("0.5", "7"),
                ("1", "7"),
                ("2.5", "7"),
                ("5", "7"),
                ("10", "7"),
                ("+Inf", "8"),
            ]
        );
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines.contains(&"paas_router_request_duration_seconds_count{app=\"hello\"} 8"), "{text}");
        assert!(
            lines.contains(&"paas_router_request_duration_seconds_sum{app=\"hello\"} 20.283001"),
            "{text}"
        );
        assert!(lines.contains(&"paas_router_requests_total{app=\"hello\",code=\"2xx\"} 7"));
        assert!(lines.contains(&"paas_router_requests_total{app=\"hello\",code=\"5xx\"} 1"));
        assert!(lines.contains(&"paas_router_requests_total{app=\"hello\",code=\"4xx\"} 0"));
    }

    #[test]
    fn label_values_and_help_are_escaped() {
        let text = render(&snapshot(vec![("a\"b\\c\nd", SeriesSnapshot::default())]));
        assert!(
            text.lines().any(|line| line == r#"paas_router_requests_total{app="a\"b\\c\nd",code="1xx"} 0"#),
            "{text}"
        );
        assert_eq!(Escaped("say \"hi\"\\\n", false).to_string(), "say \"hi\"\\\\\\n");
        assert_eq!(Escaped("say \"hi\"\\\n", true).to_string(), "say \\\"hi\\\"\\\\\\n");
    }

    #[test]
    fn responses_count_where_they_are_marked_and_classes_are_bounded() {
        let metrics = Metrics::new(10);
        let mut marked = Served::default();
        marked.mark(|| metrics.for_app(&AppName::parse("hello").unwrap()));
        marked.mark(|| metrics.for_target(&Target::Controller));
        metrics.record(marked, StatusCode::OK, Duration::from_millis(1));
        for status in [404, 999, 101] {
            let status = StatusCode::from_u16(status).unwrap();
            metrics.record(Served::default(), status, Duration::from_millis(1));
        }
        let series = metrics.series.load();
        assert_eq!(series["hello"].snapshot().codes, [0, 1, 0, 0, 0]);
        assert_eq!(series[UNROUTED].snapshot().codes, [1, 0, 0, 1, 1]);
        assert!(!series.contains_key(CONTROLLER), "the first mark wins");
        let guard = Arc::new(Metrics::new(0));
        let open = guard.open_connection();
        assert_eq!(guard.open_connections.load(Ordering::Relaxed), 1);
        drop(open);
        assert_eq!(guard.open_connections.load(Ordering::Relaxed), 0);
        assert_eq!(guard.max_connections, 1);
    }

    proptest::proptest! {
        #[test]
        fn any_label_value_renders_to_one_well_formed_line(value in "[a-z\\\\\"\n\r\t{}=,]{0,24}", raw: String) {
            for value in [value, raw] {
                let mut out = String::new();
                sample(&mut out, REQUESTS, &[("app", &value), ("code", "2xx")], 5);
                let line = out.strip_suffix('\n').unwrap();
                proptest::prop_assert!(!line.contains('\n'));
                let rest = line.strip_prefix("paas_router_requests_total{app=").unwrap();
                let (read, rest) = unescape(rest).unwrap();
                proptest::prop_assert_eq!(&read, &value);
                proptest::prop_assert_eq!(rest, ",code=\"2xx\"} 5");
            }
        }
    }
}
