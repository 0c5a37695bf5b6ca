//! `kill -9` of the real `paasd` binary in the middle of a rollout, then a restart on
//! the same data dir and ports: the app answers through the router the whole time (the
//! router is its own process and the old containers keep running), and soon after the
//! restart the app's containers are those of exactly one release, as many as its
//! formation says, with no orphans.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use paas_tests::checkout::{Checkout, ImageCleanup};
use paas_tests::docker::{containers, DockerCleanup};
use paas_tests::platform::kill_if_serving;
use paas_tests::{eventually, workspace_binary, ApiClient, TestDatabase, PASSWORD};
use reqwest::Method;
use serde_json::json;

const APP_PY: &str = r#"import http.server, os
VERSION = "v1"
class App(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = (VERSION + "\n").encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
http.server.ThreadingHTTPServer(("", int(os.environ["PORT"])), App).serve_forever()
"#;

fn free_addr() -> String {
    paas_tests::platform::free_addr().to_string()
}

/// The real paasd binary with every listener on a port chosen once, so a restart
/// serves on the same ones.
struct Paasd {
    env: Vec<(&'static str, String)>,
    child: Option<Child>,
    api: String,
    router: String,
    data_dir: PathBuf,
}

impl Paasd {
    fn new(data_dir: &Path, database_url: &str) -> Paasd {
        let (api, router, builder) = (free_addr(), free_addr(), free_addr());
        let env = vec![
            ("PAAS_API_ADDR", api.clone()),
            ("PAAS_HTTP_ADDR", router.clone()),
            // Not the default port, which another test's platform may hold.
            ("PAAS_HTTPS_ADDR", free_addr()),
            ("PAAS_BUILDER_ADDR", builder),
            ("PAAS_REGISTRY_GATEWAY_ADDR", free_addr()),
            ("PAAS_REGISTRY_TOKEN_ADDR", free_addr()),
            ("PAAS_REGISTRY_ADDR", free_addr()),
            ("PAAS_ROUTER_BIN", workspace_binary("paas-router").display().to_string()),
            ("PAAS_DATA_DIR", data_dir.display().to_string()),
            ("PAAS_DATABASE_URL", database_url.to_owned()),
            ("PAAS_DOMAIN", "localhost".to_owned()),
            ("PAAS_DOCKER", "on".to_owned()),
            ("PAAS_DRAIN_SECONDS", "1".to_owned()),
            ("PAAS_STOP_GRACE_SECONDS", "2".to_owned()),
            ("PAAS_LOG", "warn".to_owned()),
        ];
        Paasd { env, child: None, api, router, data_dir: data_dir.to_owned() }
    }

    async fn start(&mut self) {
        let child = Command::new(workspace_binary("paasd"))
            .envs(self.env.iter().map(|(k, v)| (*k, v.as_str())))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .expect("paasd starts");
        self.child = Some(child);
        let client = ApiClient::new(&self.url());
        eventually("paasd is ready", || async {
            let reply = client.try_request(Method::GET, "/readyz", None).await?;
            (reply.status == 200).then_some(())
        })
        .await;
    }

    fn kill_9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn url(&self) -> String {
        format!("http://{}", self.api)
    }

    fn platform_id(&self) -> String {
        std::fs::read_to_string(self.data_dir.join(paasd::PLATFORM_ID_FILE))
            .expect("paasd made the platform id")
            .trim()
            .to_owned()
    }
}

impl Drop for Paasd {
    fn drop(&mut self) {
        self.kill_9();
        paasd::router_process::kill_recorded(&self.data_dir.join("router"), &workspace_binary("paas-router"));
        if let Some(pid) = paasd::registry::recorded_registry_pid(&self.data_dir) {
            kill_if_serving(pid, &self.data_dir);
        }
    }
}

/// `GET /` through the router with `Host: <app>.localhost`, on a new connection.
async fn router_get(client: &reqwest::Client, router: &str, app: &str) -> Result<String, String> {
    let resp = client
        .get(format!("http://{router}/"))
        .header("Host", format!("{app}.localhost"))
        .send()
        .await
        .map_err(|e| format!("connection: {e}"))?;
    let status = resp.status();
    let body = resp.text().await.map_err(|e| format!("body: {e}"))?;
    if status.is_success() {
        Ok(body)
    } else {
        Err(format!("HTTP {status}"))
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn kill_9_mid_rollout_keeps_the_app_up_and_converges_on_one_release() {
    let dir = tempfile::tempdir().expect("a temporary dir");
    let database = TestDatabase::create(dir.path()).await;
    let mut paasd = Paasd::new(&dir.path().join("data"), &database.url);
    paasd.start().await;
    let app = "crashroll";
    let _images = ImageCleanup::new(app);
    let _containers = DockerCleanup::new(&paasd.platform_id());

    let anon = ApiClient::new(&paasd.url());
    anon.post("/v1/auth/register", json!({"username": "admin", "password": PASSWORD})).await.expect(201);
    let session =
        anon.post("/v1/auth/login", json!({"username": "admin", "password": PASSWORD})).await.expect(200);
    let admin = anon.with_token(session["token"].as_str().expect("a token"));
    admin.create_app(app).await;
    let token = admin.token("git").await;
    let builder = paasd.env.iter().find(|(k, _)| *k == "PAAS_BUILDER_ADDR").expect("a builder").1.clone();
    let git_url = format!("http://admin:{token}@{builder}/{app}.git");

    let checkout = Checkout::new(&[("app.py", APP_PY), ("Procfile", "web: python3 app.py\n")]);
    tokio::task::block_in_place(|| checkout.push(&git_url)).assert_success();
    admin.scale(app, "web", 2).await;
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .timeout(Duration::from_secs(10))
        .build()
        .expect("an HTTP client");
    eventually("two web processes of v2 are up", || async {
        let up = containers(&paasd.platform_id())
            .await
            .into_iter()
            .filter(|c| c.running && c.labels.get("paas.type").map(String::as_str) == Some("web"))
            .count();
        (up == 2 && router_get(&http, &paasd.router, app).await.is_ok()).then_some(())
    })
    .await;

    // Requests through the router from now until the end of the test.
    let stop = Arc::new(AtomicBool::new(false));
    let (sent, failed) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let load = {
        let (stop, sent, failed, http) = (stop.clone(), sent.clone(), failed.clone(), http.clone());
        let router = paasd.router.clone();
        tokio::spawn(async move {
            let mut errors = Vec::new();
            // Bounded: at most 20 000 requests, and the test stops it long before.
            for _ in 0..20_000 {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                sent.fetch_add(1, Ordering::Relaxed);
                if let Err(e) = router_get(&http, &router, app).await {
                    failed.fetch_add(1, Ordering::Relaxed);
                    errors.push(e);
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            errors
        })
    };

    // A second deploy, and paasd killed while it rolls out.
    checkout.commit(&[("app.py", &APP_PY.replace("\"v1\"", "\"v2\""))], "second");
    let pushing = {
        let url = git_url.clone();
        let repo = checkout.path().to_owned();
        std::thread::spawn(move || {
            Command::new("git")
                .args(["push", &url, "main"])
                .current_dir(repo)
                .env("GIT_TERMINAL_PROMPT", "0")
                .output()
                .expect("git runs")
        })
    };
    eventually("the new release's containers start", || async {
        let new = containers(&paasd.platform_id())
            .await
            .into_iter()
            .any(|c| c.labels.get("paas.release").map(String::as_str) == Some("3"));
        new.then_some(())
    })
    .await;
    paasd.kill_9();
    let _ = pushing.join();
    // The control plane is away: the router and the running containers carry on.
    tokio::time::sleep(Duration::from_secs(2)).await;
    paasd.start().await;

    // One release, as many web processes as the formation says, nothing else.
    let release = eventually("the app's containers converge on one release", || async {
        let app_containers: Vec<_> = containers(&paasd.platform_id())
            .await
            .into_iter()
            .filter(|c| c.labels.get("paas.app").map(String::as_str) == Some(app))
            .collect();
        let releases: std::collections::BTreeSet<_> =
            app_containers.iter().map(|c| c.labels["paas.release"].clone()).collect();
        let all_up = app_containers.iter().all(|c| c.running);
        let mut processes: Vec<String> = app_containers.iter().map(|c| c.process()).collect();
        processes.sort();
        (releases.len() == 1 && all_up && processes == ["web.1", "web.2"])
            .then(|| releases.into_iter().next().expect("one release"))
    })
    .await;
    let answer = eventually("the app answers after the restart", || async {
        router_get(&http, &paasd.router, app).await.ok()
    })
    .await;
    stop.store(true, Ordering::Relaxed);
    let errors = load.await.expect("the load task");
    let (sent, failed) = (sent.load(Ordering::Relaxed), failed.load(Ordering::Relaxed));
    println!("requests: {sent}, errors: {failed}; converged on v{release}, answering {}", answer.trim());
    assert_eq!(failed, 0, "requests failed while paasd was killed and restarted: {errors:?}");
    assert!(sent > 0);
    let _ = database;
}
