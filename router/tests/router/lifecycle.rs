//! Start and stop: the table on disk, a cold start without the controller, and a
//! graceful shutdown.

use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use http_body_util::Full;
use hyper::header::HOST;
use hyper::{Request, StatusCode};
use paas_core::routes::{RouteTable, WatchMessage};
use paas_router::persist::ROUTES_FILE;
use tokio::net::TcpStream;

use crate::helpers::{dead_addr, eventually, feed_config, route, table, TestBackend, TestFeed, TestRouter};

#[tokio::test]
async fn a_router_restarted_without_its_controller_serves_the_table_it_saved() {
    let hello = TestBackend::spawn("hello").await;
    let feed = TestFeed::spawn(table(3, vec![("hello.paas.test", route("hello", &[hello.addr]))])).await;
    let temp = tempfile::tempdir().unwrap();
    let state_dir = temp.path().join("router");
    let url = feed.url();
    let first = TestRouter::spawn_in(&state_dir, |config| config.feed = Some(feed_config(url))).await;
    first.wait_for_version(3).await;
    let saved = state_dir.join(ROUTES_FILE);
    let on_disk = eventually("routes.json to hold version 3", || async {
        let text = std::fs::read_to_string(&saved).ok()?;
        serde_json::from_str::<RouteTable>(&text).ok().filter(|t| t.version == 3)
    })
    .await;
    assert_eq!(on_disk, *first.state.routes());
    assert_eq!(std::fs::metadata(&saved).unwrap().permissions().mode() & 0o777, 0o600);
    assert_eq!(std::fs::metadata(&state_dir).unwrap().permissions().mode() & 0o777, 0o700);
    first.stop().await.unwrap();

    // The controller is gone: the feed URL leads nowhere.
    let nowhere =
        paas_router::FeedUrl::parse(&format!("http://{}/v1/internal/routes/watch", dead_addr().await))
            .unwrap();
    let second = TestRouter::spawn_in(&state_dir, |config| config.feed = Some(feed_config(nowhere))).await;
    assert_eq!(second.state.routes().version, 3, "the saved table is loaded before serving");
    assert_eq!(second.get("hello.paas.test", "/").await.echo().backend, "hello");
    second.stop().await.unwrap();
}

#[tokio::test]
async fn a_corrupt_routes_file_is_ignored() {
    let temp = tempfile::tempdir().unwrap();
    let state_dir = temp.path().join("router");
    std::fs::create_dir_all(&state_dir).unwrap();
    std::fs::write(state_dir.join(ROUTES_FILE), "{\"version\": 9, \"routes\": {\"hello.paas.te").unwrap();
    let router = TestRouter::spawn_in(&state_dir, |_| {}).await;
    assert_eq!(router.state.routes().version, 0);
    assert_eq!(router.get("hello.paas.test", "/").await.status, StatusCode::NOT_FOUND);

    // The next table from the controller replaces the corrupt file.
    let hello = TestBackend::spawn("hello").await;
    let feed = TestFeed::spawn(table(1, vec![("hello.paas.test", route("hello", &[hello.addr]))])).await;
    router.stop().await.unwrap();
    let url = feed.url();
    let router = TestRouter::spawn_in(&state_dir, |config| config.feed = Some(feed_config(url))).await;
    router.wait_for_version(1).await;
    eventually("routes.json to be rewritten", || async {
        let text = std::fs::read_to_string(state_dir.join(ROUTES_FILE)).ok()?;
        serde_json::from_str::<RouteTable>(&text).ok()
    })
    .await;
    assert_eq!(router.get("hello.paas.test", "/").await.echo().backend, "hello");
    feed.push(&WatchMessage::Changes { version: 2, changes: vec![] });
    router.wait_for_version(2).await;
}

#[tokio::test]
async fn shutdown_stops_accepting_and_finishes_the_request_in_flight() {
    let slow = TestBackend::spawn("slow").await;
    let feed = TestFeed::spawn(table(1, vec![("slow.paas.test", route("slow", &[slow.addr]))])).await;
    let mut router = TestRouter::spawn_fed(&feed, 1).await;
    let in_flight = {
        let reply = router.get("slow.paas.test", "/hold");
        // Drive the request on this task until the process has it.
        let mut reply = Box::pin(reply);
        tokio::select! {
            _ = &mut reply => panic!("the held request was answered early"),
            () = slow.arrived.notified() => {}
        }
        reply
    };
    router.shutdown();
    let addr = router.addr;
    eventually("the listener to close", || async { TcpStream::connect(addr).await.is_err().then_some(()) })
        .await;

    slow.release.notify_one();
    let reply = tokio::time::timeout(Duration::from_secs(10), in_flight).await.expect("the request finishes");
    assert_eq!(reply.echo().backend, "slow");
    router.join().await.unwrap();
}

#[tokio::test]
async fn shutdown_cuts_requests_that_outlast_the_grace_period() {
    let stuck = TestBackend::spawn("stuck").await;
    let feed = TestFeed::spawn(table(1, vec![("stuck.paas.test", route("stuck", &[stuck.addr]))])).await;
    let url = feed.url();
    let mut router = TestRouter::spawn(|config| {
        config.feed = Some(feed_config(url));
        config.shutdown_grace = Duration::from_millis(100);
    })
    .await;
    router.wait_for_version(1).await;
    let request = Request::get("/never").header(HOST, "stuck.paas.test").body(Full::default()).unwrap();
    let mut in_flight = Box::pin(router.try_send(request));
    let reached = async {
        loop {
            tokio::select! {
                _ = &mut in_flight => panic!("the stuck request was answered"),
                () = tokio::time::sleep(Duration::from_millis(10)) => if stuck.hits() == 1 { break },
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(10), reached).await.expect("the request reaches the process");
    router.shutdown();
    let outcome = in_flight.await;
    assert!(outcome.is_err(), "the request was cut, not answered: {outcome:?}");
    router.join().await.unwrap();
}

/// Sends a keep-alive `GET /` for `host` on `stream` and reads the whole answer: its
/// head (lowercase) and body; `None` when the connection closed before an answer.
async fn keep_alive_get(stream: &mut TcpStream, host: &str) -> Option<(String, Vec<u8>)> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let request = format!("GET / HTTP/1.1\r\nHost: {host}\r\n\r\n");
    stream.write_all(request.as_bytes()).await.ok()?;
    let mut bytes = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(at) = bytes.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => bytes.extend_from_slice(&chunk[..n]),
        }
    };
    let head = String::from_utf8_lossy(&bytes[..head_end]).to_lowercase();
    let length: usize = head
        .lines()
        .find_map(|line| line.strip_prefix("content-length: "))
        .map(|n| n.trim().parse().unwrap())
        .expect("a content-length");
    let mut body = bytes.split_off(head_end);
    while body.len() < length {
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        body.extend_from_slice(&chunk[..n]);
    }
    Some((head, body))
}

#[tokio::test]
async fn a_drain_answers_the_next_request_of_a_kept_alive_connection_and_closes_idle_ones_later() {
    use tokio::io::AsyncReadExt;
    let backend = TestBackend::spawn("kept").await;
    let feed = TestFeed::spawn(table(1, vec![("kept.paas.test", route("kept", &[backend.addr]))])).await;
    let mut router = TestRouter::spawn_fed(&feed, 1).await;
    let connect = || async { TcpStream::connect(router.addr).await.unwrap() };
    let (mut probe, mut busy, mut idle) = (connect().await, connect().await, connect().await);
    for stream in [&mut probe, &mut busy, &mut idle] {
        let (head, _) = keep_alive_get(stream, "kept.paas.test").await.expect("an answer before the drain");
        assert!(head.starts_with("http/1.1 200"), "{head}");
        assert!(!head.contains("connection: close"), "kept alive before the drain: {head}");
    }

    router.shutdown();
    // A client sending on its kept-alive connection all along is answered every time,
    // until an answer says the connection closes: the drain has begun.
    loop {
        let (head, _) = keep_alive_get(&mut probe, "kept.paas.test")
            .await
            .expect("every request on a kept-alive connection is answered during the drain");
        assert!(head.starts_with("http/1.1 200"), "{head}");
        if head.contains("connection: close") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // A connection idle when the drain began, whose client sends its next request now:
    // answered, and told that the connection closes; then closed.
    let (head, _) = keep_alive_get(&mut busy, "kept.paas.test")
        .await
        .expect("the request sent during the drain is answered");
    assert!(head.starts_with("http/1.1 200"), "{head}");
    assert!(head.contains("connection: close"), "{head}");
    let mut rest = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), busy.read_to_end(&mut rest)).await;
    assert!(matches!(read, Ok(Ok(0))), "the connection closes after that answer: {read:?} {rest:?}");
    let addr = router.addr;
    eventually("the listener to close", || async { TcpStream::connect(addr).await.is_err().then_some(()) })
        .await;

    // The connection that stays idle is closed after the linger.
    let read = tokio::time::timeout(Duration::from_secs(10), idle.read_to_end(&mut rest)).await;
    assert!(matches!(read, Ok(Ok(0))), "the idle connection is closed: {read:?}");
    router.join().await.unwrap();
}
