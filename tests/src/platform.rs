//! `spawn_controller()`: the real paasd, in this process, on a free port.

use std::net::TcpListener;
use std::time::Duration;

use paas_controller::RegistrationMode;
use paas_core::Hostname;
use paasd::PaasdConfig;
use serde_json::json;
use tempfile::TempDir;
use tokio::sync::oneshot;

use crate::{ApiClient, TestDatabase, PASSWORD};

/// A running platform; stopped when dropped.
pub struct TestPlatform {
    /// The API's base URL.
    pub url: String,
    /// The data dir.
    pub data_dir: TempDir,
    /// The database paasd uses.
    pub database: TestDatabase,
    /// The configuration it runs with.
    pub config: PaasdConfig,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<PaasdTask>,
}

/// Starts paasd with the default test configuration (registration `admin_only`).
pub async fn spawn_controller() -> TestPlatform {
    spawn_controller_with(|_| {}).await
}

/// Starts paasd after `adjust` has changed its configuration.
pub async fn spawn_controller_with(adjust: impl FnOnce(&mut PaasdConfig)) -> TestPlatform {
    init_logs();
    let data_dir = tempfile::tempdir().expect("a temporary dir");
    let database = TestDatabase::create(data_dir.path()).await;
    let listener = TcpListener::bind("127.0.0.1:0").expect("a free port");
    let addr = listener.local_addr().expect("an address");
    let mut config = PaasdConfig {
        api_addr: addr,
        data_dir: data_dir.path().join("data"),
        domain: Hostname::parse("paas.test").expect("a hostname"),
        database_url: Some(database.url.clone()),
        registration: RegistrationMode::AdminOnly,
        jwt_ttl: Duration::from_secs(3600),
        public_url: None,
        // The API tests run without Docker; the scheduler's tests turn it on.
        docker: false,
        // No builder unless a test asks for one (with port 0: a free port).
        builder_addr: None,
        // No registry and no router unless a test asks (`spawn_platform`).
        registry: None,
        router: None,
        buildpacks: paasd::settings::default_buildpacks(),
        // Short, so tests that replace processes do not wait out production's 30 s.
        rollout: paas_controller::scheduler::RolloutConfig {
            drain: Duration::from_secs(1),
            stop_grace: Duration::from_secs(2),
        },
        // Production's: 10 releases kept; `tests/hygiene.rs` keeps fewer.
        gc: paas_controller::scheduler::gc::GcConfig::default(),
        // Let's Encrypt's, never reached: only `tests/acme.rs` orders, from Pebble.
        acme: paas_controller::acme::AcmeConfig::default(),
    };
    adjust(&mut config);
    crate::panic_message::record();
    let (shutdown, task) = start(&mut config, listener);
    let platform = TestPlatform {
        url: format!("http://{addr}"),
        data_dir,
        database,
        config,
        shutdown: Some(shutdown),
        task: Some(task),
    };
    platform.wait_ready().await;
    platform
}

type PaasdTask = tokio::task::JoinHandle<Result<(), String>>;

/// Runs paasd on `listener` (and a builder listener when configured; a port 0 in the
/// configuration is replaced by the port taken) in a task; it stops when the sender is
/// used or dropped.
fn start(config: &mut PaasdConfig, listener: TcpListener) -> (oneshot::Sender<()>, PaasdTask) {
    let builder = config.builder_addr.map(|addr| TcpListener::bind(addr).expect("the builder's port"));
    if let Some(builder) = &builder {
        config.builder_addr = Some(builder.local_addr().expect("an address"));
    }
    let registry = config.registry.as_mut().map(|settings| {
        let sockets = settings.bind().expect("the registry's ports");
        settings.gateway_addr = sockets.gateway.local_addr().expect("an address");
        settings.token_addr = sockets.token.local_addr().expect("an address");
        sockets
    });
    let config = config.clone();
    let (tx, rx) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        paasd::run(config, paasd::Listeners { api: listener, builder, registry }, async {
            let _ = rx.await;
        })
        .await
        .map_err(|e| format!("{e:#}"))
    });
    (tx, task)
}

/// The whole platform on free ports: the API, the builder, the scheduler on the real
/// Docker engine, the registry (Debian's Distribution binary) and the real
/// `paas-router` process (built by `cargo build --bins`).
pub async fn spawn_platform() -> TestPlatform {
    spawn_platform_with(|_| {}).await
}

/// [`spawn_platform`] after `adjust` has changed the configuration.
pub async fn spawn_platform_with(adjust: impl FnOnce(&mut PaasdConfig)) -> TestPlatform {
    spawn_controller_with(|c| {
        // `*.localhost` is loopback to git, curl and browsers: plain `git push` works.
        c.domain = Hostname::parse("localhost").expect("a hostname");
        c.docker = true;
        c.builder_addr = Some("127.0.0.1:0".parse().expect("an address"));
        c.registry = Some(test_registry());
        c.router = Some(paasd::RouterSettings {
            http_addr: free_addr(),
            https_addr: Some(free_addr()),
            metrics_addr: None,
            binary: crate::workspace_binary("paas-router"),
            log_filter: "info".into(),
        });
        adjust(c);
    })
    .await
}

/// The ports [`free_addr`] picks from: below Linux's ephemeral range (32768-60999),
/// which the kernel hands out as the source port of every outgoing connection. A port
/// from that range, free a moment ago, can be taken by one of the many connections the
/// load tests open before the program that was meant to bind it does; a port here can
/// only collide with another test's pick, which the bind check makes rare.
const TEST_PORTS: std::ops::Range<u16> = 20_000..32_000;

/// A loopback address whose port was free a moment ago, for a program that binds it
/// itself (see [`TEST_PORTS`]). A port is handed out once per test process: a
/// platform takes several at once and binds them only later, so a second pick of a port
/// not bound yet would pass the bind check and collide.
pub fn free_addr() -> std::net::SocketAddr {
    static HANDED_OUT: std::sync::Mutex<std::collections::BTreeSet<u16>> =
        std::sync::Mutex::new(std::collections::BTreeSet::new());
    let mut handed_out = HANDED_OUT.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    for _ in 0..1000 {
        let port = TEST_PORTS.start + rand::random::<u16>() % (TEST_PORTS.end - TEST_PORTS.start);
        if handed_out.contains(&port) {
            continue;
        }
        if let Ok(free) = TcpListener::bind(("127.0.0.1", port)) {
            handed_out.insert(port);
            return free.local_addr().expect("an address");
        }
    }
    panic!("no free port in {TEST_PORTS:?}");
}

/// Registry settings for a test platform: the gateway and token endpoint on free
/// ports, the registry itself on another free port, Debian's binary.
pub fn test_registry() -> paasd::registry::RegistrySettings {
    paasd::registry::RegistrySettings {
        gateway_addr: "127.0.0.1:0".parse().expect("an address"),
        token_addr: "127.0.0.1:0".parse().expect("an address"),
        addr: free_addr(),
        binary: paas_core::settings::REGISTRY_BIN.default.into(),
    }
}

/// Sends the platform's warnings and errors, and what its scheduler, collector and
/// registry do, to the test's captured output (shown only for a failing test), so a
/// failing test shows why.
#[allow(clippy::disallowed_methods)] // Test configuration, not a platform setting.
fn init_logs() {
    const DEFAULT_TEST_LOG: &str =
        "warn,paas_controller::scheduler=info,paas_registry_proxy::registry=info,paasd=info";
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let _ = tracing_subscriber::fmt()
            // `PAAS_TEST_LOG` (an env filter, e.g. `info`) for more or less.
            .with_env_filter(tracing_subscriber::EnvFilter::new(
                std::env::var("PAAS_TEST_LOG").unwrap_or_else(|_| DEFAULT_TEST_LOG.to_owned()),
            ))
            .with_test_writer()
            .with_ansi(false)
            .try_init();
    });
}

impl TestPlatform {
    async fn wait_ready(&self) {
        let client = self.anonymous();
        for _ in 0..200 {
            if let Some(task) = &self.task {
                assert!(!task.is_finished(), "paasd stopped during start-up");
            }
            if client.get("/readyz").await.status == 200 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("paasd did not become ready");
    }

    /// The internal credential routers present.
    pub fn internal_token(&self) -> String {
        std::fs::read_to_string(self.config.data_dir.join(paasd::INTERNAL_TOKEN_FILE))
            .expect("paasd made the internal token")
    }

    /// A client without credentials.
    pub fn anonymous(&self) -> ApiClient {
        ApiClient::new(&self.url)
    }

    /// Signs in and returns a client that sends the JWT.
    pub async fn login(&self, username: &str) -> ApiClient {
        let session = self
            .anonymous()
            .post("/v1/auth/login", json!({ "username": username, "password": PASSWORD }))
            .await
            .expect(200);
        let mut client = self.anonymous().with_token(session["token"].as_str().expect("a token"));
        client.username = Some(username.to_owned());
        client
    }

    /// Registers the first user (an admin) and signs them in.
    pub async fn admin(&self) -> ApiClient {
        self.anonymous()
            .post("/v1/auth/register", json!({ "username": "admin", "password": PASSWORD }))
            .await
            .expect(201);
        self.login("admin").await
    }

    /// Has `admin` register another user and signs them in.
    pub async fn user(&self, admin: &ApiClient, username: &str) -> ApiClient {
        admin
            .post("/v1/auth/register", json!({ "username": username, "password": PASSWORD }))
            .await
            .expect(201);
        self.login(username).await
    }

    /// Stops paasd gracefully and starts it again on the same address, data dir and
    /// database, as an operator's restart does.
    pub async fn restart(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.expect("paasd did not panic").expect("paasd stopped cleanly");
        }
        let listener = TcpListener::bind(self.config.api_addr).expect("the same address again");
        let (shutdown, task) = start(&mut self.config, listener);
        self.shutdown = Some(shutdown);
        self.task = Some(task);
        self.wait_ready().await;
    }

    /// The platform id paasd made in its data dir (when it runs the scheduler).
    pub fn platform_id(&self) -> String {
        std::fs::read_to_string(self.config.data_dir.join(paasd::PLATFORM_ID_FILE))
            .expect("paasd made the platform id")
            .trim()
            .to_owned()
    }

    /// Creates `app` with a stand-in build of the stack image whose `web` is Python's
    /// HTTP server (a line on stderr per request), runs one `web` process, and waits
    /// until it answers through the router.
    pub async fn serve_python_http_server(&self, admin: &crate::ApiClient, app: &str) {
        admin.create_app(app).await;
        let web = serde_json::json!({"web": "exec python3 -m http.server $PORT"});
        self.stand_in_build(app, crate::STACK_IMAGE, &web).await;
        admin.scale(app, "web", 1).await;
        crate::eventually("the app answers through the router", || async {
            self.router_get(app, "/").await.filter(|(status, _)| *status == 200)
        })
        .await;
    }

    /// Stands in for the builder, which does not exist yet: records a build of `image`
    /// with `process_types` (type -> command) straight in the database and points the
    /// app's current release at it, as a finished build's release would.
    pub async fn stand_in_build(&self, app: &str, image: &str, process_types: &serde_json::Value) {
        use sqlx::Connection;
        let mut conn = sqlx::AnyConnection::connect(&self.database.url).await.expect("the test database");
        let build_id: i64 = sqlx::query_scalar(
            "INSERT INTO builds (app_id, source_commit, image, process_types, created_by, created_at) \
             SELECT id, 'stand-in', $2, $3, 'test', 0 FROM apps WHERE name = $1 RETURNING id",
        )
        .bind(app)
        .bind(image)
        .bind(process_types.to_string())
        .fetch_one(&mut conn)
        .await
        .expect("a build row");
        sqlx::query(
            "UPDATE releases SET build_id = $1 WHERE app_id = (SELECT id FROM apps WHERE name = $2) \
             AND version = (SELECT last_release FROM apps WHERE name = $2)",
        )
        .bind(build_id)
        .bind(app)
        .execute(&mut conn)
        .await
        .expect("the current release points at the build");
        conn.close().await.expect("closed");
    }

    /// Stops paasd gracefully and returns how it ended (the router it started goes
    /// when the platform is dropped).
    pub async fn stop(mut self) -> Result<(), String> {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        match self.task.take() {
            Some(task) => task.await.map_err(|e| e.to_string())?,
            None => Ok(()),
        }
    }

    /// The git URL of an app, with credentials, as `git push` takes it.
    pub fn git_url(&self, app: &str, username: &str, token: &str) -> String {
        let builder = self.config.builder_addr.expect("a platform with a builder");
        format!("http://{username}:{token}@{builder}/{app}.git")
    }

    /// The registry gateway's `host:port`, as image references name it.
    pub fn registry_host(&self) -> String {
        let registry = self.config.registry.as_ref().expect("a platform with a registry");
        format!("127.0.0.1:{}", registry.gateway_addr.port())
    }

    /// A registry principal's secret (the data dir's file holds it in hex, as used).
    pub fn registry_secret(&self, file: &str) -> String {
        let text = std::fs::read_to_string(self.config.data_dir.join(file)).expect("paasd made the secret");
        text.trim().to_owned()
    }

    /// The router's address.
    pub fn router_addr(&self) -> std::net::SocketAddr {
        self.config.router.as_ref().expect("a platform with a router").http_addr
    }

    /// `GET path` through the router with `Host: <app>.<domain>`: the status and body,
    /// or `None` when the router cannot be reached.
    pub async fn router_get(&self, app: &str, path: &str) -> Option<(u16, String)> {
        let url = format!("http://{}{path}", self.router_addr());
        let resp = router_client()
            .get(url)
            .header("Host", format!("{app}.{}", self.config.domain))
            .send()
            .await
            .ok()?;
        let status = resp.status().as_u16();
        Some((status, resp.text().await.ok()?))
    }
}

/// SIGKILLs `pid` if its command line names a file under `data_dir` (a pid file may
/// name a pid that another program has since been given).
pub fn kill_if_serving(pid: u32, data_dir: &std::path::Path) {
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    let dir = data_dir.to_string_lossy();
    if String::from_utf8_lossy(&cmdline).contains(dir.as_ref()) {
        let _ = std::process::Command::new("kill").args(["-KILL", &pid.to_string()]).output();
    }
}

/// One HTTP client for every request through a router; new connections each time, so
/// round-robin across connections is what is seen.
fn router_client() -> &'static reqwest::Client {
    static CLIENT: std::sync::OnceLock<reqwest::Client> = std::sync::OnceLock::new();
    CLIENT.get_or_init(|| {
        reqwest::Client::builder()
            .pool_max_idle_per_host(0)
            .timeout(Duration::from_secs(10))
            .build()
            .expect("an HTTP client")
    })
}

/// The last `lines` lines of the file at `path`, or why there are none.
fn tail(path: &std::path::Path, lines: usize) -> String {
    match std::fs::read_to_string(path) {
        Ok(text) => {
            let all: Vec<&str> = text.lines().collect();
            all[all.len().saturating_sub(lines)..].join("\n")
        }
        Err(e) => format!("({}: {e})", path.display()),
    }
}

impl TestPlatform {
    /// What a failing test shows beyond the platform's log: the router's and the
    /// registry's logs (children of paasd, with files of their own in the data dir)
    /// and the engine's word on the platform's containers.
    fn report_failure(&self) {
        let data = &self.config.data_dir;
        if self.config.router.is_some() {
            eprintln!("--- router.log, last lines:\n{}", tail(&data.join("router/router.log"), 40));
        }
        if self.config.registry.is_some() {
            let log = data.join("registry/distribution/registry.log");
            eprintln!("--- registry.log, last lines:\n{}", tail(&log, 20));
        }
        if let Ok(id) = std::fs::read_to_string(data.join(paasd::PLATFORM_ID_FILE)) {
            eprintln!("--- containers:\n{}", crate::docker::describe_platform(id.trim()));
        }
        if let Some(message) = crate::panic_message::last() {
            eprintln!("--- the test failed, {message}");
        }
    }
}

impl Drop for TestPlatform {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.report_failure();
        }
        // A platform stopped with `stop` leaves its processes to the test's own guard.
        let was_running = self.task.is_some();
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        // Let paasd stop before its containers are removed, so that its scheduler does
        // not start new ones meanwhile (a test ends, or fails, with its platform
        // running). Only a multi-threaded runtime can wait here; on a current-thread
        // one paasd cannot run while this does anyway.
        if let (Some(task), Ok(handle)) = (self.task.take(), tokio::runtime::Handle::try_current()) {
            if handle.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread {
                tokio::task::block_in_place(|| {
                    let _ = handle.block_on(tokio::time::timeout(Duration::from_secs(30), task));
                });
            }
        }
        // A test process may end before paasd has stopped the registry it supervises.
        if self.config.registry.is_some() {
            if let Some(pid) = paasd::registry::recorded_registry_pid(&self.config.data_dir) {
                kill_if_serving(pid, &self.config.data_dir);
            }
        }
        // The router outlives paasd by design; a test's router goes with its platform.
        if let Some(router) = &self.config.router {
            paasd::router_process::kill_recorded(&self.config.data_dir.join("router"), &router.binary);
        }
        // Its processes too, also when the test's own guard was dropped first.
        if was_running && self.config.docker {
            if let Ok(id) = std::fs::read_to_string(self.config.data_dir.join(paasd::PLATFORM_ID_FILE)) {
                crate::docker::remove_platform(id.trim());
            }
        }
    }
}
