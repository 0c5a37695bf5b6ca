//! Disk hygiene, end to end: the images of an app's last N releases stay on the engine
//! and in the registry, older ones go (with the registry's garbage collection), a
//! rollback to a release whose image went is refused with a hint, and a destroyed app
//! leaves no container, image, manifest or git repository behind.
//!
//! As the issue asks: after 15 deploys only the images of the last 10 releases remain
//! (production's default of `PAAS_KEEP_RELEASES`).

use std::time::Duration;

use paas_controller::scheduler::gc::GcConfig;
use paas_tests::checkout::{Checkout, ImageCleanup};
use paas_tests::docker::{containers, DockerCleanup};
use paas_tests::{eventually, spawn_platform_with, TestPlatform};
use serde_json::json;

const KEEP: usize = 10;
const DEPLOYS: usize = 15;

/// A web process whose answer is `version`: each deploy changes this one line.
fn app_py(version: usize) -> String {
    format!(
        "import http.server, os\nVERSION = {version}\n\
         class App(http.server.BaseHTTPRequestHandler):\n    def do_GET(self):\n        \
         body = ('v%d\\n' % VERSION).encode()\n        self.send_response(200)\n        \
         self.send_header('Content-Length', str(len(body)))\n        self.end_headers()\n        \
         self.wfile.write(body)\n\
         http.server.ThreadingHTTPServer(('', int(os.environ['PORT'])), App).serve_forever()\n"
    )
}

/// The distinct ids of the engine's images labelled with `app`.
fn images_of(app: &str) -> Vec<String> {
    let filter = format!("label=paas.app={app}");
    let out = std::process::Command::new("docker")
        .args(["images", "-q", "--no-trunc", "--filter", &filter])
        .output()
        .expect("docker runs");
    let mut ids: Vec<String> =
        String::from_utf8_lossy(&out.stdout).split_whitespace().map(str::to_owned).collect();
    ids.sort();
    ids.dedup();
    ids
}

/// Whether the engine has `image`.
fn engine_has(image: &str) -> bool {
    let out =
        std::process::Command::new("docker").args(["image", "inspect", image]).output().expect("docker runs");
    out.status.success()
}

/// The status of `HEAD /v2/<repository>/manifests/<digest>` through the gateway, as
/// `node`.
async fn manifest_status(platform: &TestPlatform, image: &str) -> u16 {
    let host = platform.registry_host();
    let rest = image.strip_prefix(&format!("{host}/")).expect("an image of the platform's registry");
    let (repository, digest) = rest.split_once('@').expect("an image by digest");
    let client = reqwest::Client::new();
    let secret = platform.registry_secret(paasd::registry::NODE_SECRET_FILE);
    let token: serde_json::Value = client
        .get(format!("http://{host}/token?service=paas-registry&scope=repository:{repository}:pull"))
        .basic_auth("node", Some(secret))
        .send()
        .await
        .expect("the token endpoint answers")
        .json()
        .await
        .expect("a token");
    let token = token["token"].as_str().expect("a token").to_owned();
    let accept = "application/vnd.docker.distribution.manifest.v2+json, \
                  application/vnd.oci.image.manifest.v1+json, \
                  application/vnd.docker.distribution.manifest.list.v2+json, \
                  application/vnd.oci.image.index.v1+json";
    client
        .head(format!("http://{host}/v2/{repository}/manifests/{digest}"))
        .bearer_auth(token)
        .header("Accept", accept)
        .send()
        .await
        .expect("the registry answers")
        .status()
        .as_u16()
}

#[tokio::test(flavor = "multi_thread")]
async fn old_images_go_and_a_destroyed_app_leaves_nothing() {
    assert_eq!(GcConfig::default().keep_releases, KEEP, "the test keeps what production keeps");
    let platform = spawn_platform_with(|c| {
        c.gc = GcConfig { keep_releases: KEEP, interval: Duration::from_secs(1) };
    })
    .await;
    let app = "tidyhello";
    let _images = ImageCleanup::new(app);
    let _containers = DockerCleanup::new(&platform.platform_id());
    let admin = platform.admin().await;
    let token = admin.token("git").await;
    admin.create_app(app).await;

    let dockerfile = format!(
        "FROM {}\nCOPY app.py /app/app.py\nCMD [\"python3\", \"/app/app.py\"]\n",
        paas_tests::STACK_IMAGE
    );
    let checkout = Checkout::new(&[("app.py", &app_py(1)), ("Dockerfile", &dockerfile)]);
    let url = platform.git_url(app, "admin", &token);
    let mut images = Vec::new();
    for version in 1..=DEPLOYS {
        if version > 1 {
            checkout.commit(&[("app.py", &app_py(version))], &format!("v{version}"));
        }
        let push = tokio::task::block_in_place(|| checkout.push(&url));
        push.assert_success().assert_contains(&format!("remote: -----> Released v{}", version + 1));
        let releases = admin.get(&format!("/v1/apps/{app}/releases")).await.expect(200);
        images.push(releases[0]["image"].as_str().expect("an image").to_owned());
    }
    let (collected, kept) = images.split_at(DEPLOYS - KEEP);

    // Only the last KEEP builds' images stay, on the engine and in the registry.
    eventually("the old images are gone from the engine", || async {
        (images_of(app).len() == KEEP && collected.iter().all(|i| !engine_has(i))).then_some(())
    })
    .await;
    assert!(kept.iter().all(|i| engine_has(i)), "the kept images stay: {kept:?}");
    for image in collected {
        let status = eventually("an old manifest is deleted", || async {
            let status = manifest_status(&platform, image).await;
            (status == 404).then_some(status)
        })
        .await;
        assert_eq!(status, 404, "{image}");
    }
    for image in kept {
        assert_eq!(manifest_status(&platform, image).await, 200, "{image}");
    }

    // Rolling back to a release whose image went: a 4xx with a hint, and no release.
    let before = admin.get(&format!("/v1/apps/{app}/releases")).await.expect(200);
    let reply = admin.post(&format!("/v1/apps/{app}/rollback"), json!({ "version": 2 })).await;
    let hint = reply.body["hint"].as_str().unwrap_or_default().to_owned();
    assert!(hint.contains("PAAS_KEEP_RELEASES"), "{hint}");
    let message = reply.expect_error(409, "conflict");
    assert!(message.contains("the image of v2 was removed"), "{message}");
    let after = admin.get(&format!("/v1/apps/{app}/releases")).await.expect(200);
    assert_eq!(before.as_array().map(Vec::len), after.as_array().map(Vec::len));
    // A kept one still rolls back: pushes made v2 to v(DEPLOYS + 1).
    let deploys = DEPLOYS as u64;
    assert_eq!(admin.rollback(app, deploys).await, deploys + 2);

    // Destroyed: no container, image, manifest or repository is left.
    let repo = platform.config.data_dir.join("repos").join(format!("{app}.git"));
    assert!(repo.is_dir(), "{}", repo.display());
    admin.delete(&format!("/v1/apps/{app}")).await.expect(204);
    let id = platform.platform_id();
    let left = containers(&id).await;
    assert!(left.iter().all(|c| c.labels.get("paas.app").map(String::as_str) != Some(app)), "{left:?}");
    assert_eq!(images_of(app), Vec::<String>::new());
    assert!(!repo.exists(), "{}", repo.display());
    for image in &images {
        assert_eq!(manifest_status(&platform, image).await, 404, "{image}");
    }
    platform.stop().await.expect("paasd stops cleanly");
}
