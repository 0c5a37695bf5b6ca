//! The scheduler with the real Docker engine: processes follow the formation and the
//! current release, survive a controller restart, and serve through the route table.
//!
//! There is no builder yet: `stand_in_build` records a build of the stack image straight
//! in the database. Every container and network a test makes is removed by its
//! `DockerCleanup`, also when it fails.

use std::collections::BTreeSet;

use paas_core::routes::{
    receive, Applied, Backend, Received, RouteTable, WatchMessage, APPLIED_PATH, WATCH_ID_HEADER, WATCH_PATH,
};
use paas_tests::docker::{containers, Container, DockerCleanup};
use paas_tests::{eventually, spawn_controller_with, ApiClient, TestPlatform, STACK_IMAGE};
use serde_json::json;

/// Waits until the platform runs exactly `want` (`app v<release> type.index`), all
/// running, and returns the containers.
async fn converged(platform: &str, want: &[&str]) -> Vec<Container> {
    let want: BTreeSet<String> = want.iter().map(|s| (*s).to_owned()).collect();
    eventually(&format!("{want:?}"), || async {
        let now = containers(platform).await;
        let have: BTreeSet<String> = now
            .iter()
            .map(|c| format!("{} v{} {}", c.labels["paas.app"], c.labels["paas.release"], c.process()))
            .collect();
        (have == want && now.iter().all(|c| c.running)).then_some(now)
    })
    .await
}

async fn scale(admin: &ApiClient, app: &str, updates: serde_json::Value) {
    admin.patch(&format!("/v1/apps/{app}/formation"), json!({ "updates": updates })).await.expect(200);
}

/// The backends of `app` in the route table, read from the watch stream's snapshot as
/// a router reads it.
async fn route_backends(platform: &TestPlatform, app: &str) -> Option<Vec<Backend>> {
    let mut response = reqwest::Client::new()
        .get(format!("{}{WATCH_PATH}", platform.url))
        .bearer_auth(platform.internal_token())
        .send()
        .await
        .ok()?;
    let mut buf = Vec::new();
    while !buf.contains(&b'\n') {
        buf.extend_from_slice(&response.chunk().await.ok()??);
    }
    let line = String::from_utf8_lossy(&buf[..buf.iter().position(|b| *b == b'\n')?]).into_owned();
    let Ok(Some(WatchMessage::Snapshot { table })) = WatchMessage::from_line(&line) else {
        panic!("a snapshot first: {line}")
    };
    table.routes.into_values().find(|r| r.app.as_str() == app).map(|r| r.backends)
}

#[tokio::test]
async fn processes_follow_the_formation_and_the_current_release() {
    let mut platform = spawn_controller_with(|c| c.docker = true).await;
    let id = platform.platform_id();
    let cleanup = DockerCleanup::new(&id);
    let admin = platform.admin().await;
    admin.create_app("hello").await;
    platform
        .stand_in_build(
            "hello",
            STACK_IMAGE,
            &json!({"web": "python3 -m http.server $PORT", "worker": "sleep infinity"}),
        )
        .await;

    // Scale up: three containers with the right labels and environment.
    scale(&admin, "hello", json!([{"type": "web", "quantity": 2}, {"type": "worker", "quantity": 1}])).await;
    let first = converged(&id, &["hello v1 web.1", "hello v1 web.2", "hello v1 worker.1"]).await;
    for c in &first {
        assert_eq!(c.labels["paas.platform"], id);
        assert!(c.env.contains(&"PORT=5000".to_owned()), "{:?}", c.env);
        assert!(c.env.contains(&format!("DYNO={}", c.process())), "{:?}", c.env);
        assert!(c.ip.is_some(), "on the platform network");
    }

    // The route table lists the web containers, and they answer.
    let web: BTreeSet<String> = first
        .iter()
        .filter(|c| c.labels["paas.type"] == "web")
        .map(|c| format!("{}:5000", c.ip.expect("an address")))
        .collect();
    let table_backends = eventually("the route table lists the web containers", || async {
        let backends = route_backends(&platform, "hello").await?;
        let addrs: BTreeSet<String> = backends.iter().map(|b| b.addr.to_string()).collect();
        (addrs == web).then_some(backends)
    })
    .await;
    assert_eq!(table_backends.iter().map(|b| b.process.as_str()).collect::<Vec<_>>(), ["web.1", "web.2"]);
    let http = reqwest::Client::new();
    for backend in &table_backends {
        let url = format!("http://{}/", backend.addr);
        let status = eventually(&format!("{url} answers"), || async {
            http.get(&url).send().await.ok().map(|r| r.status().as_u16())
        })
        .await;
        assert_eq!(status, 200, "{url}");
    }

    // `ps` shows the same processes, as the scheduler last saw them.
    let expected: Vec<(String, u64, String, Option<String>)> = ["web.1", "web.2", "worker.1"]
        .iter()
        .map(|name| {
            let c = first.iter().find(|c| c.process() == *name).unwrap();
            (name.to_string(), 1, "up".to_owned(), c.ip.map(|ip| format!("{ip}:5000")))
        })
        .collect();
    eventually("ps lists the processes", || async {
        let listed = admin.get("/v1/apps/hello/processes").await.expect(200);
        let listed: Vec<(String, u64, String, Option<String>)> = listed
            .as_array()?
            .iter()
            .map(|p| {
                (
                    p["name"].as_str().unwrap_or_default().to_owned(),
                    p["release"].as_u64().unwrap_or_default(),
                    p["state"].as_str().unwrap_or_default().to_owned(),
                    p["address"].as_str().map(str::to_owned),
                )
            })
            .collect();
        (listed == expected).then_some(())
    })
    .await;

    // A config change makes a new release: its containers replace the old ones.
    let release = admin.config_set("hello", &[("GREETING", "hi")]).await;
    assert_eq!(release, 2);
    let second = converged(&id, &["hello v2 web.1", "hello v2 web.2", "hello v2 worker.1"]).await;
    assert!(second.iter().all(|c| c.env.contains(&"GREETING=hi".to_owned())));
    assert!(second.iter().all(|c| first.iter().all(|old| old.id != c.id)), "new containers");

    // A restart of the controller adopts the running containers.
    platform.restart().await;
    // Once the restarted scheduler has published its first table, compare ids.
    eventually("the restarted scheduler publishes backends", || async {
        (route_backends(&platform, "hello").await?.len() == 2).then_some(())
    })
    .await;
    let adopted = converged(&id, &["hello v2 web.1", "hello v2 web.2", "hello v2 worker.1"]).await;
    let ids = |cs: &[Container]| cs.iter().map(|c| c.id.clone()).collect::<BTreeSet<_>>();
    assert_eq!(ids(&adopted), ids(&second), "adopted, not recreated");

    // Scaling web to zero removes the web containers and empties the route.
    scale(&admin, "hello", json!([{"type": "web", "quantity": 0}])).await;
    converged(&id, &["hello v2 worker.1"]).await;
    eventually("the route has no backends", || async {
        route_backends(&platform, "hello").await?.is_empty().then_some(())
    })
    .await;

    let only_worker = eventually("ps follows the scale-down", || async {
        let listed = admin.get("/v1/apps/hello/processes").await.expect(200);
        (listed.as_array()?.len() == 1).then_some(listed)
    })
    .await;
    assert_eq!((&only_worker[0]["name"], &only_worker[0]["release"]), (&json!("worker.1"), &json!(2)));

    // Destroying the app removes its containers.
    admin.delete("/v1/apps/hello").await.expect(204);
    converged(&id, &[]).await;

    platform.stop().await.expect("paasd stopped cleanly");
    drop(cleanup);
}

/// A registry that answers the engine's `GET /v2/` and then never answers anything
/// else, as a registry stuck under load would; its connections stay open until it is
/// dropped.
async fn stuck_registry() -> (std::net::SocketAddr, tokio::task::JoinHandle<()>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("a port");
    let addr = listener.local_addr().expect("an address");
    let task = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((mut stream, _)) = listener.accept().await {
            held.push(tokio::spawn(async move {
                let mut seen = Vec::new();
                let mut buf = [0u8; 4096];
                while let Ok(n) = stream.read(&mut buf).await {
                    if n == 0 {
                        return;
                    }
                    seen.extend_from_slice(&buf[..n]);
                    if seen.windows(4).any(|w| w == b"\r\n\r\n") {
                        if !seen.starts_with(b"GET /v2/ ") {
                            // Never answers: holds the connection open.
                            std::future::pending::<()>().await;
                        }
                        seen.clear();
                        let ping =
                            "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: application/json\r\n\
                                    Docker-Distribution-API-Version: registry/2.0\r\n\r\n{}";
                        if stream.write_all(ping.as_bytes()).await.is_err() {
                            return;
                        }
                    }
                }
            }));
        }
    });
    (addr, task)
}

#[tokio::test]
async fn a_start_whose_pull_gets_no_answer_gives_up_instead_of_waiting_for_ever() {
    let platform = format!("stall{}", std::process::id());
    let _cleanup = DockerCleanup::new(&platform);
    let (registry, stuck) = stuck_registry().await;
    let engine = paas_controller::scheduler::Engine::connect(&platform)
        .await
        .expect("the Docker engine")
        .with_pull_stall(std::time::Duration::from_secs(2));
    engine.ensure_network().await.expect("the platform network");
    let process = paas_controller::scheduler::plan::DesiredProcess {
        key: paas_controller::scheduler::plan::ProcessKey {
            app: "stalled".into(),
            release: 1,
            process_type: "web".into(),
            index: 1,
            generation: 0,
        },
        image: format!("{registry}/paas/stalled:1"),
        command: "true".into(),
        env: vec!["PORT=5000".into()],
        memory_bytes: None,
        nano_cpus: None,
    };
    // Without the stall limit the engine waits on the registry for ever, and so would
    // this start (and every rollout behind it).
    let started = engine.start(&process).await;
    assert!(
        matches!(started, Err(bollard::errors::Error::RequestTimeoutError)),
        "the pull is given up as stalled: {started:?}"
    );
    assert!(containers(&platform).await.is_empty(), "nothing half made is left");
    stuck.abort();
}

/// A router's side of the watch stream, read by hand: the tables it is sent, and the
/// versions it says it serves when the test says so.
struct HandRouter {
    response: reqwest::Response,
    watch: u64,
    table: RouteTable,
    buffer: Vec<u8>,
}

impl HandRouter {
    async fn follow(platform: &TestPlatform) -> Self {
        let response = reqwest::Client::new()
            .get(format!("{}{WATCH_PATH}", platform.url))
            .bearer_auth(platform.internal_token())
            .send()
            .await
            .expect("the watch stream");
        assert_eq!(response.status(), 200);
        let watch = response.headers()[WATCH_ID_HEADER].to_str().unwrap().parse().expect("a stream number");
        let mut router = Self { response, watch, table: RouteTable::default(), buffer: Vec::new() };
        router.next_table().await;
        router
    }

    /// Reads up to the next message that is not a heartbeat and applies it.
    async fn next_table(&mut self) -> &RouteTable {
        loop {
            if let Some(end) = self.buffer.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = self.buffer.drain(..=end).collect();
                let line = String::from_utf8(line).expect("UTF-8");
                let Some(message) = WatchMessage::from_line(&line).expect("a message") else { continue };
                if let Received::Table(table) = receive(&self.table, message) {
                    self.table = table;
                }
                return &self.table;
            }
            let chunk = self.response.chunk().await.expect("the stream goes on").expect("not ended");
            self.buffer.extend_from_slice(&chunk);
        }
    }

    async fn serve(&self, platform: &TestPlatform, version: u64) {
        let answer = reqwest::Client::new()
            .post(format!("{}{APPLIED_PATH}", platform.url))
            .bearer_auth(platform.internal_token())
            .json(&Applied { watch: self.watch, version })
            .send()
            .await
            .expect("the controller answers");
        assert_eq!(answer.status(), 204);
    }
}

async fn release_status(admin: &ApiClient, app: &str, version: u64) -> String {
    let releases = admin.get(&format!("/v1/apps/{app}/releases")).await.expect(200);
    let release = releases.as_array().unwrap().iter().find(|r| r["version"] == version).expect("the release");
    release["status"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_release_is_promoted_only_once_the_routers_serve_its_processes() {
    let platform = spawn_controller_with(|c| c.docker = true).await;
    let _cleanup = DockerCleanup::new(&platform.platform_id());
    let admin = platform.admin().await;
    admin.create_app("hello").await;
    platform.stand_in_build("hello", STACK_IMAGE, &json!({"web": "python3 -m http.server $PORT"})).await;
    let mut router = HandRouter::follow(&platform).await;
    router.serve(&platform, router.table.version).await;
    scale(&admin, "hello", json!([{"type": "web", "quantity": 1}])).await;
    let hello = |table: &RouteTable| -> BTreeSet<String> {
        let route = table.routes.values().find(|r| r.app.as_str() == "hello");
        route.map(|r| r.backends.iter().map(|b| b.addr.to_string()).collect()).unwrap_or_default()
    };
    let v1_backends = loop {
        let table = router.next_table().await;
        if !hello(table).is_empty() {
            break hello(table);
        }
    };
    router.serve(&platform, router.table.version).await;

    admin.config_set("hello", &[("GREETING", "hi")]).await;
    let routed = loop {
        let table = router.next_table().await;
        if !hello(table).is_subset(&v1_backends) {
            break table.version;
        }
    };
    // The table routing to v2's process is out, but this router has not said it serves
    // it: the release stays pending (for up to five seconds, then it goes ahead).
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert_eq!(release_status(&admin, "hello", 2).await, "pending");

    router.serve(&platform, routed).await;
    eventually("v2 promoted once the router serves it", || async {
        (release_status(&admin, "hello", 2).await == "succeeded").then_some(())
    })
    .await;

    // A router that lags by more than the wait is logged and not waited for longer.
    admin.config_set("hello", &[("GREETING", "hello")]).await;
    eventually("v3 promoted without the router", || async {
        (release_status(&admin, "hello", 3).await == "succeeded").then_some(())
    })
    .await;
    drop(router);
}
