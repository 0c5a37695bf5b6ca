//! `kill -9` of paasd in the middle of a burst of writes, then a restart: the database
//! is intact, release numbers stay consecutive, and every acknowledged write is there.

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use paas_tests::{ApiClient, TestDatabase, PASSWORD};
use reqwest::Method;
use serde_json::json;
use sqlx::Connection;

struct Paasd {
    child: Child,
    url: String,
}

impl Drop for Paasd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Kills, when dropped, the router the killed paasd left running (by design: it
/// outlives the control plane).
struct RouterGuard(std::path::PathBuf);

impl Drop for RouterGuard {
    fn drop(&mut self) {
        if let Some(pid) = paasd::router_process::recorded_pid(&self.0) {
            let _ = Command::new("kill").args(["-KILL", &pid.to_string()]).output();
        }
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

async fn start(data_dir: &std::path::Path, database_url: &str, port: u16) -> Paasd {
    let child = Command::new(env!("CARGO_BIN_EXE_paasd"))
        .env("PAAS_API_ADDR", format!("127.0.0.1:{port}"))
        .env("PAAS_DATA_DIR", data_dir)
        .env("PAAS_DATABASE_URL", database_url)
        .env("PAAS_LOG", "warn")
        .env("PAAS_DOCKER", "off")
        .env("PAAS_BUILDER_ADDR", "127.0.0.1:0")
        .env("PAAS_HTTP_ADDR", format!("127.0.0.1:{}", free_port()))
        .stdout(Stdio::null())
        .spawn()
        .expect("paasd starts");
    // Owned at once, so that it is killed and reaped however the test ends.
    let paasd = Paasd { child, url: format!("http://127.0.0.1:{port}") };
    let client = ApiClient::new(&paasd.url);
    for _ in 0..300 {
        if client.try_request(Method::GET, "/readyz", None).await.is_some_and(|r| r.status == 200) {
            return paasd;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("paasd did not become ready");
}

/// One acknowledged write: release `version` set `key` to `value`.
type Acks = Arc<Mutex<Vec<(u64, String, String)>>>;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kill_9_during_writes_loses_nothing_acknowledged_and_leaves_no_gap() {
    let dir = tempfile::tempdir().unwrap();
    let database = TestDatabase::create(dir.path()).await;
    let data_dir = dir.path().join("data");
    let _router = RouterGuard(data_dir.join("router"));
    let port = free_port();

    let mut paasd = start(&data_dir, &database.url, port).await;
    let anon = ApiClient::new(&paasd.url);
    anon.post("/v1/auth/register", json!({"username": "admin", "password": PASSWORD})).await.expect(201);
    let acks: Acks = Arc::default();

    for round in 1..=3usize {
        let session =
            anon.post("/v1/auth/login", json!({"username": "admin", "password": PASSWORD})).await.expect(200);
        let admin = anon.with_token(session["token"].as_str().unwrap());
        if round == 1 {
            admin.create_app("crashy").await;
        }
        let acked = Arc::new(AtomicUsize::new(0));
        let writers: Vec<_> = (0..8)
            .map(|w| {
                let (admin, acks, acked) = (admin.clone(), acks.clone(), acked.clone());
                tokio::spawn(async move {
                    for n in 0.. {
                        let key = format!("W{w}");
                        let value = format!("{round}-{n}");
                        let body = json!({"values": {&key: &value}});
                        let reply =
                            admin.try_request(Method::PATCH, "/v1/apps/crashy/config", Some(&body)).await;
                        match reply {
                            Some(r) if r.status == 200 => {
                                let version = r.body["release"].as_u64().unwrap();
                                acks.lock().unwrap().push((version, key, value));
                                acked.fetch_add(1, Ordering::SeqCst);
                            }
                            Some(r) => panic!("unexpected answer during the burst: {} {}", r.status, r.body),
                            None => break, // paasd is gone
                        }
                    }
                })
            })
            .collect();
        while acked.load(Ordering::SeqCst) < 25 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        paasd.child.kill().expect("SIGKILL"); // std's kill is SIGKILL
        paasd.child.wait().unwrap();
        for writer in writers {
            writer.await.unwrap();
        }
        paasd = start(&data_dir, &database.url, port).await;
    }

    // The database is intact.
    let mut conn = sqlx::AnyConnection::connect(&database.url).await.unwrap();
    if !TestDatabase::is_postgres() {
        let check: String = sqlx::query_scalar("PRAGMA integrity_check").fetch_one(&mut conn).await.unwrap();
        assert_eq!(check, "ok");
        let broken: Vec<String> = sqlx::query_scalar("SELECT \"table\" FROM pragma_foreign_key_check")
            .fetch_all(&mut conn)
            .await
            .unwrap();
        assert!(broken.is_empty(), "foreign keys broken in {broken:?}");
    }
    let versions: Vec<i64> = sqlx::query_scalar(
        "SELECT r.version FROM releases r JOIN apps a ON a.id = r.app_id WHERE a.name = 'crashy' ORDER BY r.version",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap();
    let last: i64 = sqlx::query_scalar("SELECT last_release FROM apps WHERE name = 'crashy'")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    conn.close().await.unwrap();
    assert_eq!(versions, (1..=last).collect::<Vec<i64>>(), "release numbers are consecutive");

    // Every acknowledged write is in the release it was acknowledged with.
    let session =
        anon.post("/v1/auth/login", json!({"username": "admin", "password": PASSWORD})).await.expect(200);
    let admin = ApiClient::new(&paasd.url).with_token(session["token"].as_str().unwrap());
    let acks = acks.lock().unwrap().clone();
    assert!(acks.len() >= 75);
    let mut by_version: BTreeMap<u64, (String, String)> = BTreeMap::new();
    for (version, key, value) in acks {
        assert!(by_version.insert(version, (key, value)).is_none(), "v{version} acknowledged twice");
    }
    for (version, (key, value)) in &by_version {
        let release = admin.get(&format!("/v1/apps/crashy/releases/{version}")).await.expect(200);
        assert_eq!(release["config"][key], value.as_str(), "v{version} lost its write");
    }
    // And the platform goes on numbering from where it stopped.
    assert_eq!(admin.config_set("crashy", &[("AFTER", "restart")]).await, u64::try_from(last).unwrap() + 1);
}
