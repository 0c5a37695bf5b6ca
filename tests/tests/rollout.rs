//! Zero-downtime, health-gated releases, end to end: pushes, config changes and scales
//! under load through the real `paas-router`, a long request across a deploy, and a
//! release whose health check never passes.
//!
//! The load generator (`paas_tests::load`) runs in the test: `CONNECTIONS` keep-alive
//! connections plus one that opens a new connection per request, all to the router on
//! 127.0.0.1, until told to stop. Under it: 10 deploys, 10 config changes, 5
//! `ps:restart` and scaling 1 -> 4 -> 1. `PAAS_TEST_ROLLOUT_ROUNDS=N` makes that N
//! deploys, N config changes and at most N restarts: `cargo xtask test` runs the whole
//! suite a second time on PostgreSQL, with fewer rounds.

use std::sync::atomic::Ordering;
use std::time::Duration;

use paas_tests::checkout::{Checkout, ImageCleanup};
use paas_tests::deployer::Deployer;
use paas_tests::docker::DockerCleanup;
use paas_tests::eventually;
use paas_tests::load::Load;
use serde_json::json;

/// A web app: `/` answers its version and greeting, `/slow` after 3 s, `/health` with
/// `HEALTH`.
const APP_PY: &str = r#"import http.server, os, socket, time
VERSION = "1"
HEALTH = 200
GREETING = os.environ.get("GREETING", "hello")
class App(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        status = 200
        if self.path == "/slow":
            time.sleep(3)
        if self.path == "/health":
            status = HEALTH
        body = ("v%s %s from %s\n" % (VERSION, GREETING, socket.gethostname())).encode()
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
print("listening on", os.environ["PORT"], flush=True)
http.server.ThreadingHTTPServer(("", int(os.environ["PORT"])), App).serve_forever()
"#;

fn app_py(version: u32, health: u16) -> String {
    APP_PY
        .replace(r#"VERSION = "1""#, &format!(r#"VERSION = "{version}""#))
        .replace("HEALTH = 200", &format!("HEALTH = {health}"))
}

const CONNECTIONS: usize = 32;

async fn deployer(drain: Duration) -> Deployer {
    Deployer::start_with(|c| {
        c.rollout.drain = drain;
        c.rollout.stop_grace = Duration::from_secs(2);
    })
    .await
}

/// How many deploys and config changes the load test makes (restarts: at most 5).
#[allow(clippy::disallowed_methods)] // A test knob, not a platform setting.
fn rounds() -> u32 {
    std::env::var("PAAS_TEST_ROLLOUT_ROUNDS").ok().and_then(|v| v.parse().ok()).unwrap_or(10).max(2)
}

#[tokio::test(flavor = "multi_thread")]
async fn deploys_config_changes_and_scaling_under_load_drop_nothing() {
    let d = deployer(Duration::from_secs(2)).await;
    let app = "steadyload";
    let _images = ImageCleanup::new(app);
    let _containers = DockerCleanup::new(&d.platform.platform_id());
    d.admin.create_app(app).await;
    let checkout = Checkout::new(&[("app.py", &app_py(1, 200)), ("Procfile", "web: python3 app.py\n")]);
    d.push(&checkout, app)
        .assert_success()
        .assert_contains("remote: -----> Launching v2...")
        .assert_contains("remote: -----> v2 is up");
    let load = Load::start(&d.platform, app, CONNECTIONS, None);
    eventually("the load gets answers", || async {
        (load.counts.ok.load(Ordering::Relaxed) > 50).then_some(())
    })
    .await;

    let mut version: u64 = 2;
    let last_build = rounds() + 1;
    for n in 2..=last_build {
        checkout.commit(&[("app.py", &app_py(n, 200))], &format!("deploy {n}"));
        version += 1;
        d.push(&checkout, app).assert_success().assert_contains(&format!("remote: -----> v{version} is up"));
        eprintln!("at {:.1} s: v{version} deployed", load.elapsed());
    }
    for round in 1..=rounds() {
        let greeting = if round == rounds() { "hallo".to_owned() } else { format!("hello-{round}") };
        version = d.admin.config_set(app, &[("GREETING", &greeting)]).await;
        d.succeeded(app, version).await;
        eprintln!("at {:.1} s: v{version} (config) succeeded", load.elapsed());
    }
    for _ in 0..rounds().min(5) {
        let before = d.running(app).await;
        let restarted = d.admin.post(&format!("/v1/apps/{app}/processes/restart"), json!({})).await;
        assert_eq!(restarted.status, 200, "{}", restarted.body);
        eventually("a new web process replaces the restarted one", || async {
            let now = d.running(app).await;
            (now.len() == 1 && before.iter().all(|old| old.id != now[0].id)).then_some(())
        })
        .await;
        eprintln!("at {:.1} s: restarted", load.elapsed());
    }
    d.admin.scale(app, "web", 4).await;
    d.web_up(app, 4).await;
    eprintln!("at {:.1} s: scaled to 4", load.elapsed());
    d.admin.scale(app, "web", 1).await;
    d.web_up(app, 1).await;
    eprintln!("at {:.1} s: scaled to 1", load.elapsed());
    eventually("one web process of the last release runs", || async {
        let running = d.running_processes(app).await;
        (running == [(version.to_string(), "web.1".to_owned())]).then_some(())
    })
    .await;
    let (requests, _, _) = load.finish().await;
    assert!(requests > 0);
    let last = d.platform.router_get(app, "/").await.expect("an answer");
    assert!(last.1.starts_with(&format!("v{last_build} hallo from ")), "{last:?}");
    d.platform.stop().await.expect("paasd stops cleanly");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_long_request_opened_before_a_rollout_finishes_within_the_drain() {
    let d = deployer(Duration::from_secs(5)).await;
    let app = "longreq";
    let _images = ImageCleanup::new(app);
    let _containers = DockerCleanup::new(&d.platform.platform_id());
    d.admin.create_app(app).await;
    let checkout = Checkout::new(&[("app.py", &app_py(1, 200)), ("Procfile", "web: python3 app.py\n")]);
    d.push(&checkout, app).assert_success().assert_contains("remote: -----> v2 is up");
    let old = d.running_processes(app).await;
    assert_eq!(old, [("2".to_owned(), "web.1".to_owned())]);

    let platform = &d.platform;
    let slow = async { platform.router_get(app, "/slow").await };
    let rollout = async {
        // The slow request is on its way to v2's web.1 first.
        tokio::time::sleep(Duration::from_millis(300)).await;
        let version = d.admin.config_set(app, &[("GREETING", "later")]).await;
        d.succeeded(app, version).await;
        version
    };
    let (answer, version) = tokio::join!(slow, rollout);
    let (status, body) = answer.expect("the long request was answered");
    assert_eq!(status, 200, "{body}");
    assert!(body.starts_with("v1 hello from "), "served by the old release: {body}");
    eventually("only the new release runs", || async {
        (d.running_processes(app).await == [(version.to_string(), "web.1".to_owned())]).then_some(())
    })
    .await;
    let (_, body) = d.platform.router_get(app, "/").await.expect("an answer");
    assert!(body.starts_with("v1 later from "), "{body}");
    d.platform.stop().await.expect("paasd stops cleanly");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_release_that_never_gets_healthy_fails_and_the_old_one_keeps_serving() {
    let d = deployer(Duration::from_secs(1)).await;
    let app = "unhealthy";
    let _images = ImageCleanup::new(app);
    let _containers = DockerCleanup::new(&d.platform.platform_id());
    d.admin.create_app(app).await;
    let checkout = Checkout::new(&[("app.py", &app_py(1, 200)), ("Procfile", "web: python3 app.py\n")]);
    d.push(&checkout, app).assert_success().assert_contains("remote: -----> v2 is up");

    // Bad settings are refused and change nothing.
    let checks = format!("/v1/apps/{app}/healthchecks");
    d.admin
        .put(&format!("{checks}/web"), json!({"path": "health"}))
        .await
        .expect_error(400, "invalid_request");
    d.admin
        .put(&format!("{checks}/web"), json!({"path": "/health", "timeout_ms": 50}))
        .await
        .expect_error(400, "invalid_request");
    d.admin
        .put(&format!("{checks}/web"), json!({"path": "/health", "attempts": 0}))
        .await
        .expect_error(400, "invalid_request");
    assert_eq!(d.admin.get(&checks).await.expect(200), json!([]));
    let set = d
        .admin
        .put(&format!("{checks}/web"), json!({"path": "/health", "interval_ms": 200, "attempts": 5}))
        .await
        .expect(200);
    assert_eq!(
        set,
        json!({"type": "web", "path": "/health", "timeout_ms": 5000, "interval_ms": 200, "attempts": 5})
    );
    assert_eq!(d.admin.get(&checks).await.expect(200), json!([set]));

    let load = Load::start(&d.platform, app, 4, Some("v1 hello from ".into()));
    checkout.commit(&[("app.py", &app_py(2, 500))], "a broken health check");
    let push = d.push(&checkout, app);
    push.assert_failure()
        .assert_contains("remote: -----> Launching v3...")
        // The last attempt's answer is a 500, or, when the process took its time to
        // listen on a loaded machine, no connection.
        .assert_contains(
            "v3 failed: web.1 failed its health check GET /health on port 5000 (5 attempts; last: ",
        )
        .assert_contains("app[web.1]: listening on 5000");
    let releases = d.releases(app).await;
    assert_eq!((&releases[0]["version"], &releases[0]["status"]), (&json!(3), &json!("failed")));
    assert!(releases[0]["failure"].as_str().unwrap_or_default().contains("GET /health"), "{releases:?}");
    assert_eq!(
        (&releases[1]["version"], &releases[1]["status"], &releases[1]["current"]),
        (&json!(2), &json!("succeeded"), &json!(true))
    );
    eventually("only v2 runs", || async {
        (d.running_processes(app).await == [("2".to_owned(), "web.1".to_owned())]).then_some(())
    })
    .await;
    // Still the old release after the attempt.
    tokio::time::sleep(Duration::from_secs(2)).await;
    load.finish().await;

    // Back to the default check, the next push of healthy code rolls out.
    d.admin.delete(&format!("{checks}/web")).await.expect(204);
    checkout.commit(&[("app.py", &app_py(3, 200))], "fixed");
    d.push(&checkout, app).assert_success().assert_contains("remote: -----> v4 is up");
    d.platform.stop().await.expect("paasd stops cleanly");
}
