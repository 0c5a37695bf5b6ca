//! The route table routers follow: the watch stream, and a real router fed by it.

use std::time::Duration;

use paas_core::routes::{WatchMessage, APPLIED_PATH, WATCH_ID_HEADER, WATCH_PATH};
use paas_core::Hostname;
use paas_router::{FeedConfig, FeedToken, FeedUrl, RouterConfig, RouterState};
use paas_tests::{spawn_controller, TestPlatform};
use serde_json::json;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

/// Opens the watch stream with `token` and returns the status line and a line reader.
async fn open_watch(platform: &TestPlatform, token: &str) -> (String, BufReader<TcpStream>) {
    let addr = platform.url.trim_start_matches("http://");
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let request =
        format!("GET {WATCH_PATH} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut reader = BufReader::new(stream);
    let mut status = String::new();
    reader.read_line(&mut status).await.unwrap();
    // Skip the headers.
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).await.unwrap();
        if line == "\r\n" || line.is_empty() {
            break;
        }
    }
    (status, reader)
}

/// The next NDJSON message of a chunked watch stream (chunk sizes and heartbeats are
/// skipped).
async fn next_message(reader: &mut BufReader<TcpStream>) -> WatchMessage {
    loop {
        let mut line = String::new();
        assert!(reader.read_line(&mut line).await.unwrap() > 0, "the stream ended");
        if let Ok(Some(message)) = WatchMessage::from_line(line.trim_end()) {
            return message;
        }
    }
}

#[tokio::test]
async fn the_watch_stream_needs_the_internal_token() {
    let platform = spawn_controller().await;
    let admin = platform.admin().await;
    admin.get(WATCH_PATH).await.expect_error(401, "unauthenticated");
    platform.anonymous().get(WATCH_PATH).await.expect_error(401, "unauthenticated");
    platform
        .anonymous()
        .with_token("not-the-token")
        .get(WATCH_PATH)
        .await
        .expect_error(401, "unauthenticated");
}

#[tokio::test]
async fn a_router_says_which_version_it_serves_on_its_own_open_stream() {
    let platform = spawn_controller().await;
    let admin = platform.admin().await;
    let internal = platform.anonymous().with_token(&platform.internal_token());
    admin.post(APPLIED_PATH, json!({"watch": 1, "version": 1})).await.expect_error(401, "unauthenticated");
    let message =
        internal.post(APPLIED_PATH, json!({"watch": "one"})).await.expect_error(400, "invalid_request");
    assert!(message.contains("not a route acknowledgement"), "{message}");

    let stream = reqwest::Client::new()
        .get(format!("{}{WATCH_PATH}", platform.url))
        .bearer_auth(platform.internal_token())
        .send()
        .await
        .unwrap();
    let watch: u64 = stream.headers()[WATCH_ID_HEADER].to_str().unwrap().parse().unwrap();
    let other = watch + 1000;
    let reply = internal.post(APPLIED_PATH, json!({"watch": watch, "version": 5})).await;
    assert_eq!(reply.status, 204, "{}", reply.body);
    let message = internal
        .post(APPLIED_PATH, json!({"watch": other, "version": 5}))
        .await
        .expect_error(404, "not_found");
    assert!(message.contains(&format!("no watch stream {other}")), "{message}");

    drop(stream);
}

#[tokio::test]
async fn the_watch_stream_sends_a_snapshot_then_changes() {
    let platform = spawn_controller().await;
    let admin = platform.admin().await;
    admin.create_app("hello").await;
    let (status, mut reader) = open_watch(&platform, &platform.internal_token()).await;
    assert!(status.starts_with("HTTP/1.1 200"), "{status}");
    let WatchMessage::Snapshot { table } = next_message(&mut reader).await else {
        panic!("a snapshot first")
    };
    let hosts: Vec<&str> = table.routes.keys().map(Hostname::as_str).collect();
    assert_eq!(hosts, ["hello.paas.test"]);
    assert!(table.routes.values().all(|r| r.backends.is_empty()), "no processes run yet");

    admin.post("/v1/apps/hello/domains", json!({"hostname": "www.example.com"})).await.expect(201);
    let WatchMessage::Changes { version, changes } = next_message(&mut reader).await else {
        panic!("changes")
    };
    assert_eq!(version, table.version + 1);
    assert_eq!(changes.len(), 1);
    assert_eq!(changes[0].host().as_str(), "www.example.com");

    // A write that does not touch routes publishes nothing; the next one that does
    // comes with the next version.
    admin.config_set("hello", &[("A", "1")]).await;
    admin.delete("/v1/apps/hello").await.expect(204);
    let WatchMessage::Changes { version: after_destroy, changes } = next_message(&mut reader).await else {
        panic!("changes")
    };
    assert_eq!(after_destroy, version + 1);
    assert_eq!(changes.len(), 2, "both host names of hello are removed: {changes:?}");
}

/// Asks the router for `host` until it answers `status`.
async fn eventually_status(router: &str, host: &str, status: u16) {
    let client = reqwest::Client::new();
    let mut last = 0;
    for _ in 0..200 {
        if let Ok(resp) = client.get(format!("http://{router}/")).header("host", host).send().await {
            last = resp.status().as_u16();
            if last == status {
                return;
            }
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("the router kept answering {last} for {host}, not {status}");
}

#[tokio::test]
async fn a_real_router_follows_the_controller() {
    let platform = spawn_controller().await;
    let admin = platform.admin().await;
    let state_dir = tempfile::tempdir().unwrap();
    let mut config =
        RouterConfig::new(Hostname::parse("paas.test").unwrap(), state_dir.path().join("router"));
    let feed_url = FeedUrl::parse(&format!("{}{WATCH_PATH}", platform.url)).unwrap();
    config.feed =
        Some(FeedConfig::new(feed_url, Some(FeedToken::parse(&platform.internal_token()).unwrap())));
    let router_state = RouterState::load(config).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let router = listener.local_addr().unwrap().to_string();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(paas_router::run(listener, router_state, async {
        let _ = stopped.await;
    }));

    eventually_status(&router, "hello.paas.test", 404).await;
    admin.create_app("hello").await;
    // The app exists and runs no web process yet: 503, not 404.
    eventually_status(&router, "hello.paas.test", 503).await;
    admin.post("/v1/apps/hello/domains", json!({"hostname": "www.example.com"})).await.expect(201);
    eventually_status(&router, "www.example.com", 503).await;
    admin.delete("/v1/apps/hello").await.expect(204);
    eventually_status(&router, "hello.paas.test", 404).await;
    eventually_status(&router, "www.example.com", 404).await;

    let _ = stop.send(());
    task.await.unwrap().unwrap();
}

#[tokio::test]
async fn access_lines_need_the_internal_token_and_a_valid_batch() {
    let platform = spawn_controller().await;
    let admin = platform.admin().await;
    let path = paas_core::access::ACCESS_PATH;
    let batch = json!({"records": [{
        "at": 1, "app": "hello", "method": "GET", "host": "hello.paas.test", "path": "/",
        "status": 200, "bytes": 2, "service_us": 10, "upstream": "web.1", "request_id": "r",
        "client": "127.0.0.1"
    }]});
    admin.post(path, batch.clone()).await.expect_error(401, "unauthenticated");
    platform.anonymous().post(path, batch.clone()).await.expect_error(401, "unauthenticated");
    let router = platform.anonymous().with_token(&platform.internal_token());
    assert_eq!(router.post(path, batch).await.status, 204);
    let bad = json!({"records": [{"at": 1, "app": "Not An App"}]});
    router.post(path, bad).await.expect_error(400, "invalid_request");
    let garbage =
        router.raw(reqwest::Method::POST, path, "application/json", b"{\"records\": [".to_vec()).await;
    garbage.expect_error(400, "invalid_request");
}
