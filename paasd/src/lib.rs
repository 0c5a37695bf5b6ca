//! paasd: the whole platform on one machine, in one process.
//!
//! Today it runs the controller (REST API and store); the builder, registry and router
//! join it as they arrive. [`run`] takes a listener and a shutdown signal, so tests run
//! the very code the binary runs.

pub mod git;
pub mod registry;
pub mod router_process;
pub mod secrets;
pub mod settings;

use std::future::Future;
use std::net::TcpListener;
use std::sync::Arc;

use anyhow::Context;
use paas_controller::{ControllerConfig, State};

pub use settings::{PaasdConfig, RouterSettings};

/// The JWT signing key's file name in the data dir.
pub const JWT_KEY_FILE: &str = "jwt.key";
/// The internal credential's file name in the data dir: routers present it to follow
/// the route table.
pub const INTERNAL_TOKEN_FILE: &str = "internal.token";
/// The SQLite database's file name in the data dir.
pub const SQLITE_FILE: &str = "paas.db";
/// The platform id's file name in the data dir: a short random id, made on first start,
/// that labels this platform's containers and names its network.
pub const PLATFORM_ID_FILE: &str = "platform.id";

impl PaasdConfig {
    /// The database URL: as configured, or the SQLite file in the data dir.
    pub fn effective_database_url(&self) -> String {
        self.database_url
            .clone()
            .unwrap_or_else(|| format!("sqlite://{}", self.data_dir.join(SQLITE_FILE).display()))
    }
}

/// The sockets paasd serves on, bound by the caller (so tests can use port 0).
pub struct Listeners {
    /// The REST API.
    pub api: TcpListener,
    /// git smart HTTP, for pushes; `None` runs no builder.
    pub builder: Option<TcpListener>,
    /// The registry's token endpoint and gateway; `None` runs no registry (built
    /// images then stay local to the engine).
    pub registry: Option<registry::RegistrySockets>,
}

/// Runs the platform on its listeners until `shutdown` resolves.
pub async fn run(
    config: PaasdConfig,
    listeners: Listeners,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    let Listeners { api: api_listener, builder: builder_listener, registry: registry_sockets } = listeners;
    secrets::ensure_private_dir(&config.data_dir)
        .with_context(|| format!("cannot create the data dir {}", config.data_dir.display()))?;
    let key_path = config.data_dir.join(JWT_KEY_FILE);
    let jwt_secret = secrets::load_or_create_secret(&key_path)
        .with_context(|| format!("cannot read or create the key file {}", key_path.display()))?;
    let internal_path = config.data_dir.join(INTERNAL_TOKEN_FILE);
    let internal_token = secrets::load_or_create_secret(&internal_path)
        .map(hex::encode)
        .with_context(|| format!("cannot read or create the key file {}", internal_path.display()))?;
    let addr = api_listener.local_addr().context("the API listener has no address")?;
    api_listener.set_nonblocking(true).context("cannot make the API listener non-blocking")?;
    let public_url = config.public_url.clone().unwrap_or_else(|| format!("http://{addr}"));
    let controller = ControllerConfig {
        domain: config.domain.clone(),
        public_url: public_url.clone(),
        app_url_scheme: "http".into(),
        // Apps and git are reached through the router; its port is named unless it is
        // HTTP's own.
        app_url_port: match &config.router {
            Some(router) if router.http_addr.port() != 80 => format!(":{}", router.http_addr.port()),
            _ => String::new(),
        },
        registration: config.registration,
        jwt_ttl: config.jwt_ttl,
        jwt_secret,
        internal_token: internal_token.clone(),
        acme: config.acme.clone(),
        // Where `paas_registry_proxy::platform` keeps the Distribution registry's
        // blobs and manifests, for the platform page's registry size.
        registry_storage: config
            .registry
            .as_ref()
            .map(|_| config.data_dir.join("registry").join("distribution").join("storage")),
    };
    let state = Arc::new(
        State::open(controller, &config.effective_database_url())
            .await
            .context("cannot open the database")?,
    );
    tracing::info!(%public_url, domain = %config.domain, "paasd is serving the API");
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let stopped = |mut stop: tokio::sync::watch::Receiver<bool>| async move {
        let _ = stop.wait_for(|stopped| *stopped).await;
    };
    let registry = match (config.docker, &config.registry, registry_sockets) {
        (true, Some(settings), Some(sockets)) => Some(
            registry::Registry::start(&config.data_dir, settings, sockets, stopped(stop_rx.clone()))
                .await
                .context("cannot start the registry")?,
        ),
        _ => None,
    };
    let renewals =
        tokio::spawn(paas_controller::app::acme::run_renewals(state.clone(), stopped(stop_rx.clone())));
    let storage = registry::PlatformStorage::new(registry.as_ref(), config.data_dir.join("repos"));
    let _ = state.storage.set(Arc::new(storage));
    let scheduler = if config.docker {
        let platform = secrets::load_or_create_platform_id(&config.data_dir.join(PLATFORM_ID_FILE))
            .context("cannot read or create the platform id")?;
        let mut engine = paas_controller::scheduler::Engine::connect(&platform).await.with_context(|| {
            format!(
                "no Docker engine answers (set {}=off to run without one)",
                paas_core::settings::DOCKER.name
            )
        })?;
        if let Some(registry) = &registry {
            engine = engine.with_registry(registry.pull());
        }
        let collector = state.collector(engine.clone(), config.gc);
        Some((state.scheduler(engine, config.rollout), collector))
    } else {
        None
    };
    let scheduler = scheduler.map(|(s, collector)| {
        tokio::spawn(collector.run(stopped(stop_rx.clone())));
        tokio::spawn(s.run(stopped(stop_rx.clone())))
    });
    let builder_addr = match &builder_listener {
        Some(listener) => Some(listener.local_addr().context("the builder listener has no address")?),
        None => None,
    };
    let builder = match builder_listener {
        Some(listener) => {
            listener.set_nonblocking(true).context("cannot make the builder listener non-blocking")?;
            let listener =
                tokio::net::TcpListener::from_std(listener).context("cannot use the builder listener")?;
            tracing::info!(addr = ?builder_addr, "the builder receives git pushes");
            let handler: Arc<dyn paas_builder::PushHandler> = if config.docker {
                let release: Arc<dyn paas_builder::BuildSink> = Arc::new(git::ReleaseBuilds(state.clone()));
                let sink: Arc<dyn paas_builder::BuildSink> = match &registry {
                    Some(registry) => Arc::new(
                        paas_builder::build::publish::PublishingSink::connect(
                            registry.push_target(),
                            release,
                        )
                        .await
                        .context("the builder cannot reach the Docker engine")?
                        .with_gate(registry.push_gate()),
                    ),
                    None => release,
                };
                let building = paas_builder::build::BuildingHandler::connect(sink)
                    .await
                    .context("the builder cannot reach the Docker engine")?
                    .with_buildpacks(config.buildpacks.clone())
                    .with_build_env(Arc::new(git::ControllerBuildEnv(state.clone())));
                Arc::new(building)
            } else {
                Arc::new(git::NoBuilds)
            };
            let builder = paas_builder::BuilderState::new(
                paas_builder::BuilderConfig::new(config.data_dir.join("repos")),
                Arc::new(git::ControllerPushAuthorizer(state.clone())),
                handler,
            );
            Some(tokio::spawn(paas_builder::run(listener, builder, stopped(stop_rx.clone()))))
        }
        None => None,
    };
    // After the builder, so the router knows its address; before the API serves, whose
    // socket is bound already, so the router's first look at the route stream waits.
    let router = match &config.router {
        Some(router) => {
            let spec = router_process::RouterSpec {
                binary: router.binary.clone(),
                http_addr: router.http_addr,
                https_addr: router.https_addr,
                metrics_addr: router.metrics_addr,
                domain: config.domain.clone(),
                state_dir: config.data_dir.join("router"),
                feed_url: format!("http://{addr}/v1/internal/routes/watch"),
                token: internal_token,
                controller_addr: addr,
                builder_addr,
                log_filter: router.log_filter.clone(),
            };
            let process = router_process::ensure(&spec).await.context("cannot start the router")?;
            tracing::info!(pid = process.pid(), adopted = process.adopted(), addr = %router.http_addr,
                "the router serves apps");
            Some(process)
        }
        None => None,
    };
    let served = paas_controller::serve(api_listener, state, async {
        shutdown.await;
        stop_tx.send_replace(true);
    })
    .await;
    stop_tx.send_replace(true);
    let _ = renewals.await;
    if let Some(task) = scheduler {
        let _ = task.await;
    }
    if let Some(task) = builder {
        match task.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::warn!(error = %e, "the builder stopped with an error"),
            Err(e) => tracing::warn!(error = %e, "the builder task failed"),
        }
    }
    if let Some(registry) = registry {
        registry.stopped().await;
    }
    if let Some(router) = router {
        tracing::info!(pid = router.pid(), "the router keeps serving apps");
    }
    served.context("the API server failed")?;
    tracing::info!("paasd stopped");
    Ok(())
}
