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
    task: Option<tokio::task::JoinHandle<Result<(), String>>>,
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
    };
    adjust(&mut config);
    let (tx, rx) = oneshot::channel::<()>();
    let run_config = config.clone();
    let task = tokio::spawn(async move {
        paasd::run(run_config, listener, async {
            let _ = rx.await;
        })
        .await
        .map_err(|e| format!("{e:#}"))
    });
    let platform = TestPlatform {
        url: format!("http://{addr}"),
        data_dir,
        database,
        config,
        shutdown: Some(tx),
        task: Some(task),
    };
    platform.wait_ready().await;
    platform
}

/// Sends the platform's warnings and errors to the test's captured output, so a failing
/// test shows why.
fn init_logs() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new("warn"))
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

    /// Stops paasd gracefully and returns how it ended.
    pub async fn stop(mut self) -> Result<(), String> {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        match self.task.take() {
            Some(task) => task.await.map_err(|e| e.to_string())?,
            None => Ok(()),
        }
    }
}

impl Drop for TestPlatform {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}
