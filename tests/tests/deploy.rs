//! Push to serve, end to end, as a developer sees it: `git push` with the real git
//! client to the builder in paasd, a build on the real Docker engine (buildpacks or a
//! Dockerfile), the image pushed through the registry gateway to the real Distribution
//! registry and pulled back by digest, a release, containers, and requests through the
//! real `paas-router` process with `Host: <app>.<domain>`.

use std::collections::BTreeSet;

use paas_tests::checkout::{Checkout, ImageCleanup};
use paas_tests::deployer::Deployer;
use paas_tests::docker::{containers, DockerCleanup};
use paas_tests::{eventually, spawn_platform};

/// A web process that answers with a config var and its host name, and a worker.
const APP_PY: &str = r#"import http.server, os, socket
GREETING = os.environ.get("GREETING", "hello")
class App(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = ("%s from %s\n" % (GREETING, socket.gethostname())).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
print("listening on", os.environ["PORT"], flush=True)
http.server.ThreadingHTTPServer(("", int(os.environ["PORT"])), App).serve_forever()
"#;

const PROCFILE: &str = "web: python3 app.py\nworker: python3 -c 'import time; print(\"working\", flush=True); time.sleep(1e9)'\n";

/// The web app, its greeting's default changed: a second deploy with one line changed.
fn app_py_v2() -> String {
    APP_PY.replace(r#"os.environ.get("GREETING", "hello")"#, r#""v2 " + os.environ.get("GREETING", "hello")"#)
}

async fn deployer() -> Deployer {
    Deployer::start_with(|_| {}).await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_python_app_deploys_scales_changes_and_rolls_back() {
    let d = deployer().await;
    let app = "pyhello";
    let _images = ImageCleanup::new(app);
    let _containers = DockerCleanup::new(&d.platform.platform_id());
    d.admin.create_app(app).await;

    let checkout = Checkout::new(&[("app.py", APP_PY), ("Procfile", PROCFILE)]);
    let push = d.push(&checkout, app);
    push.assert_success()
        .assert_contains("remote: -----> Python app detected")
        .assert_contains("remote: -----> Pushing to")
        .assert_contains("remote: -----> Released v2");
    let first = d.answer_starting(app, "hello from ").await;
    let releases = d.releases(app).await;
    let image = releases[0]["image"].as_str().expect("an image").to_owned();
    assert_eq!(releases[0]["created_by"], "admin", "the release names who pushed");
    let gateway = d.platform.registry_host();
    assert!(image.starts_with(&format!("{gateway}/paas/{app}@sha256:")), "{image}");
    // The container's host name is its id's start.
    let host = first.trim().strip_prefix("hello from ").expect("a host name");
    assert_eq!(host.len(), 12, "{first}");

    // A config change is a release, and the app's answer follows it.
    assert_eq!(d.admin.config_set(app, &[("GREETING", "bonjour")]).await, 3);
    d.answer_starting(app, "bonjour from ").await;

    // Three web processes, and 30 requests through the router reach all three.
    d.admin.scale(app, "web", 3).await;
    let hosts = eventually("30 requests reach three web processes", || async {
        let mut hosts = BTreeSet::new();
        for _ in 0..30 {
            let (status, body) = d.platform.router_get(app, "/").await?;
            if status != 200 {
                return None;
            }
            hosts.insert(body.trim().rsplit(' ').next()?.to_owned());
        }
        (hosts.len() == 3).then_some(hosts)
    })
    .await;
    let web: BTreeSet<String> = containers(&d.platform.platform_id())
        .await
        .into_iter()
        .filter(|c| c.running && c.labels["paas.app"] == app && c.labels["paas.type"] == "web")
        .map(|c| c.id[..12].to_owned())
        .collect();
    assert_eq!(hosts, web);

    // The worker runs when scaled; web=0 leaves the router nothing to send to.
    d.admin.scale(app, "worker", 1).await;
    eventually("worker.1 runs", || async {
        d.running(app).await.iter().any(|r| r.process == "worker.1").then_some(())
    })
    .await;
    d.admin.scale(app, "web", 0).await;
    d.status_becomes(app, 503).await;
    d.admin.scale(app, "web", 1).await;
    d.answer_starting(app, "bonjour from ").await;

    // A second push (one line changed) is a new build and release; the old
    // containers go.
    checkout.commit(&[("app.py", &app_py_v2())], "second");
    d.push(&checkout, app).assert_success().assert_contains("remote: -----> Released v4");
    d.answer_starting(app, "v2 bonjour from ").await;
    eventually("only v4 runs", || async {
        let running = d.running(app).await;
        (!running.is_empty() && running.iter().all(|r| r.release == "4")).then_some(())
    })
    .await;
    let releases = d.releases(app).await;
    assert_ne!(releases[0]["image"], releases[1]["image"], "a new build");

    // Rollback to v3: the previous image serves again.
    assert_eq!(d.admin.rollback(app, 3).await, 5);
    d.answer_starting(app, "bonjour from ").await;
    assert_eq!(d.releases(app).await[0]["image"].as_str(), Some(image.as_str()));

    d.admin.delete(&format!("/v1/apps/{app}")).await.expect(204);
    d.platform.stop().await.expect("paasd stops cleanly");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_dockerfile_app_deploys_through_the_registry() {
    let d = deployer().await;
    let app = "dockhello";
    let _images = ImageCleanup::new(app);
    let _containers = DockerCleanup::new(&d.platform.platform_id());
    d.admin.create_app(app).await;

    let dockerfile = format!(
        "FROM {}\nCOPY app.py /app/app.py\nCMD [\"python3\", \"/app/app.py\"]\n",
        paas_tests::STACK_IMAGE
    );
    let checkout = Checkout::new(&[("app.py", APP_PY), ("Dockerfile", &dockerfile)]);
    d.push(&checkout, app)
        .assert_success()
        .assert_contains("remote: -----> Building with the Dockerfile")
        .assert_contains("remote: -----> Released v2");
    d.answer_starting(app, "hello from ").await;
    let image = d.releases(app).await[0]["image"].as_str().expect("an image").to_owned();
    assert!(image.starts_with(&format!("{}/paas/{app}@sha256:", d.platform.registry_host())), "{image}");

    // The docker CLI is refused the image without a token, and gets it as `node`.
    let docker_config = tempfile::tempdir().expect("a temporary dir");
    let docker = |args: &[&str], stdin: &str| {
        use std::io::Write;
        let mut child = std::process::Command::new("docker")
            .args(args)
            .env("DOCKER_CONFIG", docker_config.path())
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("docker runs");
        child.stdin.take().expect("stdin").write_all(stdin.as_bytes()).expect("written");
        let out = child.wait_with_output().expect("docker ends");
        (out.status.success(), String::from_utf8_lossy(&out.stderr).into_owned())
    };
    d.admin.scale(app, "web", 0).await;
    d.status_becomes(app, 503).await;
    // Out of the route table at once; the container goes after its drain.
    eventually("the app's container is gone", || async {
        let id = d.platform.platform_id();
        containers(&id)
            .await
            .iter()
            .all(|c| c.labels.get("paas.app").map(String::as_str) != Some(app))
            .then_some(())
    })
    .await;
    let (removed, err) = docker(&["rmi", &image], "");
    assert!(removed, "{err}");
    let (pulled, err) = tokio::task::block_in_place(|| docker(&["pull", &image], ""));
    assert!(!pulled, "pulled without a token");
    assert!(err.contains("denied") || err.contains("unauthorized"), "{err}");
    let host = d.platform.registry_host();
    let secret = d.platform.registry_secret(paasd::registry::NODE_SECRET_FILE);
    let (logged_in, err) = docker(&["login", "-u", "node", "--password-stdin", &host], &secret);
    assert!(logged_in, "{err}");
    let (pulled, err) = tokio::task::block_in_place(|| docker(&["pull", &image], ""));
    assert!(pulled, "{err}");

    // Without the image on the engine, the scheduler pulls it by digest as `node`.
    let (removed, err) = docker(&["rmi", &image], "");
    assert!(removed, "{err}");
    d.admin.scale(app, "web", 1).await;
    d.answer_starting(app, "hello from ").await;
    d.platform.stop().await.expect("paasd stops cleanly");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_python_app_with_requirements_builds_and_serves() {
    let d = deployer().await;
    let app = "pyreqs";
    let _images = ImageCleanup::new(app);
    let _containers = DockerCleanup::new(&d.platform.platform_id());
    d.admin.create_app(app).await;

    let app_py = APP_PY.replace(
        r#"GREETING = os.environ.get("GREETING", "hello")"#,
        r#"import six
GREETING = "six " + six.__version__"#,
    );
    let checkout = Checkout::new(&[
        ("app.py", &app_py),
        ("Procfile", "web: python3 app.py\n"),
        ("requirements.txt", "six==1.16.0\n"),
    ]);
    d.push(&checkout, app).assert_success().assert_contains("remote: -----> Released v2");
    d.answer_starting(app, "six 1.16.0 from ").await;
    d.platform.stop().await.expect("paasd stops cleanly");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bad_push_leaves_the_running_release_serving() {
    let d = deployer().await;
    let app = "steady";
    let _images = ImageCleanup::new(app);
    let _containers = DockerCleanup::new(&d.platform.platform_id());
    d.admin.create_app(app).await;
    let checkout = Checkout::new(&[("app.py", APP_PY), ("Procfile", "web: python3 app.py\n")]);
    d.push(&checkout, app).assert_success();
    d.answer_starting(app, "hello from ").await;
    let before = d.releases(app).await;

    // A Procfile error: the line is named, nothing is released.
    checkout.commit(&[("Procfile", "web: python3 app.py\nthis is not a process line\n")], "broken Procfile");
    d.push(&checkout, app).assert_failure().assert_contains("line 2");
    // Neither a Dockerfile, a buildpack's files nor a Procfile.
    checkout.git(&["rm", "-q", "Procfile", "app.py"]);
    checkout.commit(&[("README", "nothing to run\n")], "nothing to run");
    d.push(&checkout, app).assert_failure().assert_contains("buildpack");
    // A symlink out of the tree.
    checkout.commit(&[("Procfile", "web: python3 app.py\n"), ("app.py", APP_PY)], "back");
    std::os::unix::fs::symlink("/etc/passwd", checkout.path().join("passwd")).expect("a symlink");
    checkout.commit(&[], "escaping symlink");
    d.push(&checkout, app).assert_failure().assert_contains("passwd");
    // Another user's push: the app looks missing to them.
    let other = d.platform.user(&d.admin, "mallory").await;
    let token = other.token("git").await;
    let url = d.platform.git_url(app, "mallory", &token);
    let out = tokio::task::block_in_place(|| checkout.push(&url));
    out.assert_failure();
    assert!(out.output.to_lowercase().contains("not found"), "{}", out.output);

    assert_eq!(d.releases(app).await, before, "no release was made");
    d.answer_starting(app, "hello from ").await;
    d.platform.stop().await.expect("paasd stops cleanly");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_developer_deploys_with_the_cli_and_a_plain_git_push() {
    let platform = spawn_platform().await;
    let app = "clihello";
    let _images = ImageCleanup::new(app);
    let _containers = DockerCleanup::new(&platform.platform_id());
    let config_dir = tempfile::tempdir().expect("a temporary dir");
    let checkout = Checkout::new(&[("app.py", APP_PY), ("Procfile", "web: python3 app.py\n")]);
    let paas = |args: &[&str]| {
        let out = std::process::Command::new(paas_tests::workspace_binary("paas"))
            .args(args)
            .current_dir(checkout.path())
            .env("PAAS_CONFIG_DIR", config_dir.path())
            .env("PAAS_PASSWORD", paas_tests::PASSWORD)
            .env("NO_COLOR", "1")
            .output()
            .expect("paas runs");
        let text =
            format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert!(out.status.success(), "paas {args:?}: {text}");
        text
    };
    paas(&["register", &platform.url, "--username", "dev"]);
    paas(&["apps:create", app]);
    paas(&["git:remote", "-a", app]);

    // A plain push to the remote: git finds the builder through the router at
    // git.localhost:<port>, and its credentials through the paas credential helper.
    let out = tokio::task::block_in_place(|| {
        checkout.git_with(&[("PAAS_CONFIG_DIR", config_dir.path().as_os_str())], &["push", "paas", "main"])
    });
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("remote: -----> Released v2"), "{stderr}");
    eventually("the app answers through the router", || async {
        let (status, body) = platform.router_get(app, "/").await?;
        (status == 200 && body.starts_with("hello from ")).then_some(())
    })
    .await;
    let releases = paas(&["releases", "-a", app]);
    assert!(releases.contains("v2"), "{releases}");
    let ps = eventually("ps shows web.1 up", || async {
        let ps = tokio::task::block_in_place(|| paas(&["ps", "-a", app]));
        ps.contains("web.1").then_some(ps)
    })
    .await;
    assert!(ps.contains("up"), "{ps}");
    platform.stop().await.expect("paasd stops cleanly");
}
