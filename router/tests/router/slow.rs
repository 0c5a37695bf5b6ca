//! Slow clients: a stalled request head, TLS handshake or request body is closed
//! within 1.5 times its timeout while requests on other connections keep succeeding;
//! an upload that keeps progressing is served however long it takes; and connections
//! beyond `max_connections` wait until one closes.
//!
//! The timeouts are about a second, and the lower bounds generous (half the timeout),
//! so a loaded two-core machine passes; the upper bound is the one the issue asks for.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hyper::StatusCode;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::{feed_config, route, table, TestBackend, TestFeed, TestRouter};

const HOST: &str = "hello.paas.test";
const TIMEOUT: Duration = Duration::from_secs(1);

async fn slow_router(
    backend: &TestBackend,
    configure: impl FnOnce(&mut paas_router::RouterConfig),
) -> TestRouter {
    let feed = TestFeed::spawn(table(1, vec![(HOST, route("hello", &[backend.addr]))])).await;
    let url = feed.url();
    let router = TestRouter::spawn_tls(|config| {
        config.feed = Some(feed_config(url));
        config.header_read_timeout = TIMEOUT;
        config.tls_handshake_timeout = TIMEOUT;
        config.body_read_timeout = TIMEOUT;
        configure(config);
    })
    .await;
    router.wait_for_version(1).await;
    router
}

/// Reads until the router closes `stream`; returns what it sent and how long the
/// close took from `since`.
async fn until_closed(stream: &mut TcpStream, since: Instant) -> (String, Duration) {
    let mut answer = Vec::new();
    let read = tokio::time::timeout(TIMEOUT * 10, stream.read_to_end(&mut answer)).await;
    assert!(read.is_ok(), "the router never closed the connection");
    (String::from_utf8_lossy(&answer).into_owned(), since.elapsed())
}

fn assert_within_bounds(what: &str, took: Duration) {
    assert!(took >= TIMEOUT / 2, "{what}: closed after {took:?}, before its timeout");
    assert!(took <= TIMEOUT * 3 / 2, "{what}: closed after {took:?}, more than 1.5 x {TIMEOUT:?}");
}

/// Sends requests on fresh connections until `stop`; counts successes and failures.
fn keep_requesting(
    router: Arc<TestRouter>,
    stop: Arc<AtomicBool>,
) -> tokio::task::JoinHandle<(usize, usize)> {
    tokio::spawn(async move {
        let (mut ok, mut failed) = (0, 0);
        while !stop.load(Ordering::SeqCst) {
            let request = hyper::Request::get("/ping")
                .header("host", HOST)
                .header("connection", "close")
                .body(Default::default())
                .unwrap();
            match router.try_send(request).await {
                Ok(reply) if reply.status == StatusCode::OK => ok += 1,
                _ => failed += 1,
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        (ok, failed)
    })
}

#[tokio::test]
async fn stalled_heads_handshakes_and_bodies_are_closed_in_time_while_others_are_served() {
    let hello = TestBackend::spawn("hello").await;
    let router = Arc::new(slow_router(&hello, |_| {}).await);
    let stop = Arc::new(AtomicBool::new(false));
    let others = keep_requesting(router.clone(), stop.clone());

    let head = async {
        let mut stream = TcpStream::connect(router.addr).await.unwrap();
        stream
            .write_all(format!("GET /stalled HTTP/1.1\r\nhost: {HOST}\r\nx-half").as_bytes())
            .await
            .unwrap();
        let (_, took) = until_closed(&mut stream, Instant::now()).await;
        assert_within_bounds("a stalled head", took);
    };
    let handshake = async {
        let mut stream = TcpStream::connect(router.https_addr.unwrap()).await.unwrap();
        // The first bytes of a TLS record, then nothing.
        stream.write_all(&[0x16, 0x03, 0x01, 0x02]).await.unwrap();
        let (_, took) = until_closed(&mut stream, Instant::now()).await;
        assert_within_bounds("a stalled TLS handshake", took);
    };
    let body = async {
        let mut stream = TcpStream::connect(router.addr).await.unwrap();
        let head = format!("POST /upload HTTP/1.1\r\nhost: {HOST}\r\ncontent-length: 1000\r\n\r\n");
        stream.write_all(head.as_bytes()).await.unwrap();
        stream.write_all(&[b'x'; 10]).await.unwrap();
        let (answer, took) = until_closed(&mut stream, Instant::now()).await;
        assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
        assert_within_bounds("a stalled body", took);
    };
    tokio::join!(head, handshake, body);
    stop.store(true, Ordering::SeqCst);
    let (ok, failed) = others.await.unwrap();
    assert!(ok >= 10, "requests on other connections kept succeeding: {ok} ok");
    assert_eq!(failed, 0, "no request on another connection failed");
    // The process saw the pings and the stalled body's head, not the stalled head.
    assert_eq!(hello.hits(), ok + 1);
}

#[tokio::test]
async fn an_upload_that_keeps_progressing_outlasts_the_body_timeout() {
    let hello = TestBackend::spawn("hello").await;
    let router = slow_router(&hello, |_| {}).await;
    slow_upload(&router).await;
}

#[tokio::test]
async fn an_upload_longer_than_the_response_timeout_is_answered() {
    // The process can only answer once the body is in: its time to answer counts from
    // the body's last byte, not from the request's head.
    let hello = TestBackend::spawn("hello").await;
    let router = slow_router(&hello, |config| config.response_timeout = TIMEOUT).await;
    slow_upload(&router).await;
}

/// Uploads a body one byte per 200 ms (over twice [`TIMEOUT`]) and checks that the
/// process got it whole and answered.
async fn slow_upload(router: &TestRouter) {
    let mut stream = TcpStream::connect(router.addr).await.unwrap();
    let body = b"slow and steady";
    let head = format!(
        "POST /upload HTTP/1.1\r\nhost: {HOST}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let started = Instant::now();
    for byte in body {
        tokio::time::sleep(Duration::from_millis(200)).await;
        stream.write_all(&[*byte]).await.unwrap();
    }
    assert!(started.elapsed() > TIMEOUT * 2);
    let (answer, _) = until_closed(&mut stream, Instant::now()).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.contains("\"body\":\"slow and steady\""), "{answer}");
}

#[tokio::test]
async fn connections_beyond_the_limit_wait_until_one_closes() {
    let hello = TestBackend::spawn("hello").await;
    let router = slow_router(&hello, |config| {
        config.max_connections = 5;
        // Idle connections must stay for the test's length.
        config.header_read_timeout = Duration::from_secs(30);
    })
    .await;
    let mut open = Vec::new();
    for _ in 0..5 {
        let mut stream = TcpStream::connect(router.addr).await.unwrap();
        stream.write_all(format!("GET /held HTTP/1.1\r\nhost: {HOST}\r\n\r\n").as_bytes()).await.unwrap();
        let mut buf = [0u8; 12];
        stream.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"HTTP/1.1 200");
        open.push(stream);
    }
    // The sixth is accepted by the kernel but not served while five are open.
    let mut sixth = TcpStream::connect(router.addr).await.unwrap();
    let request = format!("GET /sixth HTTP/1.1\r\nhost: {HOST}\r\nconnection: close\r\n\r\n");
    sixth.write_all(request.as_bytes()).await.unwrap();
    let mut buf = [0u8; 12];
    let early = tokio::time::timeout(Duration::from_millis(500), sixth.read_exact(&mut buf)).await;
    assert!(early.is_err(), "the sixth connection was served while five were open");
    assert_eq!(hello.hits(), 5);
    drop(open.pop());
    let (answer, _) = until_closed(&mut sixth, Instant::now()).await;
    assert!(answer.starts_with("HTTP/1.1 200") && answer.contains("/sixth"), "{answer}");
    assert_eq!(hello.hits(), 6);
}
