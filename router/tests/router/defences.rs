//! Malformed and oversized requests over raw TCP: each is refused with its status,
//! the connection is closed, and no process hears of it.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::{feed_config, route, table, TestBackend, TestFeed, TestRouter};

const HOST: &str = "hello.paas.test";

/// Sends `request` on a new connection; returns the status line and whether the
/// router closed the connection after its answer.
async fn exchange(router: &TestRouter, request: &[u8]) -> (String, bool) {
    let mut stream = TcpStream::connect(router.addr).await.unwrap();
    // The router may answer and close before it has read everything.
    let _ = stream.write_all(request).await;
    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut answer)).await;
    let closed = matches!(read, Ok(Ok(_)) | Ok(Err(_)));
    let text = String::from_utf8_lossy(&answer);
    (text.lines().next().unwrap_or_default().to_owned(), closed)
}

fn head(extra: &str) -> String {
    format!("POST /upload HTTP/1.1\r\nhost: {HOST}\r\n{extra}\r\n")
}

#[tokio::test]
async fn malformed_and_oversized_requests_are_refused_and_closed_before_any_process_hears_of_them() {
    let hello = TestBackend::spawn("hello").await;
    let feed = TestFeed::spawn(table(1, vec![(HOST, route("hello", &[hello.addr]))])).await;
    let url = feed.url();
    let router = TestRouter::spawn(|config| {
        config.feed = Some(feed_config(url));
        config.max_body_bytes = 1 << 20;
    })
    .await;
    router.wait_for_version(1).await;

    let long_target = format!("GET /{} HTTP/1.1\r\nhost: {HOST}\r\n\r\n", "a".repeat(8 * 1024 + 1));
    let big_header = head(&format!("x-big: {}\r\n", "b".repeat(33 * 1024)));
    let huge_header = head(&format!("x-big: {}\r\n", "b".repeat(64 * 1024)));
    let many_headers = head(&(0..101).map(|i| format!("x-h{i}: 1\r\n")).collect::<String>());
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("request target over 8 KiB", long_target.into_bytes(), "414"),
        ("headers over 32 KiB", big_header.into_bytes(), "431"),
        ("headers beyond the read buffer", huge_header.into_bytes(), "431"),
        ("more than 100 headers", many_headers.into_bytes(), "431"),
        ("differing Content-Lengths", head("content-length: 5\r\ncontent-length: 6\r\n").into_bytes(), "400"),
        ("a NUL in a header value", head("x-nul: a\0b\r\n").into_bytes(), "400"),
        ("a CR in a header value", head("x-cr: a\rb\r\n").into_bytes(), "400"),
        ("a body over the limit", head(&format!("content-length: {}\r\n", 2 << 20)).into_bytes(), "413"),
        // Smuggling: shapes where two parsers could disagree about where a request ends.
        (
            "Content-Length with Transfer-Encoding",
            (head("content-length: 6\r\ntransfer-encoding: chunked\r\n") + "0\r\n\r\nG").into_bytes(),
            "400",
        ),
        (
            "Transfer-Encoding with Content-Length",
            (head("transfer-encoding: chunked\r\ncontent-length: 3\r\n") + "0\r\n\r\n").into_bytes(),
            "400",
        ),
        (
            "equal duplicate Content-Lengths",
            head("content-length: 5\r\ncontent-length: 5\r\n").into_bytes(),
            "400",
        ),
        ("a Content-Length list", head("content-length: 5, 5\r\n").into_bytes(), "400"),
        ("a signed Content-Length", head("content-length: +5\r\n").into_bytes(), "400"),
        ("Transfer-Encoding not chunked", head("transfer-encoding: gzip\r\n").into_bytes(), "400"),
        ("chunked, then another coding", head("transfer-encoding: chunked, gzip\r\n").into_bytes(), "400"),
        (
            "Transfer-Encoding twice",
            head("transfer-encoding: chunked\r\ntransfer-encoding: chunked\r\n").into_bytes(),
            "400",
        ),
        ("a space before the colon", head("transfer-encoding : chunked\r\n").into_bytes(), "400"),
        ("an obsolete line folding", head("x-a: 1\r\n chunked\r\n").into_bytes(), "400"),
        ("bare LF line ends", format!("GET /bare HTTP/1.1\nhost: {HOST}\n\n").into_bytes(), "400"),
        ("a bare LF ending one header", head("x-a: 1\n").into_bytes(), "400"),
        ("a bare LF ending the head", format!("GET / HTTP/1.1\r\nhost: {HOST}\r\n\n").into_bytes(), "400"),
        ("a bare CR", head("x-a: 1\rx-b: 2\r\n").into_bytes(), "400"),
        (
            "Transfer-Encoding on HTTP/1.0",
            format!("POST / HTTP/1.0\r\nhost: {HOST}\r\ntransfer-encoding: chunked\r\n\r\n0\r\n\r\n")
                .into_bytes(),
            "400",
        ),
        ("CONNECT", format!("CONNECT {HOST}:443 HTTP/1.1\r\nhost: {HOST}\r\n\r\n").into_bytes(), "400"),
    ];
    let mut failures = Vec::new();
    for (what, request, status) in &cases {
        let (line, closed) = exchange(&router, request).await;
        if !line.starts_with(&format!("HTTP/1.1 {status}")) || !closed {
            failures.push(format!("{what}: wanted {status} and a close, got {line:?} (closed: {closed})"));
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
    assert_eq!(hello.hits(), 0, "no refused request reached the process");

    // A well-formed request on the same router still gets through, once.
    let (line, _) =
        exchange(&router, (head("content-length: 5\r\nconnection: close\r\n") + "hello").as_bytes()).await;
    assert!(line.starts_with("HTTP/1.1 200"), "{line}");
    assert_eq!(hello.hits(), 1, "the process saw exactly the request that was let through");

    // A body that goes wrong while it streams: the process has the head by then, and
    // its request is cut; the client gets the router's answer and a close.
    let bad_chunk = (head("transfer-encoding: chunked\r\n") + "5\r\nhello\r\nzz\r\n").into_bytes();
    let mut too_long = head("transfer-encoding: chunked\r\n").into_bytes();
    let chunk = vec![b'x'; 64 * 1024];
    for _ in 0..20 {
        too_long.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
        too_long.extend_from_slice(&chunk);
        too_long.extend_from_slice(b"\r\n");
    }
    too_long.extend_from_slice(b"0\r\n\r\n");
    for (what, request, status) in
        [("an invalid chunk size", bad_chunk, "400"), ("a streamed body over the limit", too_long, "413")]
    {
        let (line, closed) = exchange(&router, &request).await;
        assert!(
            line.starts_with(&format!("HTTP/1.1 {status}")) && closed,
            "{what}: {line:?} (closed: {closed})"
        );
    }
    assert_eq!(hello.hits(), 3);
}

/// Smuggling attempts behind a good request on one connection: the good one is
/// answered, the rest is refused with a 400 and a close, and the process sees only the
/// good one. A chunk-size line with a bare LF is refused after the head has gone.
#[tokio::test]
async fn a_refused_request_behind_a_good_one_is_refused_after_it_and_nothing_follows() {
    let hello = TestBackend::spawn("hello").await;
    let feed = TestFeed::spawn(table(1, vec![(HOST, route("hello", &[hello.addr]))])).await;
    let url = feed.url();
    let router = TestRouter::spawn(|config| config.feed = Some(feed_config(url))).await;
    router.wait_for_version(1).await;

    let good = format!("GET /first HTTP/1.1\r\nhost: {HOST}\r\n\r\n");
    let smuggled = format!("GET /smuggled HTTP/1.1\r\nhost: {HOST}\r\n\r\n");
    let cases = [
        head("content-length: 4\r\ntransfer-encoding: chunked\r\n") + "0\r\n\r\n" + &smuggled,
        format!("GET /bare HTTP/1.1\nhost: {HOST}\n\n") + &smuggled,
        head("transfer-encoding: chunked\r\ncontent-length: 40\r\n") + "0\r\n\r\n" + &smuggled,
    ];
    for (i, case) in cases.iter().enumerate() {
        let answer = read_all(&router, (good.clone() + case).as_bytes()).await;
        // The echo's JSON ends without a newline: status lines are found anywhere.
        let statuses: Vec<&str> =
            answer.match_indices("HTTP/1.1 ").map(|(at, _)| &answer[at..at + 12]).collect();
        assert_eq!(statuses.len(), 2, "case {i}: {answer}");
        assert!(
            statuses[0].starts_with("HTTP/1.1 200") && statuses[1].starts_with("HTTP/1.1 400"),
            "{answer}"
        );
        assert!(answer.contains("\"path\":\"/first\"") && !answer.contains("/smuggled"), "{answer}");
        assert_eq!(hello.hits(), i + 1, "case {i}: the process saw only the good request");
    }

    // A chunk-size line ended by a bare LF: the head may have reached the process by
    // then (its body is cut), the smuggled request never does; the client gets a 400
    // and a close.
    let bare_chunk = head("transfer-encoding: chunked\r\n") + "5\nhello\r\n0\r\n\r\n" + &smuggled;
    let answer = read_all(&router, bare_chunk.as_bytes()).await;
    assert!(answer.starts_with("HTTP/1.1 400") && !answer.contains("/smuggled"), "{answer}");
    let hits = hello.hits();
    assert!((3..=4).contains(&hits), "{hits}");

    // Well-formed pipelined requests still work, CRLF between them and all.
    let post = head("content-length: 5\r\n") + "hello" + "\r\n";
    let chunked = head("transfer-encoding: chunked\r\n") + "3;x=y\r\nabc\r\n0\r\ntrailer: 1\r\n\r\n";
    let last = format!("GET /last HTTP/1.1\r\nhost: {HOST}\r\nconnection: close\r\n\r\n");
    let answer = read_all(&router, (post + &chunked + &last).as_bytes()).await;
    assert_eq!(answer.matches("HTTP/1.1 200").count(), 3, "{answer}");
    assert!(answer.contains("\"body\":\"hello\"") && answer.contains("\"body\":\"abc\""), "{answer}");
    assert_eq!(hello.hits(), hits + 3);
}

async fn read_all(router: &TestRouter, request: &[u8]) -> String {
    let mut stream = TcpStream::connect(router.addr).await.unwrap();
    stream.write_all(request).await.unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut answer)).await.unwrap().unwrap();
    String::from_utf8_lossy(&answer).into_owned()
}

/// Forwarding headers a client sends reach the process only when the client is a
/// trusted proxy; else the router's own replace them.
#[tokio::test]
async fn forwarding_headers_are_kept_only_from_trusted_proxies() {
    let hello = TestBackend::spawn("hello").await;
    let feed = TestFeed::spawn(table(1, vec![(HOST, route("hello", &[hello.addr]))])).await;
    let sent = [
        ("x-forwarded-for", "203.0.113.9"),
        ("x-forwarded-proto", "https"),
        ("x-forwarded-host", "shop.example.com"),
        ("x-forwarded-port", "443"),
        ("forwarded", "for=203.0.113.9;proto=https"),
    ];
    // (trusted proxies, header, what the process gets; `PORT` is the router's port)
    let cases: &[(&str, &str, Option<&str>)] = &[
        ("", "x-forwarded-for", Some("127.0.0.1")),
        ("", "x-forwarded-proto", Some("http")),
        ("", "x-forwarded-host", Some(HOST)),
        ("", "x-forwarded-port", Some("PORT")),
        ("", "forwarded", None),
        ("10.0.0.0/8, ::1", "x-forwarded-for", Some("127.0.0.1")),
        ("10.0.0.0/8, ::1", "forwarded", None),
        ("127.0.0.0/8", "x-forwarded-for", Some("203.0.113.9, 127.0.0.1")),
        ("127.0.0.0/8", "x-forwarded-proto", Some("https")),
        ("127.0.0.0/8", "x-forwarded-host", Some("shop.example.com")),
        ("127.0.0.0/8", "x-forwarded-port", Some("443")),
        ("127.0.0.0/8", "forwarded", Some("for=203.0.113.9;proto=https")),
    ];
    let mut failures = Vec::new();
    for trusted in ["", "10.0.0.0/8, ::1", "127.0.0.0/8"] {
        let url = feed.url();
        let router = TestRouter::spawn(|config| {
            config.feed = Some(feed_config(url));
            config.trusted_proxies = paas_router::TrustedProxies::parse(trusted).unwrap();
        })
        .await;
        router.wait_for_version(1).await;
        let mut request = hyper::Request::get("/").header("host", HOST);
        for (name, value) in sent {
            request = request.header(name, value);
        }
        let echo = router.send(request.body(Default::default()).unwrap()).await.echo();
        let port = router.addr.port().to_string();
        for (_, name, want) in cases.iter().filter(|(t, _, _)| *t == trusted) {
            let want = want.map(|w| if w == "PORT" { port.as_str() } else { w });
            let got = echo.header(name);
            if got != want {
                failures.push(format!("trusting {trusted:?}: {name} was {got:?}, wanted {want:?}"));
            }
        }
        // The client's own request id is kept either way.
        assert!(echo.header("x-request-id").is_some());
    }
    assert!(failures.is_empty(), "{failures:#?}");
    assert_eq!(hello.hits(), 3);
}
