//! The release phase, `ps:restart` and `limits:set`, end to end through the real
//! `paas-router`: a Procfile's `release:` command runs once before a release rolls out,
//! its output shown by the push; a failing one stops the deploy while the old release
//! keeps serving; a restart replaces every process without dropping a request; a memory
//! limit reaches the container.

use std::sync::atomic::Ordering;
use std::time::Duration;

use paas_tests::checkout::{Checkout, ImageCleanup};
use paas_tests::deployer::{Deployer, Running};
use paas_tests::docker::DockerCleanup;
use paas_tests::eventually;
use paas_tests::load::Load;
use serde_json::json;

/// A web app answering `v<VERSION> from <host>`.
const APP_PY: &str = r#"import http.server, os, socket
VERSION = "1"
class App(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = ("v%s from %s\n" % (VERSION, socket.gethostname())).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
http.server.ThreadingHTTPServer(("", int(os.environ["PORT"])), App).serve_forever()
"#;

fn app_py(version: u32) -> String {
    APP_PY.replace(r#"VERSION = "1""#, &format!(r#"VERSION = "{version}""#))
}

async fn deployer() -> Deployer {
    Deployer::start_with(|c| {
        c.rollout.drain = Duration::from_secs(1);
        c.rollout.stop_grace = Duration::from_secs(2);
    })
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_release_command_runs_before_the_rollout_and_its_failure_stops_the_deploy() {
    let d = deployer().await;
    let app = "migrates";
    let _images = ImageCleanup::new(app);
    let _containers = DockerCleanup::new(&d.platform.platform_id());
    d.admin.create_app(app).await;
    let procfile = "web: python3 app.py\nrelease: python3 -c \"print('migrating'); open('/tmp/x','w')\"\n";
    let checkout = Checkout::new(&[("app.py", &app_py(1)), ("Procfile", procfile)]);
    d.push(&checkout, app)
        .assert_success()
        .assert_contains("remote: -----> Running release command...")
        .assert_contains("remote:        migrating")
        .assert_contains("remote: -----> v2 is up");
    let (status, body) = d.platform.router_get(app, "/").await.expect("an answer");
    assert_eq!(status, 200, "{body}");
    assert!(body.starts_with("v1 from "), "{body}");
    // The release type is no process: not in the formation, not scalable.
    let formation = d.admin.get(&format!("/v1/apps/{app}/formation")).await.expect(200);
    assert!(!formation.to_string().contains("release"), "{formation}");
    d.admin
        .patch(&format!("/v1/apps/{app}/formation"), json!({"updates": [{"type": "release", "quantity": 1}]}))
        .await
        .expect_error(400, "invalid_request");

    let load = Load::start(&d.platform, app, 4, Some("v1 from ".into()));
    eventually("the load gets answers", || async {
        (load.counts.ok.load(Ordering::Relaxed) > 20).then_some(())
    })
    .await;
    let failing = "web: python3 app.py\nrelease: sh -c 'echo boom; exit 3'\n";
    checkout.commit(&[("app.py", &app_py(2)), ("Procfile", failing)], "a failing release command");
    d.push(&checkout, app)
        .assert_failure()
        .assert_contains("remote: -----> Running release command...")
        .assert_contains("remote:        boom")
        .assert_contains("the release command exited with 3");
    let releases = d.releases(app).await;
    assert_eq!(
        (&releases[0]["version"], &releases[0]["status"]),
        (&json!(3), &json!("failed")),
        "{releases:?}"
    );
    assert_eq!(releases[0]["failure"], json!("the release command exited with 3"));
    assert_eq!((&releases[1]["version"], &releases[1]["current"]), (&json!(2), &json!(true)));
    // Nothing of v3 ran but its release command; the old release kept serving.
    let running = d.running(app).await;
    assert!(running.iter().all(|r| r.release == "2"), "{running:?}");
    load.finish().await;

    // A config change runs the (good) release command of the current build again.
    checkout.commit(&[("Procfile", procfile)], "fixed");
    d.push(&checkout, app).assert_success().assert_contains("remote:        migrating");
    let version = d.admin.config_set(app, &[("GREETING", "hi")]).await;
    eventually("the config release succeeds", || async {
        let releases = d.releases(app).await;
        let release = releases.iter().find(|r| r["version"] == json!(version))?;
        (release["status"] == "succeeded").then_some(())
    })
    .await;
    d.platform.stop().await.expect("paasd stops cleanly");
}

#[tokio::test(flavor = "multi_thread")]
async fn ps_restart_and_limits_replace_the_processes_without_dropping_a_request() {
    let d = deployer().await;
    let app = "restarts";
    let _images = ImageCleanup::new(app);
    let _containers = DockerCleanup::new(&d.platform.platform_id());
    d.admin.create_app(app).await;
    let checkout = Checkout::new(&[("app.py", &app_py(1)), ("Procfile", "web: python3 app.py\n")]);
    d.push(&checkout, app).assert_success().assert_contains("remote: -----> v2 is up");
    let before = d.running(app).await;
    assert_eq!(before.len(), 1, "{before:?}");

    let restart = format!("/v1/apps/{app}/processes/restart");
    d.admin.post(&restart, json!({"type": "worker"})).await.expect_error(404, "not_found");
    d.admin.post(&restart, json!({"type": "Bad Type"})).await.expect_error(400, "invalid_request");

    let load = Load::start(&d.platform, app, 8, Some("v1 from ".into()));
    eventually("the load gets answers", || async {
        (load.counts.ok.load(Ordering::Relaxed) > 20).then_some(())
    })
    .await;
    assert_eq!(d.admin.post(&restart, json!({"type": "web"})).await.expect(200), json!({"types": ["web"]}));
    let replaced = |old: Vec<Running>| {
        let d = &d;
        async move {
            eventually("the web process is replaced", || async {
                let now = d.running(app).await;
                (now.len() == 1 && now[0].id != old[0].id && now[0].release == "2").then_some(now)
            })
            .await
        }
    };
    let after = replaced(before).await;
    assert_eq!(after[0].process, "web.1");

    // Bad sizes: 400 and no change.
    let limits = format!("/v1/apps/{app}/limits");
    for bad in ["lots", "1.5G", "8M", "65G"] {
        d.admin
            .patch(&limits, json!({"updates": [{"type": "web", "memory": bad}]}))
            .await
            .expect_error(400, "invalid_request");
    }
    d.admin
        .patch(&limits, json!({"updates": [{"type": "web", "cpu": "0"}]}))
        .await
        .expect_error(400, "invalid_request");
    assert_eq!(d.admin.get(&limits).await.expect(200), json!([]));
    let set =
        d.admin.patch(&limits, json!({"updates": [{"type": "web", "memory": "256M"}]})).await.expect(200);
    assert_eq!(set, json!([{"type": "web", "memory": "256M", "memory_bytes": 268435456, "cpu": null}]));
    let limited = replaced(after).await;
    let inspect = tokio::process::Command::new("docker")
        .args(["inspect", "--format", "{{.HostConfig.Memory}} {{.HostConfig.MemorySwap}}", &limited[0].id])
        .output()
        .await
        .expect("docker inspect runs");
    assert_eq!(String::from_utf8_lossy(&inspect.stdout).trim(), "268435456 268435456");
    let (requests, _, _) = load.finish().await;
    assert!(requests > 0);
    // No release was made.
    assert_eq!(d.releases(app).await.len(), 2);
    d.platform.stop().await.expect("paasd stops cleanly");
}
