//! Push to serve on one node, with the real git client and the real Docker engine: a
//! Dockerfile app pushed with `git push` is built, released, scaled to one `web`
//! process and answers; a config change makes a release that answers differently.
//! (The registry hop and the router in front come later; this test talks to the
//! process's address on the platform network, as the router would.)

use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use paas_tests::docker::DockerCleanup;
use paas_tests::{spawn_controller_with, ApiClient};
use serde_json::{json, Value};

const APP_PY: &str = r#"import http.server, os
class Hello(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = (os.environ.get("GREETING", "hello") + "\n").encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
http.server.HTTPServer(("", int(os.environ["PORT"])), Hello).serve_forever()
"#;

const DOCKERFILE: &str =
    "FROM paas/stack:bookworm\nCOPY app.py /app/app.py\nCMD [\"python3\", \"/app/app.py\"]\n";

fn git(dir: &Path, args: &[&str]) -> Output {
    Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("HOME", dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("GIT_AUTHOR_NAME", "Dev")
        .env("GIT_AUTHOR_EMAIL", "dev@example.com")
        .env("GIT_COMMITTER_NAME", "Dev")
        .env("GIT_COMMITTER_EMAIL", "dev@example.com")
        .output()
        .expect("git runs")
}

/// Removes the images this test's pushes built, also when it fails.
struct ImageCleanup(&'static str);

impl Drop for ImageCleanup {
    fn drop(&mut self) {
        let listed = Command::new("docker").args(["images", "-q", self.0]).output();
        if let Ok(out) = listed {
            for id in String::from_utf8_lossy(&out.stdout).split_whitespace() {
                let _ = Command::new("docker").args(["rmi", "-f", id]).output();
            }
        }
    }
}

async fn eventually<T, F: std::future::Future<Output = Option<T>>>(
    what: &str,
    mut check: impl FnMut() -> F,
) -> T {
    for _ in 0..600 {
        if let Some(value) = check().await {
            return value;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("never happened: {what}");
}

/// What the app's first `web` process answers, once it runs release `release`.
async fn answer_of(admin: &ApiClient, release: u64) -> String {
    let http = reqwest::Client::new();
    eventually(&format!("web.1 of v{release} answers"), || async {
        let processes: Value = admin.get("/v1/apps/deployme/processes").await.expect(200);
        let web =
            processes.as_array()?.iter().find(|p| p["name"] == "web.1" && p["release"] == release)?.clone();
        let address = web["address"].as_str()?.to_owned();
        let resp = http.get(format!("http://{address}/")).send().await.ok()?;
        resp.text().await.ok()
    })
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_pushed_dockerfile_app_is_built_released_and_answers() {
    let platform = spawn_controller_with(|c| {
        c.docker = true;
        c.builder_addr = Some("127.0.0.1:0".parse().unwrap());
    })
    .await;
    // Dropped in reverse order: the containers go first, then the images they ran.
    let _images = ImageCleanup("paas/deployme");
    let _containers = DockerCleanup::new(&platform.platform_id());
    let admin = platform.admin().await;
    admin.create_app("deployme").await;
    let token = admin.post("/v1/tokens", json!({"description": "git"})).await.expect(201)["secret"]
        .as_str()
        .unwrap()
        .to_owned();

    let repo = tempfile::tempdir().unwrap();
    std::fs::write(repo.path().join("app.py"), APP_PY).unwrap();
    std::fs::write(repo.path().join("Dockerfile"), DOCKERFILE).unwrap();
    for args in [&["init", "-q", "-b", "main"][..], &["add", "."], &["commit", "-q", "-m", "first"]] {
        assert!(git(repo.path(), args).status.success(), "git {args:?}");
    }
    let url = format!("http://admin:{token}@{}/deployme.git", platform.config.builder_addr.unwrap());
    let out = tokio::task::block_in_place(|| git(repo.path(), &["push", &url, "main"]));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("remote: -----> Building with the Dockerfile"), "{stderr}");
    assert!(stderr.contains("remote: -----> Released v2"), "{stderr}");

    let releases = admin.get("/v1/apps/deployme/releases").await.expect(200);
    assert!(releases[0]["summary"].as_str().unwrap().starts_with("Deploy "), "{releases}");
    assert!(releases[0]["image"].as_str().unwrap().starts_with("paas/deployme:"), "{releases}");
    // The first build with a web type runs one web process.
    assert_eq!(
        admin.get("/v1/apps/deployme/formation").await.expect(200),
        json!([{"type": "web", "quantity": 1}])
    );
    assert_eq!(answer_of(&admin, 2).await, "hello\n");

    assert_eq!(admin.config_set("deployme", &[("GREETING", "bonjour")]).await, 3);
    assert_eq!(answer_of(&admin, 3).await, "bonjour\n");

    admin.delete("/v1/apps/deployme").await.expect(204);
    platform.stop().await.expect("paasd stops cleanly");
}
