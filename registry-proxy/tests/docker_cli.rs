//! The real `docker` CLI against the real Distribution registry, through the gateway:
//! refused without a token, allowed with one, and only what each principal may do.
//!
//! Needs the Docker engine, `/usr/bin/docker-registry` (`cargo xtask test` installs it)
//! and the `paas/stack:bookworm` image (`cargo xtask test` makes it).

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use paas_registry_proxy::registry::{self, DEFAULT_BINARY};
use paas_registry_proxy::{
    Gateway, GatewayConfig, RegistryConfig, SigningKey, StaticCredentials, TokenIssuer, TokenService,
};
use rand::Rng;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

const STACK_IMAGE: &str = "paas/stack:bookworm";
const BUILDER_SECRET: &str = "builder-test-secret";
const NODE_SECRET: &str = "node-test-secret";

/// The registry, token endpoint and gateway on free ports, stopped on drop.
struct Registry {
    gateway: SocketAddr,
    stop: watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    _dir: tempfile::TempDir,
}

async fn free_listener() -> TcpListener {
    TcpListener::bind("127.0.0.1:0").await.expect("bind a free port")
}

impl Registry {
    async fn spawn() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let key = Arc::new(SigningKey::load_or_generate(&dir.path().join("keys")).unwrap());
        let token_listener = free_listener().await;
        let gateway_listener = free_listener().await;
        let token = token_listener.local_addr().unwrap();
        let gateway = gateway_listener.local_addr().unwrap();
        let registry_addr = {
            let probe = free_listener().await;
            probe.local_addr().unwrap()
        };
        let config = RegistryConfig {
            binary: DEFAULT_BINARY.into(),
            dir: dir.path().join("distribution"),
            addr: registry_addr,
            realm: format!("http://{token}/token"),
            service: "paas-registry".into(),
            issuer: "paas-test".into(),
            root_cert: key.cert_path().to_owned(),
        };
        let tokens = TokenService::new(
            TokenIssuer::new(key, "paas-test", "paas-registry"),
            Arc::new(StaticCredentials::new(BUILDER_SECRET, NODE_SECRET)),
        );
        let (stop, stopped) = watch::channel(false);
        let wait = move || {
            let mut stopped = stopped.clone();
            async move {
                let _ = stopped.wait_for(|s| *s).await;
            }
        };
        let log = config.log_path();
        let tasks = vec![
            tokio::spawn({
                let shutdown = wait();
                async move { registry::supervise(config, shutdown).await.expect("the registry runs") }
            }),
            tokio::spawn(paas_registry_proxy::run_token_server(token_listener, tokens, wait())),
            tokio::spawn(paas_registry_proxy::run_gateway(
                gateway_listener,
                Gateway::new(GatewayConfig { registry: registry_addr, token }),
                wait(),
            )),
        ];
        let started = Instant::now();
        while TcpStream::connect(registry_addr).await.is_err() {
            if started.elapsed() > Duration::from_secs(20) {
                let log = std::fs::read_to_string(&log).unwrap_or_default();
                panic!("the registry did not start listening; its log:\n{log}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Self { gateway, stop, tasks, _dir: dir }
    }

    async fn stop(mut self) {
        let _ = self.stop.send(true);
        for task in self.tasks.drain(..) {
            task.await.unwrap();
        }
    }
}

/// The docker CLI with its own config directory, so the machine's logins are untouched.
struct Docker {
    config: tempfile::TempDir,
    /// Tags made by the test, removed on drop.
    tags: Vec<String>,
}

struct Outcome {
    ok: bool,
    output: String,
}

impl Docker {
    fn new() -> Self {
        Self { config: tempfile::tempdir().unwrap(), tags: Vec::new() }
    }

    async fn run(&self, args: &[&str]) -> Outcome {
        let started = Instant::now();
        let out = tokio::process::Command::new("docker")
            .args(args)
            .env("DOCKER_CONFIG", self.config.path())
            .output()
            .await
            .expect("run docker");
        let output =
            format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        let shown: Vec<_> = args.iter().map(|a| if a.contains("secret") { "***" } else { a }).collect();
        eprintln!("docker {} -> {} in {:.1?}", shown.join(" "), out.status, started.elapsed());
        Outcome { ok: out.status.success(), output }
    }

    async fn must(&self, args: &[&str]) {
        let outcome = self.run(args).await;
        assert!(outcome.ok, "docker {args:?} failed:\n{}", outcome.output);
    }

    async fn refused(&self, args: &[&str]) {
        let outcome = self.run(args).await;
        assert!(!outcome.ok, "docker {args:?} should have been refused:\n{}", outcome.output);
        eprintln!("  refused: {}", outcome.output.trim().lines().last().unwrap_or_default());
        let lower = outcome.output.to_lowercase();
        assert!(
            ["unauthorized", "denied", "authentication", "no basic auth"].iter().any(|w| lower.contains(w)),
            "docker {args:?} failed for another reason than authorization:\n{}",
            outcome.output
        );
    }

    async fn login(&self, gateway: SocketAddr, user: &str, secret: &str) {
        self.must(&["login", &gateway.to_string(), "-u", user, "-p", secret]).await;
    }
}

impl Drop for Docker {
    fn drop(&mut self) {
        for tag in &self.tags {
            let _ = std::process::Command::new("docker").args(["rmi", tag]).output();
        }
    }
}

fn registry_available() -> bool {
    if Path::new(DEFAULT_BINARY).exists() {
        return true;
    }
    #[allow(clippy::disallowed_methods)] // Tests decide whether a missing tool may skip.
    let ci = std::env::var_os("CI").is_some();
    assert!(!ci, "{DEFAULT_BINARY} is missing; `cargo xtask test` installs the docker-registry package");
    eprintln!(
        "SKIPPED: {DEFAULT_BINARY} is missing; run `apt-get install docker-registry` (or `cargo xtask test`)"
    );
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn docker_is_refused_without_a_token_and_allowed_with_one() {
    if !registry_available() {
        return;
    }
    let started = Instant::now();
    let mut docker = Docker::new();
    let inspect = docker.run(&["image", "inspect", "--format", "{{.Id}}", STACK_IMAGE]).await;
    assert!(inspect.ok, "{STACK_IMAGE} is missing; `cargo xtask test` makes it:\n{}", inspect.output);

    let registry = Registry::spawn().await;
    let gateway = registry.gateway;
    let repository = format!("test-{:08x}/app", rand::thread_rng().gen::<u32>());
    let image = format!("{gateway}/{repository}:v1");
    docker.must(&["tag", STACK_IMAGE, &image]).await;
    docker.tags.push(image.clone());

    // Without a login the gateway answers, but no token is given.
    docker.refused(&["push", &image]).await;
    docker.refused(&["login", &gateway.to_string(), "-u", "builder", "-p", "wrong-secret"]).await;

    // The builder pushes.
    docker.login(gateway, "builder", BUILDER_SECRET).await;
    docker.must(&["push", &image]).await;

    // Logged out, nothing can be pulled.
    docker.must(&["rmi", &image]).await;
    docker.must(&["logout", &gateway.to_string()]).await;
    docker.refused(&["pull", &image]).await;

    // A node pulls, but cannot push.
    docker.login(gateway, "node", NODE_SECRET).await;
    docker.must(&["pull", &image]).await;
    let other = format!("{gateway}/{repository}:v2");
    docker.must(&["tag", STACK_IMAGE, &other]).await;
    docker.tags.push(other.clone());
    docker.refused(&["push", &other]).await;

    drop(docker);
    registry.stop().await;
    eprintln!("the whole story took {:.1?}", started.elapsed());
}
