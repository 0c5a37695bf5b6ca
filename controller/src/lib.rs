//! The paas controller: the REST API under `/v1`, authentication, and the store.
//!
//! [`State::open`] connects the store; [`serve`] runs the API on a listener until a
//! shutdown signal resolves. Layers: `routes` (HTTP in and out) -> `app` (the logic)
//! -> `db` (queries).

pub mod acme;
pub mod app;
pub mod auth;
pub mod config;
pub mod dashboard;
pub mod db;
pub mod error;
pub mod openapi;
pub mod route_feed;
pub mod router_log;
pub mod routes;
pub mod scheduler;

use std::future::Future;
use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use actix_web::{middleware, web, App, HttpServer};

pub use config::{ControllerConfig, RegistrationMode};
pub use db::Db;

/// What every request shares.
pub struct State {
    /// The store.
    pub db: Db,
    /// Start-up configuration.
    pub config: ControllerConfig,
    /// Signs and checks login tokens.
    pub jwt: auth::JwtKeys,
    /// The route table routers follow; the scheduler sets its backends.
    pub routes: Arc<route_feed::RouteFeed>,
    /// Wakes the scheduler after a write that changes what should run.
    pub processes: scheduler::Nudge,
    /// What runs, as the scheduler last saw it.
    pub board: std::sync::Arc<scheduler::board::Board>,
    /// How rollouts ended, for pushes that wait on their release.
    pub rollouts: Arc<scheduler::Outcomes>,
    /// The Docker engine the scheduler runs processes on, set by [`State::scheduler`];
    /// unset when the platform runs without one. Logs are read from it.
    pub engine: std::sync::OnceLock<scheduler::Engine>,
    /// Turns true when the controller shuts down, to end responses that would stream
    /// on forever (followed logs).
    pub shutdown: tokio::sync::watch::Sender<bool>,
    /// Wakes the image collector (`scheduler::gc`) after a write that may leave old
    /// images behind.
    pub collection: scheduler::Nudge,
    /// The registry and the git repositories, set by paasd; unset, disk hygiene only
    /// touches the engine.
    pub storage: std::sync::OnceLock<Arc<dyn scheduler::gc::Storage>>,
    /// The routers' access lines, shown among the apps' logs.
    pub router_log: router_log::RouterLog,
    /// Orders `certs:auto` certificates.
    pub acme: acme::Issuer,
    /// The engine's disk use, measured in the background for the platform page.
    pub engine_disk: app::engine_disk::DiskMeter,
}

impl State {
    /// Opens the store at `database_url` and prepares the keys.
    pub async fn open(config: ControllerConfig, database_url: &str) -> Result<State, db::OpenError> {
        let db = Db::open(database_url).await?;
        let jwt = auth::JwtKeys::new(&config.jwt_secret, config.jwt_ttl);
        let acme = acme::Issuer::new(config.acme.clone());
        let routes = Arc::new(route_feed::RouteFeed::new());
        routes.refresh(&db, &config.domain).await.map_err(db::OpenError::Connect)?;
        Ok(State {
            db,
            config,
            jwt,
            routes,
            processes: scheduler::Nudge::default(),
            board: Default::default(),
            rollouts: Default::default(),
            engine: std::sync::OnceLock::new(),
            shutdown: tokio::sync::watch::Sender::new(false),
            collection: scheduler::Nudge::default(),
            storage: std::sync::OnceLock::new(),
            router_log: router_log::RouterLog::default(),
            acme,
            engine_disk: app::engine_disk::DiskMeter::default(),
        })
    }

    /// The scheduler of this controller's store, on `engine`, which also becomes the
    /// engine logs are read from (the first one, should this be called again), rolling
    /// releases out with `rollout`'s timing. The caller runs it.
    pub fn scheduler(
        &self,
        engine: scheduler::Engine,
        rollout: scheduler::RolloutConfig,
    ) -> scheduler::Scheduler {
        let _ = self.engine.set(engine.clone());
        scheduler::Scheduler::new(scheduler::Parts {
            db: self.db.clone(),
            engine,
            routes: self.routes.clone(),
            domain: self.config.domain.clone(),
            nudge: self.processes.clone(),
            board: self.board.clone(),
            outcomes: self.rollouts.clone(),
            config: rollout,
        })
    }
}

/// How long in-flight requests may take to finish after shutdown is asked for.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// Serves the API on `listener` until `shutdown` resolves, then lets in-flight requests
/// finish (up to [`SHUTDOWN_GRACE`]) and closes the store.
pub async fn serve(
    listener: TcpListener,
    state: std::sync::Arc<State>,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let state = web::Data::from(state);
    let app_state = state.clone();
    let server = HttpServer::new(move || {
        App::new()
            .app_data(app_state.clone())
            .wrap(middleware::Logger::new("%a \"%r\" %s %b %Dms").log_target("paas_controller::access"))
            .wrap(middleware::Compress::default())
            .configure(dashboard::configure)
            .configure(routes::configure)
    })
    .listen(listener)?
    .disable_signals()
    .shutdown_timeout(SHUTDOWN_GRACE.as_secs())
    .run();
    let handle = server.handle();
    let mut server = std::pin::pin!(server);
    let result = tokio::select! {
        result = &mut server => result,
        () = shutdown => {
            state.routes.close();
            state.shutdown.send_replace(true);
            // The server future itself carries out the stop: poll both.
            let ((), result) = tokio::join!(handle.stop(true), server);
            result
        }
    };
    state.db.close().await;
    result
}
