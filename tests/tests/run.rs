//! One-off processes (`paas run`) with the real Docker engine: a command runs once in a
//! container of the app's release with its config, its stdin and output stream through
//! the controller over a WebSocket, its exit status comes back, and the container is
//! gone afterwards; the scheduler leaves it alone while it runs, and a client that goes
//! away takes it along. Through the API with a small WebSocket client of the run
//! stream, and through the real `paas` binary.
//!
//! There is no builder here: `stand_in_build` records a build of the stack image.

use std::io::Write;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use paas_core::api::RunRequest;
use paas_core::run_stream::{self, Frame, FrameDecoder, REQUEST_HEADER};
use paas_tests::docker::{containers, DockerCleanup};
use paas_tests::{eventually, spawn_controller, spawn_controller_with, ApiClient, TestPlatform, STACK_IMAGE};
use serde_json::{json, Value};
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::WebSocketStream;

const GREETING_PY: &str = "import os,sys; print(os.environ['GREETING']); sys.exit(3)";

/// What a run gave: the answer's status (101: it ran), then the stream's output, its
/// exit status and whether the controller closed the WebSocket after it, or the error
/// body.
#[derive(Debug, Default)]
struct Ran {
    status: u16,
    stdout: String,
    stderr: String,
    exit: Option<i32>,
    error: Option<String>,
    closed: bool,
    body: Value,
}

type Ws = WebSocketStream<TcpStream>;

/// The `Paas-Run` header for `request`, encoded as `paas run` encodes it.
fn request_header(request: Value) -> String {
    let request: RunRequest = serde_json::from_value(request).expect("a run request");
    run_stream::encode_request(&request).expect("a request that fits")
}

/// `GET /v1/apps/{app}/run` upgraded, with `request`, sending `stdin` then closing it.
async fn run(client: &ApiClient, app: &str, request: Value, stdin: &[u8]) -> Ran {
    let (ws, ran) = start_run(client, app, Some(request_header(request)), stdin).await;
    match ws {
        Some(ws) => finish_run(ws, ran).await,
        None => ran,
    }
}

/// Opens the WebSocket with `header` as `Paas-Run` and sends `stdin` (then closes
/// it); a `101` leaves the stream to read, anything else is read as an error.
async fn start_run(client: &ApiClient, app: &str, header: Option<String>, stdin: &[u8]) -> (Option<Ws>, Ran) {
    let authority = client.base.strip_prefix("http://").expect("an http URL");
    let mut upgrade =
        format!("ws://{authority}/v1/apps/{app}/run").into_client_request().expect("a WebSocket request");
    if let Some(header) = header {
        upgrade.headers_mut().insert(REQUEST_HEADER, header.parse().expect("a header value"));
    }
    if let Some(token) = &client.token {
        upgrade.headers_mut().insert("authorization", format!("Bearer {token}").parse().expect("a token"));
    }
    // A second handle on the connection, to read the rest of an error's body.
    let socket = TcpStream::connect(authority).await.expect("the API listens").into_std().expect("a socket");
    let mut spare = TcpStream::from_std(socket.try_clone().expect("a clone")).expect("a socket");
    let socket = TcpStream::from_std(socket).expect("a socket");
    match tokio_tungstenite::client_async(upgrade, socket).await {
        Ok((mut ws, response)) => {
            assert_eq!(response.status(), 101);
            if !stdin.is_empty() {
                send(&mut ws, Frame::Stdin(stdin.to_vec())).await;
            }
            send(&mut ws, Frame::Stdin(Vec::new())).await;
            (Some(ws), Ran { status: 101, ..Ran::default() })
        }
        Err(tungstenite::Error::Http(response)) => {
            let length: usize = response
                .headers()
                .get("content-length")
                .and_then(|v| v.to_str().ok()?.parse().ok())
                .unwrap_or(0);
            let status = response.status().as_u16();
            let mut body = response.into_body().unwrap_or_default();
            while body.len() < length {
                let mut piece = [0; 4096];
                let n = spare.read(&mut piece).await.expect("the body");
                if n == 0 {
                    break;
                }
                body.extend_from_slice(&piece[..n]);
            }
            let body = serde_json::from_slice(&body).unwrap_or(Value::Null);
            (None, Ran { status, body, ..Ran::default() })
        }
        Err(e) => panic!("the WebSocket handshake failed: {e}"),
    }
}

/// Sends one frame in one binary message.
async fn send(ws: &mut Ws, frame: Frame) {
    ws.send(Message::Binary(frame.to_bytes().into())).await.expect("the frame goes out");
}

/// Reads the stream to its last frame and the close after it.
async fn finish_run(mut ws: Ws, mut ran: Ran) -> Ran {
    let mut frames = FrameDecoder::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    loop {
        let message = tokio::time::timeout_at(deadline, ws.next())
            .await
            .expect("the run ends within two minutes")
            .unwrap_or_else(|| panic!("the stream ended without a close: {ran:?}"))
            .expect("the WebSocket reads");
        let bytes = match message {
            Message::Binary(bytes) => bytes,
            Message::Close(_) => {
                ran.closed = true;
                assert!(!frames.has_partial(), "a frame was cut off");
                return ran;
            }
            other => panic!("a message the controller does not send: {other:?}"),
        };
        assert!(ran.exit.is_none() && ran.error.is_none(), "a message after the last frame: {ran:?}");
        frames.push(&bytes);
        while let Some(frame) = frames.next_frame().expect("run stream frames") {
            match frame {
                Frame::Stdout(b) => ran.stdout.push_str(&String::from_utf8_lossy(&b)),
                Frame::Stderr(b) => ran.stderr.push_str(&String::from_utf8_lossy(&b)),
                Frame::Exit(code) => ran.exit = Some(code),
                Frame::Error(message) => ran.error = Some(message),
                other => panic!("a frame the controller does not send: {other:?}"),
            }
        }
    }
}

/// The one-off containers of the platform.
async fn oneoffs(platform: &str) -> Vec<paas_tests::docker::Container> {
    containers(platform).await.into_iter().filter(|c| c.labels.contains_key("paas.oneoff")).collect()
}

/// A platform with the scheduler on and the app `hello`: config `GREETING`, a stand-in
/// build of the stack image.
async fn platform_with_app() -> (TestPlatform, ApiClient, DockerCleanup) {
    let platform = spawn_controller_with(|c| c.docker = true).await;
    let cleanup = DockerCleanup::new(&platform.platform_id());
    let admin = platform.admin().await;
    admin.create_app("hello").await;
    admin.config_set("hello", &[("GREETING", "hello from the config")]).await;
    platform.stand_in_build("hello", STACK_IMAGE, &json!({"web": "exec sleep 3600"})).await;
    (platform, admin, cleanup)
}

#[tokio::test]
async fn a_one_off_runs_with_the_config_streams_stdin_and_exits_with_its_status() {
    let (platform, admin, _cleanup) = platform_with_app().await;
    let id = platform.platform_id();

    let ran = run(&admin, "hello", json!({"command": ["python3", "-c", GREETING_PY]}), b"").await;
    assert_eq!(ran.status, 101, "{ran:?}");
    assert_eq!(ran.stdout, "hello from the config\n");
    assert_eq!(ran.exit, Some(3), "{ran:?}");
    assert!(ran.closed, "the controller closes the WebSocket after the exit: {ran:?}");

    // Stdin reaches the command; stderr comes apart from stdout; DYNO and PORT are set.
    let ran = run(
        &admin,
        "hello",
        json!({"command": ["sh", "-c", "read x; echo got $x; echo $DYNO $PORT >&2"]}),
        b"hi\n",
    )
    .await;
    assert_eq!(ran.stdout, "got hi\n", "{ran:?}");
    let (dyno, port) = ran.stderr.trim().split_once(' ').expect("DYNO and PORT");
    assert!(dyno.starts_with("run.") && dyno[4..].parse::<u32>().is_ok(), "{dyno}");
    assert_eq!(port, "5000");
    assert_eq!(ran.exit, Some(0));

    // A string is a shell command line; the request's env joins the config.
    let ran =
        run(&admin, "hello", json!({"command": "echo $GREETING, $EXTRA", "env": {"EXTRA": "x"}}), b"").await;
    assert_eq!(ran.stdout, "hello from the config, x\n", "{ran:?}");

    // With a TTY the process has a terminal, and its output is the terminal's.
    let ran =
        run(&admin, "hello", json!({"command": ["sh", "-c", "test -t 0 && echo tty"], "tty": true}), b"")
            .await;
    assert_eq!(ran.stdout, "tty\r\n", "{ran:?}");
    assert_eq!(ran.exit, Some(0));

    // Nothing is left behind.
    assert!(oneoffs(&id).await.is_empty(), "the one-offs are removed");
}

#[tokio::test]
async fn a_running_one_off_survives_the_reconciler_and_goes_when_done() {
    let (platform, admin, _cleanup) = platform_with_app().await;
    let id = platform.platform_id();
    admin.scale("hello", "web", 1).await;

    let request = request_header(json!({"command": ["sh", "-c", "sleep 7; echo survived"]}));
    let (ws, ran) = start_run(&admin, "hello", Some(request), b"").await;
    let ws = ws.unwrap_or_else(|| panic!("the run started: {ran:?}"));
    let running = oneoffs(&id).await;
    assert_eq!(running.len(), 1, "{running:?}");
    let oneoff = &running[0];
    assert_eq!(oneoff.labels["paas.type"], "run");
    assert_eq!(oneoff.labels["paas.app"], "hello");
    assert!(oneoff.env.contains(&"GREETING=hello from the config".to_owned()));
    assert!(oneoff.running);
    // A config change nudges the scheduler, which replaces web.1 and leaves the one-off
    // alone; the timer's reconcile (every 5 s) too.
    admin.config_set("hello", &[("OTHER", "1")]).await;
    let ran = finish_run(ws, ran).await;
    assert_eq!(ran.stdout, "survived\n", "{ran:?}");
    assert_eq!(ran.exit, Some(0));
    assert!(oneoffs(&id).await.is_empty(), "the one-off is removed once it ended");
    let left = containers(&id).await;
    assert!(left.iter().any(|c| c.labels["paas.type"] == "web" && c.running), "web runs on: {left:?}");
}

#[tokio::test]
async fn bad_runs_start_nothing() {
    let (platform, admin, _cleanup) = platform_with_app().await;
    let id = platform.platform_id();
    // An empty command is a 400 instead of the 101: the request travels in the upgrade.
    for command in [json!([]), json!([""]), json!("  ")] {
        let ran = run(&admin, "hello", json!({ "command": command }), b"").await;
        assert_eq!(ran.status, 400, "{command}: {ran:?}");
        assert_eq!(ran.body["error"], "invalid_request");
        assert!(ran.body["hint"].as_str().is_some_and(|h| h.contains("--")), "{ran:?}");
    }
    // No request, or one that is not base64url JSON.
    for header in [None, Some("not base64!".to_owned()), Some("e30".to_owned())] {
        let (ws, ran) = start_run(&admin, "hello", header.clone(), b"").await;
        assert!(ws.is_none() && ran.status == 400, "{header:?}: {ran:?}");
        assert!(ran.body["message"].as_str().is_some_and(|m| m.contains("Paas-Run")), "{ran:?}");
        assert!(ran.body["hint"].as_str().is_some(), "{ran:?}");
    }
    let outsider = platform.user(&admin, "mallory").await;
    let ran = run(&outsider, "hello", json!({"command": ["true"]}), b"").await;
    assert_eq!(ran.status, 404, "{ran:?}");
    let ran = run(&platform.anonymous(), "hello", json!({"command": ["true"]}), b"").await;
    assert_eq!(ran.status, 401, "{ran:?}");
    admin.create_app("empty").await;
    let ran = run(&admin, "empty", json!({"command": ["true"]}), b"").await;
    assert_eq!(ran.status, 409, "{ran:?}");
    assert!(ran.body["hint"].as_str().is_some_and(|h| h.contains("deploy")), "{ran:?}");
    assert!(oneoffs(&id).await.is_empty());
}

#[tokio::test]
async fn a_request_that_is_not_a_websocket_is_refused_with_a_hint() {
    let (platform, admin, _cleanup) = platform_with_app().await;
    let id = platform.platform_id();
    // A paas of the full-duplex days POSTed; a plain GET is no upgrade either.
    let posted = admin.post("/v1/apps/hello/run", json!({"command": ["true"]})).await;
    let got = admin.get("/v1/apps/hello/run").await;
    for reply in [posted, got] {
        let message = reply.body["message"].as_str().unwrap_or_default().to_owned();
        let hint = reply.body["hint"].as_str().unwrap_or_default().to_owned();
        assert_eq!(reply.expect_error(400, "invalid_request"), message);
        assert!(message.contains("WebSocket"), "{message}");
        assert!(hint.contains("Upgrade: websocket") && hint.contains("Paas-Run"), "{hint}");
    }
    assert!(oneoffs(&id).await.is_empty());
}

#[tokio::test]
async fn a_client_that_goes_away_ends_its_one_off() {
    let (platform, admin, _cleanup) = platform_with_app().await;
    let id = platform.platform_id();
    let sleeper = || request_header(json!({"command": ["sleep", "600"]}));

    // The connection drops without a close.
    let (ws, ran) = start_run(&admin, "hello", Some(sleeper()), b"").await;
    let ws = ws.unwrap_or_else(|| panic!("the run started: {ran:?}"));
    assert_eq!(oneoffs(&id).await.len(), 1);
    drop(ws);
    eventually("the one-off of a dropped connection is removed", || async {
        oneoffs(&id).await.is_empty().then_some(())
    })
    .await;

    // The client closes the WebSocket.
    let (ws, ran) = start_run(&admin, "hello", Some(sleeper()), b"").await;
    let mut ws = ws.unwrap_or_else(|| panic!("the run started: {ran:?}"));
    assert_eq!(oneoffs(&id).await.len(), 1);
    ws.close(None).await.expect("the close goes out");
    eventually("the one-off of a closed WebSocket is removed", || async {
        oneoffs(&id).await.is_empty().then_some(())
    })
    .await;
}

#[tokio::test]
async fn without_docker_runs_are_unavailable() {
    let platform = spawn_controller().await;
    let admin = platform.admin().await;
    admin.create_app("hello").await;
    let ran = run(&admin, "hello", json!({"command": ["true"]}), b"").await;
    assert_eq!(ran.status, 503, "{ran:?}");
    assert!(ran.body["hint"].as_str().is_some_and(|h| h.contains("PAAS_DOCKER")), "{ran:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn paas_run_through_the_cli() {
    let (platform, _admin, _cleanup) = platform_with_app().await;
    let config_dir = tempfile::tempdir().expect("a temporary dir");
    let paas = |args: &[&str], stdin: &[u8]| {
        let mut child = std::process::Command::new(paas_tests::workspace_binary("paas"))
            .args(args)
            .env("PAAS_CONFIG_DIR", config_dir.path())
            .env("PAAS_PASSWORD", paas_tests::PASSWORD)
            .env("NO_COLOR", "1")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("paas runs");
        child.stdin.take().expect("stdin").write_all(stdin).expect("stdin written");
        child.wait_with_output().expect("paas ends")
    };
    tokio::task::block_in_place(|| {
        let login = paas(&["login", &platform.url, "--username", "admin"], b"");
        assert!(login.status.success(), "{}", String::from_utf8_lossy(&login.stderr));

        let out = paas(&["run", "-a", "hello", "--", "python3", "-c", GREETING_PY], b"");
        assert_eq!(String::from_utf8_lossy(&out.stdout), "hello from the config\n", "{out:?}");
        assert_eq!(out.status.code(), Some(3), "{}", String::from_utf8_lossy(&out.stderr));

        let out = paas(&["run", "-a", "hello", "--", "sh", "-c", "read x; echo got $x"], b"hi\n");
        assert_eq!(String::from_utf8_lossy(&out.stdout), "got hi\n");
        assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));

        let out = paas(&["run", "-a", "nope", "--", "true"], b"");
        assert_eq!(out.status.code(), Some(1));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.starts_with("error: app nope not found\nhint: "), "{stderr}");
    });
}
