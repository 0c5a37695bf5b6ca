//! Prometheus metrics on the admin listener: what a scraper of `GET /metrics` reads
//! after real requests through the router, parsed as the text exposition format.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::header::{ALLOW, CONTENT_TYPE};
use hyper::{Method, Request, StatusCode};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use paas_core::routes::{RouteChange, WatchMessage};
use paas_core::Hostname;
use paas_router::RouterConfig;
use tokio::net::TcpStream;

use crate::helpers::{dead_addr, eventually, feed_config, route, table, TestBackend, TestFeed, TestRouter};

/// One sample line: a name, its labels and its value.
#[derive(Debug)]
struct Sample {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

/// A scrape, parsed: the samples and the `# TYPE` of each family.
#[derive(Debug)]
struct Exposition {
    samples: Vec<Sample>,
    types: BTreeMap<String, String>,
}

impl Exposition {
    /// Parses the text exposition format; any line that is not a comment, a `# HELP`,
    /// a `# TYPE` or a well-formed sample fails the test.
    fn parse(text: &str) -> Self {
        assert!(text.ends_with('\n'), "the exposition ends with a line feed");
        let mut samples = Vec::new();
        let mut types = BTreeMap::new();
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                let (name, kind) = rest.split_once(' ').unwrap_or_else(|| panic!("bad TYPE: {line}"));
                assert!(
                    ["counter", "gauge", "histogram", "summary", "untyped"].contains(&kind),
                    "bad type: {line}"
                );
                assert!(types.insert(name.to_owned(), kind.to_owned()).is_none(), "TYPE twice: {line}");
            } else if line.starts_with("# HELP ") || line.starts_with('#') {
                continue;
            } else {
                samples.push(parse_sample(line));
            }
        }
        for sample in &samples {
            let family = ["_bucket", "_sum", "_count"]
                .iter()
                .find_map(|suffix| sample.name.strip_suffix(suffix).filter(|f| types.contains_key(*f)))
                .unwrap_or(&sample.name);
            assert!(types.contains_key(family), "{} has no TYPE", sample.name);
        }
        Self { samples, types }
    }

    /// The value of the sample `name` with exactly `labels`.
    fn value(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let labels: BTreeMap<String, String> =
            labels.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        let mut found = self.samples.iter().filter(|s| s.name == name && s.labels == labels);
        let value = found.next()?.value;
        assert!(found.next().is_none(), "{name} {labels:?} appears twice");
        Some(value)
    }

    /// [`Exposition::value`], which must be there.
    #[track_caller]
    fn get(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.value(name, labels).unwrap_or_else(|| panic!("no {name} {labels:?} in {:#?}", self.samples))
    }

    /// Every value of label `label` among samples of `name`.
    fn label_values(&self, name: &str, label: &str) -> BTreeSet<String> {
        self.samples.iter().filter(|s| s.name == name).filter_map(|s| s.labels.get(label).cloned()).collect()
    }

    /// The `(le, count)` pairs of a histogram's buckets for `app`, in order.
    fn buckets(&self, name: &str, app: &str) -> Vec<(f64, f64)> {
        let bucket = format!("{name}_bucket");
        self.samples
            .iter()
            .filter(|s| s.name == bucket && s.labels.get("app").map(String::as_str) == Some(app))
            .map(|s| {
                let le = &s.labels["le"];
                let le = if le == "+Inf" { f64::INFINITY } else { le.parse().unwrap() };
                (le, s.value)
            })
            .collect()
    }
}

/// `name{label="value",...} value`, label values with `\\`, `\"` and `\n` escapes.
fn parse_sample(line: &str) -> Sample {
    let fail = || -> ! { panic!("not a sample line: {line:?}") };
    let name_end = line.find(['{', ' ']).unwrap_or_else(|| fail());
    let name = &line[..name_end];
    if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b':') {
        fail();
    }
    let mut labels = BTreeMap::new();
    let mut rest = &line[name_end..];
    if let Some(mut inner) = rest.strip_prefix('{') {
        loop {
            if let Some(after) = inner.strip_prefix('}') {
                rest = after;
                break;
            }
            let (label, after) = inner.split_once("=\"").unwrap_or_else(|| fail());
            let mut value = String::new();
            let mut chars = after.char_indices();
            let end = loop {
                match chars.next().unwrap_or_else(|| fail()) {
                    (at, '"') => break at,
                    (_, '\\') => match chars.next().unwrap_or_else(|| fail()).1 {
                        '\\' => value.push('\\'),
                        '"' => value.push('"'),
                        'n' => value.push('\n'),
                        _ => fail(),
                    },
                    (_, c) => value.push(c),
                }
            };
            assert!(labels.insert(label.to_owned(), value).is_none(), "label twice: {line}");
            inner = &after[end + 1..];
            inner = inner.strip_prefix(',').unwrap_or(inner);
        }
    }
    let value = rest.strip_prefix(' ').unwrap_or_else(|| fail());
    let value = value.parse().unwrap_or_else(|_| fail());
    Sample { name: name.to_owned(), labels, value }
}

/// A router with metrics on a free port; returns it and the metrics address.
async fn spawn_router(configure: impl FnOnce(&mut RouterConfig)) -> (TestRouter, SocketAddr) {
    let router = TestRouter::spawn(|config| {
        config.metrics_addr = Some("127.0.0.1:0".parse().unwrap());
        configure(config);
    })
    .await;
    let state = router.state.clone();
    let addr = eventually("the metrics listener", || std::future::ready(state.metrics_addr())).await;
    (router, addr)
}

/// Sends `method path` to the admin listener; the status, content type and body.
async fn admin(addr: SocketAddr, method: Method, path: &str) -> (StatusCode, hyper::HeaderMap, String) {
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let request =
        Request::builder().method(method).uri(format!("http://{addr}{path}")).body(Full::default()).unwrap();
    let response = client.request(request).await.expect("the metrics listener answers");
    let (parts, body) = response.into_parts();
    let body = body.collect().await.unwrap().to_bytes();
    (parts.status, parts.headers, String::from_utf8(body.to_vec()).unwrap())
}

/// `GET /metrics`, parsed.
async fn scrape(addr: SocketAddr) -> Exposition {
    let (status, headers, body) = admin(addr, Method::GET, "/metrics").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(headers[CONTENT_TYPE], "text/plain; version=0.0.4; charset=utf-8");
    Exposition::parse(&body)
}

const REQUESTS: &str = "paas_router_requests_total";
const DURATION: &str = "paas_router_request_duration_seconds";
const UPSTREAM_ERRORS: &str = "paas_router_upstream_errors_total";

#[tokio::test]
async fn requests_latency_and_upstream_errors_are_counted_by_app() {
    let hello = TestBackend::spawn("hello").await;
    let dead = dead_addr().await;
    let feed = TestFeed::spawn(table(
        1,
        vec![("hello.paas.test", route("hello", &[hello.addr])), ("dead.paas.test", route("dead", &[dead]))],
    ))
    .await;
    let url = feed.url();
    let (router, metrics) = spawn_router(|config| config.feed = Some(feed_config(url))).await;
    router.wait_for_version(1).await;

    for _ in 0..3 {
        assert_eq!(router.get("hello.paas.test", "/").await.status, StatusCode::OK);
    }
    assert_eq!(router.get("nobody.paas.test", "/").await.status, StatusCode::NOT_FOUND);
    assert!(router.get("evil\"app\\.paas.test", "/").await.status.is_client_error());
    assert_eq!(router.get("dead.paas.test", "/").await.status, StatusCode::BAD_GATEWAY);

    let scraped = scrape(metrics).await;
    for (name, kind) in [
        (REQUESTS, "counter"),
        (DURATION, "histogram"),
        (UPSTREAM_ERRORS, "counter"),
        ("paas_router_open_connections", "gauge"),
        ("paas_router_route_table_version", "gauge"),
        ("paas_router_route_table_last_change_timestamp_seconds", "gauge"),
    ] {
        assert_eq!(scraped.types.get(name).map(String::as_str), Some(kind), "{name}");
    }
    let requests = |app, code| scraped.get(REQUESTS, &[("app", app), ("code", code)]);
    assert_eq!(requests("hello", "2xx"), 3.0);
    assert_eq!(requests("", "4xx"), 2.0, "unknown hosts count under app=\"\"");
    assert_eq!(requests("dead", "5xx"), 1.0);
    for (app, code) in [("hello", "4xx"), ("hello", "5xx"), ("", "2xx"), ("", "5xx"), ("dead", "2xx")] {
        assert_eq!(requests(app, code), 0.0, "{app} {code}");
    }
    // Only route table apps make series, whatever Host a client sends.
    let apps = scraped.label_values(REQUESTS, "app");
    assert_eq!(apps, BTreeSet::from(["".to_owned(), "dead".to_owned(), "hello".to_owned()]));

    let errors = |app, kind| scraped.get(UPSTREAM_ERRORS, &[("app", app), ("kind", kind)]);
    assert_eq!(errors("dead", "connect"), 1.0);
    assert_eq!(errors("dead", "failed"), 0.0);
    assert_eq!(errors("dead", "timeout"), 0.0);
    assert_eq!(errors("hello", "connect"), 0.0);

    for (app, count) in [("hello", 3.0), ("", 2.0), ("dead", 1.0)] {
        assert_eq!(scraped.get(&format!("{DURATION}_count"), &[("app", app)]), count, "{app}");
        let buckets = scraped.buckets(DURATION, app);
        assert!(buckets.len() > 5, "{buckets:?}");
        assert!(buckets.windows(2).all(|w| w[0].0 < w[1].0 && w[0].1 <= w[1].1), "cumulative: {buckets:?}");
        assert_eq!(buckets.last().copied(), Some((f64::INFINITY, count)), "{app}");
        let sum = scraped.get(&format!("{DURATION}_sum"), &[("app", app)]);
        assert!(sum > 0.0 && sum < 10.0, "{app}: {sum}");
    }
    assert_eq!(scraped.get("paas_router_route_table_version", &[]), 1.0);

    // Counters only grow: the same requests again add up.
    assert_eq!(router.get("hello.paas.test", "/").await.status, StatusCode::OK);
    let again = scrape(metrics).await;
    assert_eq!(again.get(REQUESTS, &[("app", "hello"), ("code", "2xx")]), 4.0);
    assert_eq!(again.get(&format!("{DURATION}_count"), &[("app", "hello")]), 4.0);
}

#[tokio::test]
async fn open_connections_count_a_connection_while_it_is_held() {
    let (router, metrics) = spawn_router(|config| config.max_connections = 50).await;
    let open = || async move { scrape(metrics).await.get("paas_router_open_connections", &[]) };
    assert_eq!(scrape(metrics).await.get("paas_router_max_connections", &[]), 50.0);
    let before = open().await;

    let held = TcpStream::connect(router.addr).await.unwrap();
    eventually("the held connection to be counted", || async {
        (open().await == before + 1.0).then_some(())
    })
    .await;
    let second = TcpStream::connect(router.addr).await.unwrap();
    eventually("both to be counted", || async { (open().await == before + 2.0).then_some(()) }).await;
    drop(held);
    drop(second);
    eventually("closed connections to leave the count", || async { (open().await == before).then_some(()) })
        .await;
}

#[tokio::test]
async fn the_route_table_version_and_its_change_time_follow_the_feed() {
    let hello = TestBackend::spawn("hello").await;
    let feed = TestFeed::spawn(table(1, vec![("hello.paas.test", route("hello", &[hello.addr]))])).await;
    let url = feed.url();
    let (router, metrics) = spawn_router(|config| config.feed = Some(feed_config(url))).await;
    router.wait_for_version(1).await;
    let unix = |t: SystemTime| t.duration_since(SystemTime::UNIX_EPOCH).unwrap().as_secs_f64();

    let first = scrape(metrics).await;
    assert_eq!(first.get("paas_router_route_table_version", &[]), 1.0);
    let first_change = first.get("paas_router_route_table_last_change_timestamp_seconds", &[]);
    assert!(first_change <= unix(SystemTime::now()) + 0.001, "{first_change}");
    assert!(first_change > unix(SystemTime::now()) - 60.0, "{first_change}");

    tokio::time::sleep(Duration::from_millis(20)).await;
    let before = unix(SystemTime::now());
    feed.push(&WatchMessage::Changes {
        version: 2,
        changes: vec![RouteChange::Upsert {
            host: Hostname::parse("new.paas.test").unwrap(),
            route: route("new", &[hello.addr]),
        }],
    });
    router.wait_for_version(2).await;
    let second = scrape(metrics).await;
    assert_eq!(second.get("paas_router_route_table_version", &[]), 2.0);
    let second_change = second.get("paas_router_route_table_last_change_timestamp_seconds", &[]);
    assert!(second_change > first_change, "{second_change} > {first_change}");
    assert!(second_change >= before - 0.001, "{second_change} >= {before}");
    assert!(second_change <= unix(SystemTime::now()) + 0.001);

    // Every published table moves both, even one without a change of routes.
    feed.push(&WatchMessage::Changes { version: 3, changes: vec![] });
    router.wait_for_version(3).await;
    let third = scrape(metrics).await;
    assert_eq!(third.get("paas_router_route_table_version", &[]), 3.0);
    assert!(third.get("paas_router_route_table_last_change_timestamp_seconds", &[]) >= second_change);
}

#[tokio::test]
async fn the_admin_listener_serves_only_get_metrics_and_stops_with_the_router() {
    let (router, metrics) = spawn_router(|_| {}).await;
    let (status, _, _) = admin(metrics, Method::GET, "/").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _, _) = admin(metrics, Method::GET, "/metrics/x").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    for method in [Method::POST, Method::PUT, Method::DELETE] {
        let (status, headers, _) = admin(metrics, method.clone(), "/metrics").await;
        assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED, "{method}");
        assert_eq!(headers[ALLOW], "GET");
    }
    // The admin listener's own requests are not the router's.
    let scraped = scrape(metrics).await;
    assert_eq!(scraped.get(&format!("{DURATION}_count"), &[("app", "")]), 0.0);
    // A metrics connection held open is closed by the router's shutdown too.
    let held = TcpStream::connect(metrics).await.unwrap();

    let state = router.state.clone();
    router.stop().await.unwrap();
    assert!(TcpStream::connect(metrics).await.is_err(), "the metrics listener is closed");
    assert_eq!(state.metrics_addr(), None);
    let mut buf = [0u8; 1];
    let read = tokio::time::timeout(Duration::from_secs(5), async {
        held.readable().await.unwrap();
        held.try_read(&mut buf)
    })
    .await
    .expect("the held connection ends");
    assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");

    let off = TestRouter::spawn(|_| {}).await;
    assert_eq!(off.get("nobody.paas.test", "/").await.status, StatusCode::NOT_FOUND);
    assert_eq!(off.state.metrics_addr(), None, "no metrics listener unless configured");
}
