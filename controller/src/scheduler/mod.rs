//! The scheduler: runs the processes of every app's current release, as many of each
//! type as its formation says, as Docker containers on the platform network.
//!
//! [`Scheduler::reconcile`] is idempotent: it reads the desired state from the store
//! ([`desired`]), the actual state from the Docker engine ([`docker`]), and carries out
//! the difference that [`plan`] computes: missing processes start, unwanted containers
//! go (a new release's containers start before the old ones are removed), matching live
//! containers are left alone, so a restarted controller adopts what runs. Afterwards the
//! running `web` containers become the backends of the route table. [`Scheduler::run`]
//! reconciles every [`INTERVAL`] and whenever [`Nudge::nudge`] is called after a write;
//! an error is logged and the next run is the retry.

pub mod board;
pub mod desired;
pub mod docker;
pub mod logs;
pub mod plan;

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use paas_core::routes::Backend;
use paas_core::{AppName, ErrorChain, Hostname};
use tokio::sync::Notify;

use crate::db::Db;
use crate::route_feed::RouteFeed;
pub use docker::{Engine, RegistryPull};
use plan::{Action, ActualContainer, ContainerState, RemoveReason};

/// How often the scheduler reconciles when nobody nudges it.
pub const INTERVAL: Duration = Duration::from_secs(5);

/// Wakes the scheduler after a write that changes what should run. Cheap to clone; a
/// nudge with no scheduler running does nothing.
#[derive(Debug, Clone, Default)]
pub struct Nudge(Arc<Notify>);

impl Nudge {
    /// Asks for a reconcile soon. Nudges while one runs fold into one more run.
    pub fn nudge(&self) {
        self.0.notify_one();
    }

    async fn nudged(&self) {
        self.0.notified().await;
    }
}

/// Why a reconcile stopped short.
#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    /// The store could not be read.
    #[error("cannot read the desired state from the store")]
    Store(#[from] sqlx::Error),
    /// The Docker engine failed a request.
    #[error("the Docker engine failed")]
    Docker(#[from] bollard::errors::Error),
}

/// What one reconcile did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    /// Containers started.
    pub started: usize,
    /// Containers removed.
    pub removed: usize,
    /// Actions that failed (logged; retried on the next run).
    pub failed: usize,
}

/// Runs processes for the platform.
pub struct Scheduler {
    db: Db,
    engine: Engine,
    routes: Arc<RouteFeed>,
    domain: Hostname,
    nudge: Nudge,
    board: Arc<board::Board>,
}

impl Scheduler {
    /// A scheduler over the store, one Docker engine and the route table it feeds.
    pub fn new(
        db: Db,
        engine: Engine,
        routes: Arc<RouteFeed>,
        domain: Hostname,
        nudge: Nudge,
        board: Arc<board::Board>,
    ) -> Self {
        Self { db, engine, routes, domain, nudge, board }
    }

    /// Takes the containers one step to the desired state and publishes the backends.
    pub async fn reconcile(&self) -> Result<Report, ReconcileError> {
        self.engine.ensure_network().await?;
        let desired = desired::load(&self.db).await?;
        let mut actual = self.engine.list().await?;
        let actions = plan::plan(&desired, &actual);
        let desired_apps: BTreeSet<&str> = desired.iter().map(|d| d.key.app.as_str()).collect();
        let mut report = Report::default();
        // Apps with a process that failed to start keep their old containers.
        let mut failed_apps: BTreeSet<String> = BTreeSet::new();
        for action in &actions {
            match action {
                Action::Start(process) => match self.engine.start(process).await {
                    Ok(id) => {
                        report.started += 1;
                        tracing::info!(app = %process.key.app, release = process.key.release,
                            process = %process.key.process_name(), container = %short(&id), "started");
                    }
                    Err(e) => {
                        report.failed += 1;
                        failed_apps.insert(process.key.app.clone());
                        tracing::warn!(app = %process.key.app, release = process.key.release,
                            process = %process.key.process_name(), error = %ErrorChain(&e), "cannot start");
                    }
                },
                Action::Remove { id, app, reason } => {
                    let superseded = *reason == RemoveReason::NotDesired
                        && app
                            .as_deref()
                            .is_some_and(|a| desired_apps.contains(a) && failed_apps.contains(a));
                    if superseded {
                        continue;
                    }
                    match self.engine.remove(id).await {
                        Ok(()) => {
                            report.removed += 1;
                            tracing::info!(app = app.as_deref().unwrap_or("?"), container = %short(id),
                                ?reason, "removed");
                        }
                        Err(e) => {
                            report.failed += 1;
                            tracing::warn!(container = %short(id), error = %ErrorChain(&e), "cannot remove");
                        }
                    }
                }
            }
        }
        if !actions.is_empty() {
            actual = self.engine.list().await?;
        }
        let wanted: BTreeSet<&plan::ProcessKey> = desired.iter().map(|d| &d.key).collect();
        self.board.publish(&actual);
        self.routes.set_backends(&self.db, &self.domain, backends(&actual, &wanted)).await?;
        Ok(report)
    }

    /// Reconciles now, then every [`INTERVAL`] and after every nudge, until `shutdown`
    /// resolves. Containers keep running after it stops: the next start adopts them.
    pub async fn run(self, shutdown: impl Future<Output = ()>) {
        let mut shutdown = std::pin::pin!(shutdown);
        tracing::info!(platform = %self.engine.platform(), "the scheduler is running");
        loop {
            tokio::select! {
                () = &mut shutdown => break,
                result = self.reconcile() => {
                    if let Err(e) = result {
                        tracing::warn!(error = %ErrorChain(&e), "reconcile failed; retrying on the next run");
                    }
                }
            }
            tokio::select! {
                () = &mut shutdown => break,
                () = self.nudge.nudged() => {}
                () = tokio::time::sleep(INTERVAL) => {}
            }
        }
        tracing::info!("the scheduler stopped");
    }
}

/// The live `web` containers of wanted processes with an address, per app.
fn backends(
    actual: &[ActualContainer],
    wanted: &BTreeSet<&plan::ProcessKey>,
) -> BTreeMap<AppName, Vec<Backend>> {
    let mut out: BTreeMap<AppName, Vec<Backend>> = BTreeMap::new();
    for container in actual {
        let (Some(key), Some(ip)) = (&container.key, container.ip) else { continue };
        if key.process_type != "web" || container.state != ContainerState::Live || !wanted.contains(key) {
            continue;
        }
        let Ok(app) = AppName::parse(&key.app) else { continue };
        out.entry(app)
            .or_default()
            .push(Backend { addr: SocketAddr::new(ip, desired::PORT), process: key.process_name() });
    }
    for list in out.values_mut() {
        list.sort_by(|a, b| a.process.cmp(&b.process));
    }
    out
}

fn short(id: &str) -> &str {
    id.get(..12).unwrap_or(id)
}
