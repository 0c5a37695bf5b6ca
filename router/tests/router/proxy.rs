//! Requests through the router: routing, balancing, failures, headers.

use std::collections::BTreeMap;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::HOST;
use hyper::{Request, StatusCode};

use crate::helpers::{dead_addr, route, table, TestBackend, TestFeed, TestRouter, DOMAIN};

#[tokio::test]
async fn routes_by_host_whatever_its_case_port_or_trailing_dot() {
    let hello = TestBackend::spawn("hello").await;
    let other = TestBackend::spawn("other").await;
    let feed = TestFeed::spawn(table(
        1,
        vec![
            ("hello.paas.test", route("hello", &[hello.addr])),
            ("other.example.com", route("other", &[other.addr])),
        ],
    ))
    .await;
    let router = TestRouter::spawn_fed(&feed, 1).await;
    for host in ["hello.paas.test", "HELLO.Paas.Test", "hello.paas.test:8080", "hello.paas.test."] {
        let echo = router.get(host, "/some/path?q=1").await.echo();
        assert_eq!(echo.backend, "hello", "{host}");
        assert_eq!(echo.path, "/some/path?q=1");
        assert_eq!(echo.header("host"), Some(host), "the app sees the Host the client sent");
    }
    assert_eq!(router.get("other.example.com", "/").await.echo().backend, "other");
}

#[tokio::test]
async fn round_robin_reaches_every_process_evenly() {
    let backends = [
        TestBackend::spawn("web.1").await,
        TestBackend::spawn("web.2").await,
        TestBackend::spawn("web.3").await,
    ];
    let addrs: Vec<_> = backends.iter().map(|b| b.addr).collect();
    let feed = TestFeed::spawn(table(1, vec![("hello.paas.test", route("hello", &addrs))])).await;
    let router = TestRouter::spawn_fed(&feed, 1).await;
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    for _ in 0..30 {
        *seen.entry(router.get("hello.paas.test", "/").await.echo().backend).or_default() += 1;
    }
    assert_eq!(seen, BTreeMap::from([("web.1".into(), 10), ("web.2".into(), 10), ("web.3".into(), 10)]));
}

#[tokio::test]
async fn unknown_host_is_a_404_page_naming_no_internals() {
    let hello = TestBackend::spawn("hello").await;
    let feed = TestFeed::spawn(table(1, vec![("hello.paas.test", route("hello", &[hello.addr]))])).await;
    let router = TestRouter::spawn_fed(&feed, 1).await;
    for host in ["nope.paas.test", "hello.paas.test.evil.com", "127.0.0.1", "[::1]:80"] {
        let reply = router.get(host, "/").await;
        assert_eq!(reply.status, StatusCode::NOT_FOUND, "{host}");
        assert_eq!(reply.headers["content-type"], "text/html; charset=utf-8");
        assert!(reply.body.contains("No such app"), "{}", reply.body);
        for internal in ["127.0.0.1", &hello.addr.port().to_string(), "hyper", "paas-router", host] {
            assert!(!reply.body.contains(internal), "the page names {internal:?}: {}", reply.body);
        }
    }
    assert_eq!(hello.hits(), 0);
}

#[tokio::test]
async fn an_app_without_web_processes_is_a_503() {
    let feed = TestFeed::spawn(table(1, vec![("idle.paas.test", route("idle", &[]))])).await;
    let router = TestRouter::spawn_fed(&feed, 1).await;
    let reply = router.get("idle.paas.test", "/").await;
    assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(reply.body.contains("no web processes"), "{}", reply.body);
}

#[tokio::test]
async fn a_dead_process_is_skipped_for_the_next_one_body_and_all() {
    let live = TestBackend::spawn("live").await;
    let dead = dead_addr().await;
    let feed = TestFeed::spawn(table(1, vec![("hello.paas.test", route("hello", &[dead, live.addr]))])).await;
    let router = TestRouter::spawn_fed(&feed, 1).await;
    for i in 0..4 {
        let request = Request::post("/upload")
            .header(HOST, "hello.paas.test")
            .body(Full::new(Bytes::from(format!("payload {i}"))))
            .unwrap();
        let echo = router.send(request).await.echo();
        assert_eq!(echo.backend, "live");
        assert_eq!(echo.method, "POST");
        assert_eq!(echo.body, format!("payload {i}"));
    }
    assert_eq!(live.hits(), 4);
}

#[tokio::test]
async fn unreachable_processes_are_a_502() {
    let feed = TestFeed::spawn(table(
        1,
        vec![
            ("one.paas.test", route("one", &[dead_addr().await])),
            ("two.paas.test", route("two", &[dead_addr().await, dead_addr().await])),
        ],
    ))
    .await;
    let router = TestRouter::spawn_fed(&feed, 1).await;
    for host in ["one.paas.test", "two.paas.test"] {
        let reply = router.get(host, "/").await;
        assert_eq!(reply.status, StatusCode::BAD_GATEWAY, "{host}");
        assert!(!reply.body.contains("127.0.0.1"), "{}", reply.body);
    }
}

#[tokio::test]
async fn a_process_slower_than_the_response_timeout_is_a_504() {
    let slow = TestBackend::spawn("slow").await;
    let feed = TestFeed::spawn(table(1, vec![("slow.paas.test", route("slow", &[slow.addr]))])).await;
    let url = feed.url();
    let router = TestRouter::spawn(|config| {
        config.feed = Some(crate::helpers::feed_config(url));
        config.response_timeout = Duration::from_millis(200);
    })
    .await;
    router.wait_for_version(1).await;
    assert_eq!(router.get("slow.paas.test", "/never").await.status, StatusCode::GATEWAY_TIMEOUT);
    assert_eq!(router.get("slow.paas.test", "/").await.echo().backend, "slow", "the router still serves");
}

#[tokio::test]
async fn forwarded_headers_are_the_routers_not_the_clients() {
    let hello = TestBackend::spawn("hello").await;
    let feed = TestFeed::spawn(table(1, vec![("hello.paas.test", route("hello", &[hello.addr]))])).await;
    let router = TestRouter::spawn_fed(&feed, 1).await;
    let request = Request::get("/")
        .header(HOST, "Hello.paas.test:8080")
        .header("x-forwarded-for", "6.6.6.6")
        .header("x-forwarded-for", "7.7.7.7")
        .header("x-forwarded-proto", "https")
        .header("x-forwarded-host", "evil.example.com")
        .header("x-forwarded-port", "443")
        .header("forwarded", "for=6.6.6.6;proto=https")
        .header("authorization", "Bearer app-token")
        .header("cookie", "session=1")
        .body(Full::default())
        .unwrap();
    let echo = router.send(request).await.echo();
    assert_eq!(echo.header("x-forwarded-for"), Some("127.0.0.1"));
    assert_eq!(echo.header("x-forwarded-proto"), Some("http"));
    assert_eq!(echo.header("x-forwarded-host"), Some("Hello.paas.test:8080"));
    assert_eq!(echo.header("x-forwarded-port"), Some(router.addr.port().to_string().as_str()));
    assert_eq!(echo.header("forwarded"), None);
    assert_eq!(echo.header("authorization"), Some("Bearer app-token"), "end-to-end headers pass");
    assert_eq!(echo.header("cookie"), Some("session=1"));
}

#[tokio::test]
async fn a_sane_request_id_is_kept_and_any_other_replaced() {
    let hello = TestBackend::spawn("hello").await;
    let feed = TestFeed::spawn(table(1, vec![("hello.paas.test", route("hello", &[hello.addr]))])).await;
    let router = TestRouter::spawn_fed(&feed, 1).await;
    let with_id = |id: &str| {
        Request::get("/")
            .header(HOST, "hello.paas.test")
            .header("x-request-id", id)
            .body(Full::default())
            .unwrap()
    };
    let kept = "Req-42_a.b";
    assert_eq!(router.send(with_id(kept)).await.echo().header("x-request-id"), Some(kept));
    let long = "x".repeat(200);
    assert_eq!(router.send(with_id(&long)).await.echo().header("x-request-id"), Some(long.as_str()));

    let mut generated = Vec::new();
    for bad in ["has space", "semi;colon", &"x".repeat(201)] {
        let echo = router.send(with_id(bad)).await.echo();
        let id = echo.header("x-request-id").unwrap().to_owned();
        assert_ne!(id, bad);
        generated.push(id);
    }
    for _ in 0..2 {
        let echo = router.get("hello.paas.test", "/").await.echo();
        generated.push(echo.header("x-request-id").expect("an id is always sent").to_owned());
    }
    for id in &generated {
        assert_eq!(id.len(), 36, "{id}");
        assert!(id.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-'), "{id}");
    }
    generated.sort_unstable();
    generated.dedup();
    assert_eq!(generated.len(), 5, "every generated id is new");
}

#[tokio::test]
async fn hop_by_hop_headers_stop_at_the_router_both_ways() {
    let hello = TestBackend::spawn("hello").await;
    let feed = TestFeed::spawn(table(1, vec![("hello.paas.test", route("hello", &[hello.addr]))])).await;
    let router = TestRouter::spawn_fed(&feed, 1).await;
    let request = Request::get("/")
        .header(HOST, "hello.paas.test")
        .header("connection", "keep-alive, x-client-secret")
        .header("x-client-secret", "1")
        .header("keep-alive", "timeout=5")
        .header("proxy-authorization", "Basic Zm9vOmJhcg==")
        .header("proxy-connection", "keep-alive")
        .header("te", "trailers")
        .header("trailer", "x-sum")
        .header("upgrade", "websocket")
        .header("x-client-kept", "1")
        .body(Full::default())
        .unwrap();
    let echo = router.send(request).await.echo();
    for gone in [
        "connection",
        "x-client-secret",
        "keep-alive",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "upgrade",
        "transfer-encoding",
    ] {
        assert_eq!(echo.header(gone), None, "{gone} reached the app");
    }
    assert_eq!(echo.header("x-client-kept"), Some("1"));

    let reply = router.get("hello.paas.test", "/hop").await;
    assert_eq!(reply.status, StatusCode::OK);
    for gone in ["x-backend-secret", "keep-alive", "proxy-authenticate", "upgrade", "trailer"] {
        assert!(!reply.headers.contains_key(gone), "{gone} reached the client");
    }
    assert_eq!(reply.headers["x-backend-kept"], "1");
    assert_eq!(reply.body, "hop");
}

#[tokio::test]
async fn platform_hosts_go_to_the_controller_and_the_builder() {
    let controller = TestBackend::spawn("controller").await;
    let builder = TestBackend::spawn("builder").await;
    let hijack = TestBackend::spawn("hijack").await;
    let feed = TestFeed::spawn(table(1, vec![("paas.paas.test", route("hijack", &[hijack.addr]))])).await;
    let url = feed.url();
    let (controller_addr, builder_addr) = (controller.addr, builder.addr);
    let router = TestRouter::spawn(|config| {
        config.feed = Some(crate::helpers::feed_config(url));
        config.controller_addr = Some(controller_addr);
        config.builder_addr = Some(builder_addr);
    })
    .await;
    router.wait_for_version(1).await;
    let echo = router.get(&format!("PAAS.{DOMAIN}"), "/v1/platform").await.echo();
    assert_eq!((echo.backend.as_str(), echo.path.as_str()), ("controller", "/v1/platform"));
    assert_eq!(echo.header("x-forwarded-proto"), Some("http"));
    let echo = router.get(&format!("git.{DOMAIN}:80"), "/hello.git/info/refs").await.echo();
    assert_eq!(echo.backend, "builder");
    assert_eq!(hijack.hits(), 0, "a route cannot take over a platform host");

    let bare = TestRouter::spawn(|_| {}).await;
    for host in [format!("paas.{DOMAIN}"), format!("git.{DOMAIN}")] {
        assert_eq!(bare.get(&host, "/").await.status, StatusCode::NOT_FOUND, "{host} without an address");
    }
}

#[tokio::test]
async fn a_client_that_leaves_before_its_answer_takes_the_request_to_the_process_along() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    // A process that takes the request and never answers, then waits for the router to
    // close the connection.
    let process = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = process.local_addr().unwrap();
    let feed = TestFeed::spawn(table(1, vec![("slow.paas.test", route("slow", &[addr]))])).await;
    let router = TestRouter::spawn_fed(&feed, 1).await;

    let mut client = tokio::net::TcpStream::connect(router.addr).await.unwrap();
    client.write_all(b"GET /wait HTTP/1.1\r\nhost: slow.paas.test\r\n\r\n").await.unwrap();
    let (mut upstream, _) =
        tokio::time::timeout(Duration::from_secs(10), process.accept()).await.unwrap().unwrap();
    let mut request = Vec::new();
    while !request.ends_with(b"\r\n\r\n") {
        let mut byte = [0; 1];
        assert_eq!(upstream.read(&mut byte).await.unwrap(), 1, "the request reached the process");
        request.push(byte[0]);
    }
    assert!(request.starts_with(b"GET /wait HTTP/1.1\r\n"));
    drop(client);
    // The router's response timeout is a minute: only the client's leaving can close
    // this connection within seconds.
    let mut rest = [0; 16];
    let closed = tokio::time::timeout(Duration::from_secs(5), upstream.read(&mut rest)).await;
    assert!(matches!(closed, Ok(Ok(0)) | Ok(Err(_))), "the router let go of the process: {closed:?}");
}
