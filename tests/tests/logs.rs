//! Logs with the real Docker engine: what the processes of an app write comes back
//! merged in time order, each line prefixed with its process, and a followed log keeps
//! bringing lines, also of processes started after it began, until the client hangs
//! up or the controller stops.
//!
//! There is no builder in these tests: `stand_in_build` records a build of the stack
//! image straight in the database. `DockerCleanup` removes every container and network
//! the test makes, also when it fails.

use std::time::Duration;

use paas_tests::docker::{containers, DockerCleanup};
use paas_tests::{eventually, spawn_controller_with, ApiClient, STACK_IMAGE};
use serde_json::json;

/// A log line split into its time, process and text; panics on any other shape.
#[track_caller]
fn parse(line: &str) -> (&str, &str, &str) {
    let (at, rest) = line.split_once(' ').unwrap_or_else(|| panic!("no time: {line:?}"));
    // 2026-12-01T20:31:02.123456Z: microseconds, UTC.
    assert_eq!(at.len(), 27, "{line:?}");
    assert!(at.ends_with('Z') && at.as_bytes()[19] == b'.', "{line:?}");
    let rest = rest.strip_prefix("app[").unwrap_or_else(|| panic!("no app[...]: {line:?}"));
    let (process, text) = rest.split_once("]: ").unwrap_or_else(|| panic!("no process: {line:?}"));
    (at, process, text)
}

async fn scale(admin: &ApiClient, app: &str, updates: serde_json::Value) {
    admin.patch(&format!("/v1/apps/{app}/formation"), json!({ "updates": updates })).await.expect(200);
}

/// `GET /v1/apps/{app}/logs?{query}` as text.
async fn logs(admin: &ApiClient, app: &str, query: &str) -> String {
    let response = reqwest::Client::new()
        .get(format!("{}/v1/apps/{app}/logs?{query}", admin.base))
        .bearer_auth(admin.token.as_deref().expect("signed in"))
        .send()
        .await
        .expect("the API answers");
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "text/plain; charset=utf-8");
    response.text().await.expect("a text body")
}

/// Reads a followed log until `want` is in it; returns everything read.
async fn read_until(response: &mut reqwest::Response, seen: &mut String, want: &str) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while !seen.contains(want) {
        let chunk = tokio::time::timeout_at(deadline, response.chunk())
            .await
            .unwrap_or_else(|_| panic!("no {want:?} within a minute; got:\n{seen}"))
            .expect("the stream goes on")
            .unwrap_or_else(|| panic!("the stream ended before {want:?}; got:\n{seen}"));
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
}

#[tokio::test]
async fn logs_show_every_process_and_follow_new_ones() {
    let platform = spawn_controller_with(|c| c.docker = true).await;
    let id = platform.platform_id();
    let cleanup = DockerCleanup::new(&id);
    let admin = platform.admin().await;
    admin.create_app("hello").await;
    let command = "echo hello from $DYNO; echo to stderr from $DYNO >&2; exec sleep 3600";
    platform.stand_in_build("hello", STACK_IMAGE, &json!({"web": command, "worker": command})).await;
    scale(&admin, "hello", json!([{"type": "web", "quantity": 1}, {"type": "worker", "quantity": 1}])).await;

    // Both processes, stdout and stderr, in time order.
    let wanted = [
        ("web.1", "hello from web.1"),
        ("web.1", "to stderr from web.1"),
        ("worker.1", "hello from worker.1"),
        ("worker.1", "to stderr from worker.1"),
    ];
    let text = eventually("both processes have written their lines", || async {
        let text = logs(&admin, "hello", "").await;
        let lines: Vec<(&str, &str, &str)> = text.lines().map(parse).collect();
        wanted.iter().all(|(p, t)| lines.iter().any(|(_, lp, lt)| lp == p && lt == t)).then_some(text)
    })
    .await;
    let times: Vec<&str> = text.lines().map(|l| parse(l).0).collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "in time order:\n{text}");
    assert!(text.contains(" app[web.1]: hello from web.1\n"), "{text}");
    assert!(text.contains(" app[worker.1]: hello from worker.1\n"), "{text}");
    // `lines` counts over all processes: the newest ones.
    let last_two = logs(&admin, "hello", "lines=2").await;
    assert_eq!(
        last_two.lines().collect::<Vec<_>>(),
        text.lines().skip(text.lines().count() - 2).collect::<Vec<_>>()
    );
    assert_eq!(logs(&admin, "hello", "lines=0").await, "");

    // Filtered by the containers' labels: one process type, one release.
    let workers = logs(&admin, "hello", "type=worker").await;
    assert!(workers.contains(" app[worker.1]: hello from worker.1\n"), "{workers}");
    assert!(workers.lines().all(|l| parse(l).1.starts_with("worker.")), "only workers:\n{workers}");
    let releases = admin.get("/v1/apps/hello/releases").await.expect(200);
    let current = releases[0]["version"].as_u64().expect("a release number");
    assert_eq!(logs(&admin, "hello", &format!("release={current}")).await, text);
    assert_eq!(logs(&admin, "hello", &format!("release={}&type=web", current + 1)).await, "");
    let web = logs(&admin, "hello", &format!("release={current}&type=web&lines=1")).await;
    assert_eq!(web.lines().count(), 1, "{web}");
    assert_eq!(parse(web.trim_end()).1, "web.1", "{web}");
    let bad = reqwest::Client::new()
        .get(format!("{}/v1/apps/hello/logs?type=Not%20a%20type", admin.base))
        .bearer_auth(admin.token.as_deref().expect("signed in"))
        .send()
        .await
        .expect("the API answers");
    assert_eq!(bad.status(), 400);

    // Following: the lines so far, then those of a process started afterwards.
    let mut followed = reqwest::Client::new()
        .get(format!("{}/v1/apps/hello/logs?follow=true&lines=10", platform.url))
        .bearer_auth(admin.token.as_deref().expect("signed in"))
        .send()
        .await
        .expect("the API answers");
    assert_eq!(followed.status(), 200);
    let mut seen = String::new();
    read_until(&mut followed, &mut seen, "app[worker.1]: hello from worker.1\n").await;
    assert!(!seen.contains("worker.2"), "{seen}");
    scale(&admin, "hello", json!([{"type": "worker", "quantity": 2}])).await;
    read_until(&mut followed, &mut seen, "app[worker.2]: hello from worker.2\n").await;
    read_until(&mut followed, &mut seen, "app[worker.2]: to stderr from worker.2\n").await;
    for line in seen.lines() {
        parse(line);
    }
    let count = |text: &str, line: &str| text.lines().filter(|l| l.ends_with(line)).count();
    assert_eq!(count(&seen, "app[web.1]: hello from web.1"), 1, "no line twice:\n{seen}");
    assert_eq!(count(&seen, "app[worker.2]: hello from worker.2"), 1, "no line twice:\n{seen}");
    // The client hangs up; the platform goes on.
    drop(followed);
    let after = logs(&admin, "hello", "lines=100").await;
    assert!(after.contains(" app[worker.2]: hello from worker.2\n"), "{after}");

    // A followed log ends when the controller stops, well before the shutdown grace.
    let mut followed = reqwest::Client::new()
        .get(format!("{}/v1/apps/hello/logs?follow=true&lines=1", platform.url))
        .bearer_auth(admin.token.as_deref().expect("signed in"))
        .send()
        .await
        .expect("the API answers");
    assert_eq!(followed.status(), 200);
    let stopped = tokio::spawn(platform.stop());
    let ended = tokio::time::timeout(Duration::from_secs(8), async {
        while let Ok(Some(_)) = followed.chunk().await {}
    })
    .await;
    assert!(ended.is_ok(), "the followed log did not end when paasd stopped");
    stopped.await.expect("no panic").expect("paasd stopped cleanly");
    assert_eq!(containers(&id).await.len(), 3, "the processes outlive the controller");
    drop(cleanup);
}

/// The CLI's `paas logs -f` on the whole platform (real router): a line the app prints
/// after the command started shows up, and so does the router's access line of the
/// request that made it print.
#[tokio::test(flavor = "multi_thread")]
async fn paas_logs_follow_shows_new_app_lines_and_the_routers_access_lines() {
    let platform = paas_tests::spawn_platform().await;
    let cleanup = DockerCleanup::new(&platform.platform_id());
    let admin = platform.admin().await;
    // Python's HTTP server writes a line to stderr for every request.
    platform.serve_python_http_server(&admin, "hello").await;

    let config_dir = tempfile::tempdir().expect("a temporary dir");
    let paas = |args: &[&str]| paas_tests::paas_command(config_dir.path(), args);
    let login = paas(&["login", &platform.url, "--username", "admin"]).output().expect("paas runs");
    assert!(login.status.success(), "{}", String::from_utf8_lossy(&login.stderr));
    let mut follow = paas(&["logs", "-f", "-n", "5", "-a", "hello"]).spawn().expect("paas runs");
    let (lines_tx, mut lines_rx) = tokio::sync::mpsc::unbounded_channel::<String>();
    let stdout = follow.stdout.take().expect("stdout");
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stdout).lines().map_while(Result::ok) {
            if lines_tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut seen = Vec::new();
    let mut wait_for = async |what: &str, wanted: &dyn Fn(&str) -> bool| {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        while !seen.iter().any(|l: &String| wanted(l)) {
            match tokio::time::timeout_at(deadline, lines_rx.recv()).await {
                Ok(Some(line)) => seen.push(line),
                _ => panic!("no {what} within a minute; `paas logs -f` printed:\n{}", seen.join("\n")),
            }
        }
    };
    // The backlog first: the health check's and the probe's requests, at least.
    wait_for("first line", &|_: &str| true).await;

    let (status, _) = platform.router_get("hello", "/after-the-start").await.expect("the router answers");
    assert_eq!(status, 404, "Python's server has no such file");
    wait_for("app line of the new request", &|l: &str| {
        l.contains(" app[web.1]: ") && l.contains("\"GET /after-the-start HTTP/1.1\" 404")
    })
    .await;
    wait_for("router line of the new request", &|l: &str| {
        l.contains(" paas[router]: at=info method=GET path=\"/after-the-start\" host=hello.localhost ")
            && l.contains(" dyno=web.1 ")
            && l.contains(" status=404 ")
    })
    .await;
    let _ = follow.kill();
    let _ = follow.wait();

    // Not followed, the same lines; `--type web` leaves the router's out.
    let recent = paas(&["logs", "-n", "50", "-a", "hello"]).output().expect("paas runs");
    let recent = String::from_utf8_lossy(&recent.stdout).into_owned();
    assert!(recent.contains("paas[router]: at=info method=GET path=\"/after-the-start\""), "{recent}");
    let web = paas(&["logs", "-n", "50", "--type", "web", "-a", "hello"]).output().expect("paas runs");
    let web = String::from_utf8_lossy(&web.stdout).into_owned();
    assert!(web.contains("GET /after-the-start") && !web.contains("paas[router]"), "{web}");
    drop(platform);
    drop(cleanup);
}
