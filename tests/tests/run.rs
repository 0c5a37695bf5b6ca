//! One-off processes (`paas run`) with the real Docker engine: a command runs once in a
//! container of the app's release with its config, its stdin and output stream through
//! the controller, its exit status comes back, and the container is gone afterwards;
//! the scheduler leaves it alone while it runs. Through the API with a small client of
//! the run stream, and through the real `paas` binary.
//!
//! There is no builder here: `stand_in_build` records a build of the stack image.

use std::io::Write;
use std::time::Duration;

use paas_core::run_stream::chunked::{encode_chunk, ChunkedDecoder};
use paas_core::run_stream::{Frame, FrameDecoder, CONTENT_TYPE};
use paas_tests::docker::{containers, DockerCleanup};
use paas_tests::{spawn_controller, spawn_controller_with, ApiClient, TestPlatform, STACK_IMAGE};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const GREETING_PY: &str = "import os,sys; print(os.environ['GREETING']); sys.exit(3)";

/// What a run gave: the answer's status, then the stream's output and exit status, or
/// the error body.
#[derive(Debug, Default)]
struct Ran {
    status: u16,
    stdout: String,
    stderr: String,
    exit: Option<i32>,
    error: Option<String>,
    body: Value,
}

/// `POST /v1/apps/{app}/run` with `request`, sending `stdin` then closing it.
async fn run(client: &ApiClient, app: &str, request: Value, stdin: &[u8]) -> Ran {
    let (stream, ran) = start_run(client, app, request, stdin).await;
    match stream {
        Some(stream) => finish_run(stream, ran).await,
        None => ran,
    }
}

/// Sends the request and reads the answer's head; a 200 leaves the stream to read.
async fn start_run(
    client: &ApiClient,
    app: &str,
    request: Value,
    stdin: &[u8],
) -> (Option<(TcpStream, Vec<u8>)>, Ran) {
    let authority = client.base.strip_prefix("http://").expect("an http URL");
    let mut socket = TcpStream::connect(authority).await.expect("the API listens");
    let mut out = format!(
        "POST /v1/apps/{app}/run HTTP/1.1\r\nHost: {authority}\r\nContent-Type: {CONTENT_TYPE}\r\n\
         Transfer-Encoding: chunked\r\n"
    );
    if let Some(token) = &client.token {
        out.push_str(&format!("Authorization: Bearer {token}\r\n"));
    }
    out.push_str("\r\n");
    let mut bytes = out.into_bytes();
    encode_chunk(&Frame::Start(request.to_string().into_bytes()).to_bytes(), &mut bytes);
    if !stdin.is_empty() {
        encode_chunk(&Frame::Stdin(stdin.to_vec()).to_bytes(), &mut bytes);
    }
    encode_chunk(&Frame::Stdin(Vec::new()).to_bytes(), &mut bytes);
    socket.write_all(&bytes).await.expect("the request goes out");

    let mut head = Vec::new();
    let end = loop {
        if let Some(end) = head.windows(4).position(|w| w == b"\r\n\r\n") {
            break end;
        }
        let mut piece = [0; 4096];
        let n = socket.read(&mut piece).await.expect("an answer");
        assert!(n > 0, "the connection closed before the head: {}", String::from_utf8_lossy(&head));
        head.extend_from_slice(&piece[..n]);
    };
    let rest = head.split_off(end + 4);
    let text = String::from_utf8_lossy(&head).to_lowercase();
    let status: u16 = text.split(' ').nth(1).and_then(|s| s.parse().ok()).expect("a status");
    let mut ran = Ran { status, ..Ran::default() };
    if status == 200 {
        assert!(text.contains(&format!("content-type: {CONTENT_TYPE}")), "{text}");
        assert!(text.contains("transfer-encoding: chunked"), "{text}");
        return (Some((socket, rest)), ran);
    }
    // An error: a JSON body (sized), then the server closes or keeps the connection.
    let length: usize = text
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    let mut body = rest;
    while body.len() < length {
        let mut piece = [0; 4096];
        let n = socket.read(&mut piece).await.expect("the body");
        if n == 0 {
            break;
        }
        body.extend_from_slice(&piece[..n]);
    }
    ran.body = serde_json::from_slice(&body).unwrap_or(Value::Null);
    (None, ran)
}

/// Reads the stream to its last frame.
async fn finish_run((mut socket, mut buf): (TcpStream, Vec<u8>), mut ran: Ran) -> Ran {
    let mut chunked = ChunkedDecoder::new();
    let mut frames = FrameDecoder::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    loop {
        let mut data = Vec::new();
        chunked.decode(&buf, &mut data).expect("a chunked body");
        frames.push(&data);
        while let Some(frame) = frames.next_frame().expect("run stream frames") {
            match frame {
                Frame::Stdout(b) => ran.stdout.push_str(&String::from_utf8_lossy(&b)),
                Frame::Stderr(b) => ran.stderr.push_str(&String::from_utf8_lossy(&b)),
                Frame::Exit(code) => ran.exit = Some(code),
                Frame::Error(message) => ran.error = Some(message),
                other => panic!("a frame the controller does not send: {other:?}"),
            }
        }
        if chunked.is_done() {
            assert!(!frames.has_partial(), "a frame was cut off");
            return ran;
        }
        let mut piece = vec![0; 16 * 1024];
        let n = tokio::time::timeout_at(deadline, socket.read(&mut piece))
            .await
            .expect("the run ends within two minutes")
            .expect("the stream reads");
        assert!(n > 0, "the stream ended before its last chunk: {ran:?}");
        piece.truncate(n);
        buf = piece;
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
    assert_eq!(ran.status, 200, "{ran:?}");
    assert_eq!(ran.stdout, "hello from the config\n");
    assert_eq!(ran.exit, Some(3), "{ran:?}");

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

    let request = json!({"command": ["sh", "-c", "sleep 7; echo survived"]});
    let (stream, ran) = start_run(&admin, "hello", request, b"").await;
    let stream = stream.unwrap_or_else(|| panic!("the run started: {ran:?}"));
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
    let ran = finish_run(stream, ran).await;
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
    for command in [json!([]), json!([""]), json!("  ")] {
        let ran = run(&admin, "hello", json!({ "command": command }), b"").await;
        assert_eq!(ran.status, 400, "{command}: {ran:?}");
        assert_eq!(ran.body["error"], "invalid_request");
        assert!(ran.body["hint"].as_str().is_some_and(|h| h.contains("--")), "{ran:?}");
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
