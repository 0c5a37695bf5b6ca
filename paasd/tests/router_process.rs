//! paasd's router as its own process, with the real `paas-router` binary: started once,
//! adopted after paasd restarts, replaced when its configuration changes, never
//! confused with another program, and alive after its starter is gone.

use std::net::{SocketAddr, TcpListener};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use paas_core::Hostname;
use paasd::router_process::{self, RouterProcessError, RouterSpec, LOG_FILE, PID_FILE};
use rustix::process::{Pid, Signal};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const DOMAIN: &str = "paas.test";
const TOKEN: &str = "router-process-test-token-0123456789";
/// Names the test dir of a starter process, for [`starter_process`].
const STARTER_ENV: &str = "PAASD_ROUTER_PROCESS_TEST_STARTER";

/// The real router binary, built next to this test (`<target>/debug/paas-router`).
fn router_binary() -> PathBuf {
    let beside_tests = std::env::current_exe()
        .ok()
        .and_then(|exe| Some(exe.parent()?.parent()?.join(router_process::ROUTER_BINARY)));
    let in_workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/debug/paas-router");
    beside_tests.filter(|p| p.is_file()).or_else(|| in_workspace.is_file().then_some(in_workspace)).expect(
        "the paas-router binary is missing: run `cargo build --bins` (or `cargo build -p paas-router`) first",
    )
}

fn free_addr() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap()
}

/// Where a test keeps its routers and what they are told.
struct Place {
    dir: PathBuf,
    http_addr: SocketAddr,
    controller_addr: SocketAddr,
    feed_addr: SocketAddr,
}

impl Place {
    /// The spec a paasd with this data dir would give: the feed leads nowhere, so the
    /// router serves its (empty) saved table and keeps reconnecting.
    fn spec(&self) -> RouterSpec {
        RouterSpec {
            binary: router_binary(),
            http_addr: self.http_addr,
            https_addr: None,
            metrics_addr: None,
            domain: Hostname::parse(DOMAIN).unwrap(),
            state_dir: self.dir.join("router"),
            feed_url: format!("http://{}/v1/internal/routes/watch", self.feed_addr),
            token: TOKEN.to_owned(),
            controller_addr: self.controller_addr,
            builder_addr: None,
            log_filter: "info".to_owned(),
        }
    }
}

/// A temp dir, free ports, and a stand-in controller that answers 200 `controller`.
async fn place() -> (tempfile::TempDir, Place) {
    let temp = tempfile::tempdir().unwrap();
    let controller = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let controller_addr = controller.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = controller.accept().await {
            tokio::spawn(async move {
                let mut seen = Vec::new();
                let mut buf = [0u8; 1024];
                while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
                    match stream.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => seen.extend_from_slice(&buf[..n]),
                    }
                }
                let reply = "HTTP/1.1 200 OK\r\ncontent-length: 10\r\nconnection: close\r\n\r\ncontroller";
                let _ = stream.write_all(reply.as_bytes()).await;
            });
        }
    });
    let place = Place {
        dir: temp.path().to_owned(),
        http_addr: free_addr(),
        controller_addr,
        feed_addr: free_addr(),
    };
    (temp, place)
}

/// The status and body of `GET /` for `host` at `addr`.
async fn get(addr: SocketAddr, host: &str) -> (u16, String) {
    let exchange = async {
        let mut stream = tokio::net::TcpStream::connect(addr).await?;
        let request = format!("GET / HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await?;
        let mut reply = Vec::new();
        stream.read_to_end(&mut reply).await?;
        std::io::Result::Ok(String::from_utf8_lossy(&reply).into_owned())
    };
    let reply = tokio::time::timeout(Duration::from_secs(10), exchange)
        .await
        .unwrap_or_else(|_| panic!("{addr} did not answer in time"))
        .unwrap_or_else(|e| panic!("{addr} did not answer: {e}"));
    let status =
        reply.get(9..12).and_then(|s| s.parse().ok()).unwrap_or_else(|| panic!("not HTTP: {reply:?}"));
    let body = reply.split_once("\r\n\r\n").map(|(_, body)| body.to_owned()).unwrap_or_default();
    (status, body)
}

/// Whether `pid` runs (a zombie does not).
fn running(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat.rfind(')').and_then(|i| stat[i + 1..].trim_start().chars().next()) != Some('Z'),
        Err(_) => false,
    }
}

async fn eventually_gone(pid: u32) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while running(pid) {
        assert!(Instant::now() < deadline, "pid {pid} still runs");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// SIGKILLs the routers a test started, however the test ends (a router that a test
/// stopped itself is gone already, and its pid is no longer a router's).
#[derive(Default)]
struct Routers(Vec<u32>);

impl Routers {
    fn add(&mut self, pid: u32) -> u32 {
        self.0.push(pid);
        pid
    }
}

impl Drop for Routers {
    fn drop(&mut self) {
        let binary = router_binary();
        for &pid in &self.0 {
            let is_router = std::fs::read_link(format!("/proc/{pid}/exe")).is_ok_and(|exe| {
                exe == binary.canonicalize().unwrap_or_default()
                    || exe.to_string_lossy().ends_with("paas-router (deleted)")
            });
            if running(pid) && is_router {
                let _ = rustix::process::kill_process(Pid::from_raw(pid as i32).unwrap(), Signal::KILL);
            }
        }
    }
}

#[tokio::test]
async fn ensure_starts_a_router_that_serves_the_platform_hosts() {
    let (_temp, place) = place().await;
    let mut routers = Routers::default();
    let spec = place.spec();

    let router = router_process::ensure(&spec).await.unwrap();
    routers.add(router.pid());
    assert!(!router.adopted());
    assert!(running(router.pid()));

    let pid_file = spec.state_dir.join(PID_FILE);
    let recorded = std::fs::read_to_string(&pid_file).unwrap();
    assert!(recorded.contains(&format!("pid={}\n", router.pid())), "{recorded}");
    assert!(recorded.contains(&spec.fingerprint()), "{recorded}");
    assert!(!recorded.contains(TOKEN));
    assert_eq!(std::fs::metadata(&pid_file).unwrap().permissions().mode() & 0o777, 0o600);
    let log = spec.state_dir.join(LOG_FILE);
    assert_eq!(std::fs::metadata(&log).unwrap().permissions().mode() & 0o777, 0o600);

    assert_eq!(get(spec.http_addr, &format!("nope.{DOMAIN}")).await.0, 404);
    assert_eq!(get(spec.http_addr, &format!("paas.{DOMAIN}")).await, (200, "controller".to_owned()));

    // Stopping it (a test's and a changed spec's business, not paasd's shutdown) ends it.
    let pid = router.pid();
    router.stop().await.unwrap();
    eventually_gone(pid).await;
    assert!(!pid_file.exists(), "the pid file goes with the router");
    assert!(!std::fs::read_to_string(&log).unwrap().contains(TOKEN), "the log never holds the token");
}

#[tokio::test]
async fn ensure_again_with_the_same_spec_adopts_the_running_router() {
    let (_temp, place) = place().await;
    let mut routers = Routers::default();
    let spec = place.spec();
    let first = router_process::ensure(&spec).await.unwrap();
    routers.add(first.pid());

    let second = router_process::ensure(&spec).await.unwrap();
    assert_eq!(second.pid(), first.pid());
    assert!(second.adopted());
    assert_eq!(get(spec.http_addr, &format!("nope.{DOMAIN}")).await.0, 404);
    assert_eq!(get(spec.http_addr, &format!("paas.{DOMAIN}")).await.0, 200);
    second.stop().await.unwrap();
    eventually_gone(first.pid()).await;
}

/// Not a test of its own: the starter process of
/// `the_router_outlives_its_starter_and_a_ctrl_c_in_its_terminal`, which runs this
/// test binary again for it. It starts a router, then sends SIGINT to its own process
/// group, as Ctrl-C in a terminal does, which ends it.
#[tokio::test]
#[ignore = "run by another test, in a process of its own"]
async fn starter_process() {
    #[allow(clippy::disallowed_methods)] // A test knob, not a platform setting.
    let Some(setup) = std::env::var_os(STARTER_ENV) else {
        return;
    };
    let setup = std::fs::read_to_string(setup).unwrap();
    let addrs: Vec<SocketAddr> = setup.lines().skip(1).map(|a| a.parse().unwrap()).collect();
    let place = Place {
        dir: PathBuf::from(setup.lines().next().unwrap()),
        http_addr: addrs[0],
        controller_addr: addrs[1],
        feed_addr: addrs[2],
    };
    let router = router_process::ensure(&place.spec()).await.unwrap();
    std::fs::write(place.dir.join("started.pid"), router.pid().to_string()).unwrap();
    drop(router);
    rustix::process::kill_current_process_group(Signal::INT).unwrap();
    tokio::time::sleep(Duration::from_secs(30)).await;
    panic!("SIGINT did not end the starter");
}

#[tokio::test]
async fn the_router_outlives_its_starter_and_a_ctrl_c_in_its_terminal() {
    let (_temp, place) = place().await;
    let mut routers = Routers::default();
    let setup = place.dir.join("starter.setup");
    std::fs::write(
        &setup,
        format!(
            "{}\n{}\n{}\n{}\n",
            place.dir.display(),
            place.http_addr,
            place.controller_addr,
            place.feed_addr
        ),
    )
    .unwrap();

    let mut starter = Command::new(std::env::current_exe().unwrap());
    starter
        .args(["--exact", "starter_process", "--ignored", "--test-threads=1"])
        .env(STARTER_ENV, &setup)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .process_group(0);
    let status = tokio::task::spawn_blocking(move || starter.status().unwrap()).await.unwrap();
    let started = std::fs::read_to_string(place.dir.join("started.pid"));
    let pid = routers.add(started.expect("the starter started a router").parse().unwrap());
    assert_eq!(status.signal(), Some(Signal::INT.as_raw()), "the starter ended by Ctrl-C: {status:?}");

    assert!(running(pid), "the router outlived its starter");
    assert_eq!(get(place.http_addr, &format!("nope.{DOMAIN}")).await.0, 404);
    assert_eq!(get(place.http_addr, &format!("paas.{DOMAIN}")).await.0, 200);

    // The next paasd adopts it.
    let adopted = router_process::ensure(&place.spec()).await.unwrap();
    assert_eq!((adopted.pid(), adopted.adopted()), (pid, true));
    adopted.stop().await.unwrap();
    eventually_gone(pid).await;
}

#[tokio::test]
async fn a_spec_with_a_metrics_address_gives_the_router_its_metrics_listener() {
    let (_temp, place) = place().await;
    let mut routers = Routers::default();
    let spec = RouterSpec { metrics_addr: Some(free_addr()), ..place.spec() };
    let router = router_process::ensure(&spec).await.unwrap();
    routers.add(router.pid());
    assert_eq!(get(spec.http_addr, &format!("nope.{DOMAIN}")).await.0, 404);

    let metrics = spec.metrics_addr.unwrap();
    let mut stream = tokio::net::TcpStream::connect(metrics).await.expect("the router serves metrics");
    stream.write_all(b"GET /metrics HTTP/1.1\r\nHost: metrics\r\nConnection: close\r\n\r\n").await.unwrap();
    let mut reply = String::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_string(&mut reply)).await.unwrap().unwrap();
    assert!(reply.starts_with("HTTP/1.1 200 "), "{reply}");
    // Ours, and paasd's readiness probes: all for hosts no route has.
    let unrouted = reply
        .lines()
        .find_map(|line| line.strip_prefix("paas_router_requests_total{app=\"\",code=\"4xx\"} "))
        .and_then(|count| count.parse::<u64>().ok());
    assert!(unrouted >= Some(1), "{reply}");
    router.stop().await.unwrap();
}

#[tokio::test]
async fn a_changed_spec_replaces_the_router() {
    let (_temp, place) = place().await;
    let mut routers = Routers::default();
    let spec = place.spec();
    let first = routers.add(router_process::ensure(&spec).await.unwrap().pid());

    let quieter = RouterSpec { log_filter: "warn".to_owned(), ..spec.clone() };
    let second = router_process::ensure(&quieter).await.unwrap();
    routers.add(second.pid());
    assert!(!second.adopted());
    assert_ne!(second.pid(), first);
    eventually_gone(first).await;
    assert_eq!(get(spec.http_addr, &format!("nope.{DOMAIN}")).await.0, 404);

    let elsewhere = RouterSpec { domain: Hostname::parse("other.test").unwrap(), ..quieter };
    let third = router_process::ensure(&elsewhere).await.unwrap();
    routers.add(third.pid());
    assert_ne!(third.pid(), second.pid());
    eventually_gone(second.pid()).await;
    assert_eq!(get(spec.http_addr, "paas.other.test").await.0, 200);
    assert_eq!(get(spec.http_addr, &format!("paas.{DOMAIN}")).await.0, 404);
    third.stop().await.unwrap();
}

#[tokio::test]
async fn a_stale_pid_file_starts_a_new_router_and_leaves_other_programs_alone() {
    let (_temp, place) = place().await;
    let mut routers = Routers::default();
    let spec = place.spec();
    std::fs::create_dir_all(&spec.state_dir).unwrap();
    let pid_file = spec.state_dir.join(PID_FILE);
    let record = |pid: u32| format!("pid={pid}\nfingerprint={}\n", spec.fingerprint());

    // A pid that is dead.
    let mut done = Command::new("true").spawn().unwrap();
    let dead = done.id();
    done.wait().unwrap();
    std::fs::write(&pid_file, record(dead)).unwrap();
    let router = router_process::ensure(&spec).await.unwrap();
    routers.add(router.pid());
    assert!(!router.adopted());
    assert_ne!(router.pid(), dead);
    router.stop().await.unwrap();

    // A pid that another program has now.
    let mut sleep = Command::new("sleep").arg("60").spawn().unwrap();
    std::fs::write(&pid_file, record(sleep.id())).unwrap();
    let router = router_process::ensure(&spec).await.unwrap();
    routers.add(router.pid());
    assert!(!router.adopted());
    assert_ne!(router.pid(), sleep.id());
    assert_eq!(get(spec.http_addr, &format!("nope.{DOMAIN}")).await.0, 404);
    assert!(sleep.try_wait().unwrap().is_none(), "the other program is left alone");
    router.stop().await.unwrap();
    sleep.kill().unwrap();
    sleep.wait().unwrap();

    // A pid file that is not one.
    std::fs::write(&pid_file, "garbage").unwrap();
    let router = router_process::ensure(&spec).await.unwrap();
    routers.add(router.pid());
    assert!(!router.adopted());
    router.stop().await.unwrap();
}

#[tokio::test]
async fn an_address_taken_by_another_program_is_a_clear_error() {
    let (_temp, place) = place().await;
    let squatter = TcpListener::bind("127.0.0.1:0").unwrap();
    let spec = RouterSpec { http_addr: squatter.local_addr().unwrap(), ..place.spec() };

    let error = router_process::ensure(&spec).await.unwrap_err();
    assert!(matches!(error, RouterProcessError::AddressTaken { addr, .. } if addr == spec.http_addr));
    let message = error.to_string();
    assert!(message.contains(&spec.http_addr.to_string()), "{message}");
    assert!(message.contains("PAAS_HTTP_ADDR"), "{message}");
    assert!(!spec.state_dir.join(PID_FILE).exists());
}

#[tokio::test]
async fn a_router_that_cannot_start_fails_with_the_end_of_its_log() {
    let (_temp, place) = place().await;
    let spec = RouterSpec { feed_url: "ftp://nowhere/".to_owned(), ..place.spec() };

    let error = router_process::ensure(&spec).await.unwrap_err();
    assert!(matches!(error, RouterProcessError::Exited { .. }), "{error:?}");
    let message = error.to_string();
    assert!(message.contains("PAAS_ROUTER_FEED_URL"), "the router's own words are shown: {message}");
    assert!(!message.contains(TOKEN), "{message}");
    assert!(!spec.state_dir.join(PID_FILE).exists());
}

#[tokio::test]
async fn a_missing_binary_or_port_0_is_refused_before_anything_starts() {
    let (_temp, place) = place().await;
    let missing = RouterSpec { binary: place.dir.join("no-such-router"), ..place.spec() };
    let error = router_process::ensure(&missing).await.unwrap_err();
    assert!(matches!(error, RouterProcessError::Binary { .. }), "{error:?}");
    assert!(error.to_string().contains("PAAS_ROUTER_BIN"), "{error}");

    let port_0 = RouterSpec { http_addr: "127.0.0.1:0".parse().unwrap(), ..place.spec() };
    let error = router_process::ensure(&port_0).await.unwrap_err();
    assert!(matches!(error, RouterProcessError::PortZero { .. }), "{error:?}");
}
