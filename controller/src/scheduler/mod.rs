//! The scheduler: runs the processes of every app's target release (the newest that has
//! not failed), as many of each type as its formation says, as Docker containers on the
//! platform network, and rolls new releases out without dropping traffic.
//!
//! [`Scheduler::reconcile`] is idempotent: it reads the desired state from the store
//! ([`desired`]), the actual state from the Docker engine ([`docker`]) and what it
//! remembers (health, draining, backoff: [`Memory`]), and carries out what the pure
//! [`plan`] says: start, health-check ([`health`]), route, promote or fail a release,
//! drain, stop (SIGTERM, SIGKILL after the grace period), restart with backoff. Then
//! the healthy, undrained `web` containers become the route table's backends. Memory is
//! only a cache of what can be found again: after a restart, live containers are
//! checked again (once, at once, before the first backends are published) and adopted
//! without a restart; an interrupted drain starts over. [`Scheduler::run`] reconciles
//! every [`INTERVAL`] (every [`BUSY_INTERVAL`] while a rollout, check, drain or backoff
//! is under way) and whenever [`Nudge::nudge`] is called; an error is logged and the
//! next run is the retry. A release command ([`release_phase`]) runs in a spawned task
//! that the reconciler starts and later runs see through memory and the store.

pub mod board;
pub mod desired;
pub mod docker;
pub mod gc;
pub mod health;
pub mod logs;
pub mod oneoff;
pub mod plan;
pub mod release_phase;

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use paas_core::routes::Backend;
use paas_core::{AppName, ErrorChain, Hostname};
use tokio::sync::{watch, Notify};

use crate::db::{self, Db};
use crate::route_feed::RouteFeed;
pub use docker::{Engine, RegistryPull};
use plan::{Action, ActualContainer, ContainerState, Health, ProcessKey, RemoveReason};

/// How often the scheduler reconciles when nobody nudges it and nothing is under way.
pub const INTERVAL: Duration = Duration::from_secs(5);
/// How often it reconciles while a rollout, a health check, a drain or a backoff is
/// under way.
pub const BUSY_INTERVAL: Duration = Duration::from_millis(250);
/// A reconcile that takes this long is logged: every rollout waits on it.
pub const SLOW_RUN: Duration = Duration::from_secs(30);
/// The longest a promotion waits for the routers to serve the table that routes to the
/// release; a router this slow is logged, and the release is promoted anyway.
pub const ROUTERS_APPLY_WAIT: Duration = Duration::from_secs(5);
/// The longest wait before an exited process is restarted.
pub const MAX_BACKOFF: Duration = Duration::from_secs(300);
/// A process that ran this long before it exited starts its backoff over.
pub const BACKOFF_RESET: Duration = Duration::from_secs(300);
/// The most log lines of a failing process a failed release reports.
pub const FAILURE_LOG_LINES: usize = 20;

/// Timing of rollouts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RolloutConfig {
    /// How long a replaced `web` process keeps running after it leaves the route table.
    pub drain: Duration,
    /// How long a stopping process has between SIGTERM and SIGKILL.
    pub stop_grace: Duration,
}

impl Default for RolloutConfig {
    fn default() -> Self {
        Self { drain: Duration::from_secs(30), stop_grace: Duration::from_secs(10) }
    }
}

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

/// How a release's rollout ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Every process became healthy: the release serves.
    Succeeded,
    /// A process never became healthy; the previous release kept serving.
    Failed {
        /// Why, as the release list shows it.
        reason: String,
        /// The last log lines of the failing process, rendered.
        logs: Vec<String>,
    },
}

/// The outcomes of the rollouts this controller saw, and the output of their release
/// commands, for pushes waiting on them.
#[derive(Debug)]
pub struct Outcomes {
    done: watch::Sender<BTreeMap<(String, i64), Outcome>>,
    phase: watch::Sender<BTreeMap<(String, i64), Vec<String>>>,
}

impl Default for Outcomes {
    fn default() -> Self {
        Self { done: watch::Sender::new(BTreeMap::new()), phase: watch::Sender::new(BTreeMap::new()) }
    }
}

/// The most outcomes (and release phase outputs) kept.
const OUTCOMES_KEPT: usize = 256;
/// The most lines of one release command's output kept for its push.
const PHASE_LINES_KEPT: usize = 5000;

impl Outcomes {
    /// Records how the rollout of `release` of `app` ended.
    pub fn record(&self, app: &str, release: i64, outcome: Outcome) {
        self.done.send_modify(|all| {
            all.insert((app.to_owned(), release), outcome);
            while all.len() > OUTCOMES_KEPT {
                all.pop_first();
            }
        });
    }

    /// Waits up to `limit` for the outcome of `release` of `app`.
    pub async fn wait(&self, app: &str, release: i64, limit: Duration) -> Option<Outcome> {
        let mut rx = self.done.subscribe();
        let key = (app.to_owned(), release);
        let found = tokio::time::timeout(limit, async {
            let outcome = rx.wait_for(|all| all.contains_key(&key)).await.ok()?;
            outcome.get(&key).cloned()
        })
        .await;
        found.ok().flatten()
    }

    /// Adds a line, as a push shows it, to the release command output of `release`.
    pub fn phase_line(&self, app: &str, release: i64, line: String) {
        self.phase.send_modify(|all| {
            let lines = all.entry((app.to_owned(), release)).or_default();
            if lines.len() < PHASE_LINES_KEPT {
                lines.push(line);
            }
            while all.len() > OUTCOMES_KEPT {
                all.pop_first();
            }
        });
    }

    /// The lines of the release command output of `release` after the first `seen`,
    /// as soon as there is one.
    pub async fn phase_lines(&self, app: &str, release: i64, seen: usize) -> Vec<String> {
        let mut rx = self.phase.subscribe();
        let key = (app.to_owned(), release);
        let lines = match rx.wait_for(|all| all.get(&key).is_some_and(|l| l.len() > seen)).await {
            Ok(all) => all.get(&key).and_then(|l| l.get(seen..)).map(<[String]>::to_vec),
            Err(_) => None,
        };
        match lines {
            Some(lines) => lines,
            // The sender lives as long as `self`.
            None => std::future::pending().await,
        }
    }

    /// The lines of the release command output of `release` after the first `seen`,
    /// now.
    pub fn phase_lines_now(&self, app: &str, release: i64, seen: usize) -> Vec<String> {
        let all = self.phase.borrow();
        all.get(&(app.to_owned(), release))
            .and_then(|l| l.get(seen..))
            .map(<[String]>::to_vec)
            .unwrap_or_default()
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
    /// Containers started (or restarted).
    pub started: usize,
    /// Containers removed or being stopped.
    pub removed: usize,
    /// Actions that failed (logged; retried on the next run).
    pub failed: usize,
    /// Whether something is under way that wants the next run soon.
    pub busy: bool,
}

/// A process's restarts and when it may start again.
#[derive(Debug, Clone, Copy, Default)]
struct Backoff {
    restarts: u32,
    not_before: i64,
}

/// What the scheduler remembers between runs; all of it is found again (by checking)
/// after a restart.
#[derive(Debug, Default)]
struct Memory {
    /// Health by container id.
    health: BTreeMap<String, Health>,
    /// The running checks, by container id.
    checks: BTreeMap<String, tokio::task::AbortHandle>,
    /// Since when containers drain, Unix ms.
    draining: BTreeMap<String, i64>,
    /// Containers being stopped.
    stopping: BTreeSet<String>,
    /// Per process.
    backoff: BTreeMap<ProcessKey, Backoff>,
    /// When containers last started, Unix ms.
    started: BTreeMap<String, i64>,
    /// The release phases under way here, by app and release.
    phases: BTreeSet<(String, i64)>,
}

/// Runs `check` of container `id` in a task: its health is [`Health::Checking`] until
/// the check ends, then what the check found, and the scheduler is nudged. Memory is
/// held while the task is spawned, so the task's verdict always comes after the
/// `Checking` it replaces: a check that passes at once (a task that ran before its
/// spawner got on) must not be overwritten, which would leave the process checking for
/// ever with no check left to end it.
fn spawn_check(
    memory: &Arc<Mutex<Memory>>,
    nudge: &Nudge,
    id: String,
    check: impl Future<Output = Health> + Send + 'static,
) {
    let mut held = memory.lock().unwrap_or_else(PoisonError::into_inner);
    held.health.insert(id.clone(), Health::Checking);
    let task = tokio::spawn({
        let (memory, nudge, id) = (memory.clone(), nudge.clone(), id.clone());
        async move {
            let health = check.await;
            let mut memory = memory.lock().unwrap_or_else(PoisonError::into_inner);
            memory.checks.remove(&id);
            memory.health.insert(id, health);
            drop(memory);
            nudge.nudge();
        }
    });
    held.checks.insert(id, task.abort_handle());
}

/// The wait before the restart after `restarts` restarts: 1 s, 2 s, 4 s, ... up to
/// [`MAX_BACKOFF`].
pub fn backoff_delay(restarts: u32) -> Duration {
    let seconds = 1u64.checked_shl(restarts.min(20)).unwrap_or(u64::MAX);
    Duration::from_secs(seconds).min(MAX_BACKOFF)
}

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// Runs processes for the platform.
pub struct Scheduler {
    db: Db,
    engine: Engine,
    routes: Arc<RouteFeed>,
    domain: Hostname,
    nudge: Nudge,
    board: Arc<board::Board>,
    outcomes: Arc<Outcomes>,
    config: RolloutConfig,
    memory: Arc<Mutex<Memory>>,
    first_run: AtomicBool,
}

/// What a scheduler is connected to.
pub struct Parts {
    /// The store.
    pub db: Db,
    /// The Docker engine.
    pub engine: Engine,
    /// The route table it feeds.
    pub routes: Arc<RouteFeed>,
    /// The platform domain.
    pub domain: Hostname,
    /// What wakes it.
    pub nudge: Nudge,
    /// Where `ps` reads what runs.
    pub board: Arc<board::Board>,
    /// Where pushes learn how rollouts ended.
    pub outcomes: Arc<Outcomes>,
    /// Timing.
    pub config: RolloutConfig,
}

impl Scheduler {
    /// A scheduler over the store, one Docker engine and the route table it feeds.
    pub fn new(parts: Parts) -> Self {
        let Parts { db, engine, routes, domain, nudge, board, outcomes, config } = parts;
        routes.await_backends();
        Self {
            db,
            engine,
            routes,
            domain,
            nudge,
            board,
            outcomes,
            config,
            memory: Arc::default(),
            first_run: AtomicBool::new(true),
        }
    }

    fn memory(&self) -> std::sync::MutexGuard<'_, Memory> {
        self.memory.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Takes the containers one step to the desired state and publishes the backends.
    pub async fn reconcile(&self) -> Result<Report, ReconcileError> {
        self.engine.ensure_network().await?;
        let desired = desired::load(&self.db).await?;
        let mut actual = self.engine.list().await?;
        let now = db::now_ms();
        self.annotate(&mut actual, &desired.checks).await;
        let (backoff, phases_running) = {
            let memory = self.memory();
            let backoff: BTreeMap<ProcessKey, i64> =
                memory.backoff.iter().map(|(k, b)| (k.clone(), b.not_before)).collect();
            (backoff, memory.phases.clone())
        };
        let planned = plan::plan(plan::Inputs {
            desired: &desired.processes,
            release_phases: &desired.release_phases,
            phases_running: &phases_running,
            targets: &desired.targets,
            actual: &actual,
            backoff: &backoff,
            now_ms: now,
            drain_ms: ms(self.config.drain),
        });
        let mut report = Report::default();
        // A release is up once the routers can reach it: its promotions wait until the
        // table that routes to its processes is published and the routers serve it,
        // below.
        let (promotions, actions): (Vec<&Action>, Vec<&Action>) =
            planned.actions.iter().partition(|a| matches!(a, Action::Promote { .. }));
        for action in actions {
            self.carry_out(action, &actual, &mut report).await;
        }
        let routed = {
            let routed: Vec<&ActualContainer> =
                actual.iter().filter(|c| planned.routed.contains(&c.id)).collect();
            backends(&routed)
        };
        {
            let memory = self.memory();
            for c in &mut actual {
                c.draining_since = memory.draining.get(&c.id).copied();
                c.stopping = memory.stopping.contains(&c.id);
            }
            let restarts: BTreeMap<ProcessKey, u32> =
                memory.backoff.iter().map(|(k, b)| (k.clone(), b.restarts)).collect();
            self.board.publish(
                &actual,
                board::Seen {
                    routed: &planned.routed,
                    restarts: &restarts,
                    started: &memory.started,
                    now_ms: now,
                },
            );
            report.busy = !planned.actions.is_empty()
                || desired.targets.iter().any(|t| t.pending)
                || !memory.draining.is_empty()
                || !memory.stopping.is_empty()
                || !memory.phases.is_empty()
                || memory.health.values().any(|h| *h == Health::Checking)
                || memory.backoff.values().any(|b| b.not_before > now);
        }
        self.routes.set_backends(&self.db, &self.domain, routed).await?;
        if !promotions.is_empty() {
            let version = self.routes.current().version;
            if let Err(behind) = self.routes.wait_applied(version, ROUTERS_APPLY_WAIT).await {
                tracing::warn!(%behind, "promoting without waiting longer for the routers");
            }
        }
        for action in promotions {
            self.carry_out(action, &actual, &mut report).await;
        }
        Ok(report)
    }

    /// Fills in what memory knows of each container, forgets what is gone, and starts
    /// health checks of live `web` containers not checked yet (on the first run, one
    /// attempt at once, so adopted containers keep serving).
    async fn annotate(
        &self,
        actual: &mut [ActualContainer],
        checks: &BTreeMap<(String, String), health::Check>,
    ) {
        let first = self.first_run.swap(false, Ordering::SeqCst);
        let ids: BTreeSet<String> = actual.iter().map(|c| c.id.clone()).collect();
        let mut unchecked = Vec::new();
        let mut unknown_start = Vec::new();
        {
            let mut memory = self.memory();
            let gone: Vec<String> = memory.health.keys().filter(|id| !ids.contains(*id)).cloned().collect();
            for id in gone {
                memory.health.remove(&id);
            }
            memory.checks.retain(|id, task| {
                let keep = ids.contains(id);
                if !keep {
                    task.abort();
                }
                keep
            });
            memory.draining.retain(|id, _| ids.contains(id));
            memory.started.retain(|id, _| ids.contains(id));
            for (i, c) in actual.iter_mut().enumerate() {
                c.draining_since = memory.draining.get(&c.id).copied();
                c.stopping = memory.stopping.contains(&c.id);
                let web = c.key.as_ref().is_some_and(ProcessKey::is_web);
                if c.state == ContainerState::Stopped {
                    // A restart is checked afresh.
                    memory.health.remove(&c.id);
                    if let Some(task) = memory.checks.remove(&c.id) {
                        task.abort();
                    }
                    continue;
                }
                if !memory.started.contains_key(&c.id) {
                    unknown_start.push(c.id.clone());
                }
                if !web {
                    c.health = Health::Healthy;
                    continue;
                }
                match memory.health.get(&c.id) {
                    Some(h) => c.health = h.clone(),
                    None if c.ip.is_some() && c.key.is_some() => unchecked.push(i),
                    None => {}
                }
            }
        }
        for id in unknown_start {
            if let Ok(Some(at)) = self.engine.started_at_ms(&id).await {
                self.memory().started.insert(id, at);
            }
        }
        let check_of = |c: &ActualContainer| {
            let key = c.key.as_ref()?;
            let check = checks
                .get(&(key.app.clone(), key.process_type.clone()))
                .cloned()
                .unwrap_or_else(health::Check::default_check);
            Some((SocketAddr::new(c.ip?, desired::PORT), check, key.process_name()))
        };
        if first {
            let probes = unchecked.iter().filter_map(|i| {
                let (addr, mut check, _) = check_of(&actual[*i])?;
                check.timeout = check.timeout.min(Duration::from_secs(2));
                Some(async move { (*i, health::probe(addr, &check).await.is_ok()) })
            });
            for (i, healthy) in futures_util::future::join_all(probes).await {
                if healthy {
                    actual[i].health = Health::Healthy;
                    self.memory().health.insert(actual[i].id.clone(), Health::Healthy);
                }
            }
        }
        for i in unchecked {
            let c = &actual[i];
            if c.health == Health::Healthy {
                continue;
            }
            let Some((addr, check, process)) = check_of(c) else { continue };
            spawn_check(&self.memory, &self.nudge, c.id.clone(), async move {
                match health::watch(addr, &check, &process).await {
                    Ok(()) => Health::Healthy,
                    Err(reason) => Health::Failed(reason),
                }
            });
        }
    }

    async fn carry_out(&self, action: &Action, actual: &[ActualContainer], report: &mut Report) {
        let now = db::now_ms();
        match action {
            Action::Start(process) => match self.engine.start(process).await {
                Ok(id) => {
                    report.started += 1;
                    self.memory().started.insert(id.clone(), db::now_ms());
                    tracing::info!(app = %process.key.app, release = process.key.release,
                        process = %process.key.process_name(), container = %short(&id), "started");
                }
                Err(e) => {
                    report.failed += 1;
                    tracing::warn!(app = %process.key.app, release = process.key.release,
                        process = %process.key.process_name(), error = %ErrorChain(&e), "cannot start");
                }
            },
            Action::Restart { id, key } => {
                {
                    let mut memory = self.memory();
                    let ran_long = memory.started.get(id).is_some_and(|at| now - at >= ms(BACKOFF_RESET));
                    let entry = memory.backoff.entry(key.clone()).or_default();
                    if ran_long {
                        entry.restarts = 0;
                    }
                    entry.restarts += 1;
                    entry.not_before = now + ms(backoff_delay(entry.restarts));
                    memory.started.insert(id.clone(), now);
                    memory.health.remove(id);
                }
                match self.engine.restart(id).await {
                    Ok(()) => {
                        report.started += 1;
                        tracing::info!(app = %key.app, release = key.release, process = %key.process_name(),
                            container = %short(id), "restarted after it exited");
                    }
                    Err(e) => {
                        report.failed += 1;
                        tracing::warn!(app = %key.app, process = %key.process_name(), error = %ErrorChain(&e),
                            "cannot restart");
                    }
                }
            }
            Action::Drain { id } => {
                self.memory().draining.insert(id.clone(), now);
                tracing::info!(container = %short(id), drain_secs = self.config.drain.as_secs(), "draining");
            }
            Action::Remove { id, key, reason } => {
                let app = key.as_ref().map_or("?", |k| k.app.as_str());
                if *reason == RemoveReason::Unhealthy {
                    if let Some(key) = key {
                        let mut memory = self.memory();
                        let entry = memory.backoff.entry(key.clone()).or_default();
                        entry.restarts += 1;
                        entry.not_before = now + ms(backoff_delay(entry.restarts));
                    }
                }
                let live = actual.iter().any(|c| c.id == *id && c.state == ContainerState::Live);
                report.removed += 1;
                tracing::info!(app, container = %short(id), ?reason, "removing");
                if !live {
                    if let Err(e) = self.engine.remove(id).await {
                        report.failed += 1;
                        tracing::warn!(container = %short(id), error = %ErrorChain(&e), "cannot remove");
                    }
                    return;
                }
                self.memory().stopping.insert(id.clone());
                let (engine, memory, nudge, grace, id) = (
                    self.engine.clone(),
                    self.memory.clone(),
                    self.nudge.clone(),
                    self.config.stop_grace,
                    id.clone(),
                );
                tokio::spawn(async move {
                    if let Err(e) = engine.stop_and_remove(&id, grace).await {
                        tracing::warn!(container = %short(&id), error = %ErrorChain(&e), "cannot stop");
                    }
                    memory.lock().unwrap_or_else(PoisonError::into_inner).stopping.remove(&id);
                    nudge.nudge();
                });
            }
            Action::RunReleasePhase(process) => self.start_release_phase(process, report).await,
            Action::Promote { app, release } => {
                match settle(&self.db, app, *release, db::releases::STATUS_SUCCEEDED, None).await {
                    Ok(()) => {
                        tracing::info!(app, release, "release promoted: every process is healthy");
                        self.outcomes.record(app, *release, Outcome::Succeeded);
                    }
                    Err(e) => {
                        report.failed += 1;
                        tracing::warn!(app, release, error = %ErrorChain(&e), "cannot record the promotion");
                    }
                }
            }
            Action::Fail { key, reason } => {
                let process = key.process_name();
                let logs = match logs::recent(&self.engine, &key.app, 500).await {
                    Ok(lines) => {
                        let mut lines: Vec<String> = lines
                            .into_iter()
                            .filter(|l| l.process == process)
                            .map(|l| l.render().trim_end().to_owned())
                            .collect();
                        lines.drain(..lines.len().saturating_sub(FAILURE_LOG_LINES));
                        lines
                    }
                    Err(e) => {
                        tracing::warn!(app = %key.app, error = %ErrorChain(&e), "cannot read the failing process's logs");
                        Vec::new()
                    }
                };
                match settle(&self.db, &key.app, key.release, db::releases::STATUS_FAILED, Some(reason)).await
                {
                    Ok(()) => {
                        tracing::warn!(app = %key.app, release = key.release, reason, "release failed; the previous one keeps serving");
                        self.outcomes.record(
                            &key.app,
                            key.release,
                            Outcome::Failed { reason: reason.clone(), logs },
                        );
                        self.nudge.nudge();
                    }
                    Err(e) => {
                        report.failed += 1;
                        tracing::warn!(app = %key.app, error = %ErrorChain(&e), "cannot record the failure");
                    }
                }
            }
        }
    }

    /// Marks the release phase of `process`'s release as running (here and in the
    /// store) and spawns it; its task writes how it ended and nudges.
    async fn start_release_phase(&self, process: &plan::DesiredProcess, report: &mut Report) {
        let (app, release) = (process.key.app.clone(), process.key.release);
        let still_pending = async {
            let mut tx = self.db.begin_write().await?;
            let pending =
                db::releases::release_phase_set(&mut tx, &app, release, db::releases::PHASE_RUNNING).await?;
            tx.commit().await?;
            Ok::<bool, sqlx::Error>(pending)
        };
        match still_pending.await {
            Ok(true) => {}
            Ok(false) => return,
            Err(e) => {
                report.failed += 1;
                tracing::warn!(app, release, error = %ErrorChain(&e), "cannot record the release phase");
                return;
            }
        }
        self.memory().phases.insert((app.clone(), release));
        report.started += 1;
        tracing::info!(app, release, "running the release command");
        let (engine, db, outcomes, memory, nudge, process) = (
            self.engine.clone(),
            self.db.clone(),
            self.outcomes.clone(),
            self.memory.clone(),
            self.nudge.clone(),
            process.clone(),
        );
        tokio::spawn(async move {
            let result = release_phase::run(&engine, &process, &outcomes, release_phase::TIME_LIMIT).await;
            let written = async {
                let mut tx = db.begin_write().await?;
                match &result {
                    release_phase::PhaseResult::Succeeded => {
                        db::releases::release_phase_set(
                            &mut tx,
                            &app,
                            release,
                            db::releases::PHASE_SUCCEEDED,
                        )
                        .await?;
                        tx.commit().await
                    }
                    release_phase::PhaseResult::Failed { reason, .. } => {
                        db::releases::release_phase_set(&mut tx, &app, release, db::releases::PHASE_FAILED)
                            .await?;
                        settle_in(&mut tx, &app, release, db::releases::STATUS_FAILED, Some(reason)).await?;
                        tx.commit().await
                    }
                }
            };
            match (written.await, result) {
                (Err(e), _) => {
                    tracing::warn!(app, release, error = %ErrorChain(&e), "cannot record the release phase's end; it runs again");
                }
                (Ok(()), release_phase::PhaseResult::Succeeded) => {
                    tracing::info!(app, release, "the release command succeeded; rolling out");
                }
                (Ok(()), release_phase::PhaseResult::Failed { reason, logs }) => {
                    tracing::warn!(
                        app,
                        release,
                        reason,
                        "the release command failed; the previous release keeps serving"
                    );
                    outcomes.record(&app, release, Outcome::Failed { reason, logs });
                }
            }
            memory.lock().unwrap_or_else(PoisonError::into_inner).phases.remove(&(app, release));
            nudge.nudge();
        });
    }

    /// Reconciles now, then every [`INTERVAL`] (or [`BUSY_INTERVAL`]) and after every
    /// nudge, until `shutdown` resolves. Containers keep running after it stops: the
    /// next start adopts them.
    pub async fn run(self, shutdown: impl Future<Output = ()>) {
        let mut shutdown = std::pin::pin!(shutdown);
        tracing::info!(platform = %self.engine.platform(), "the scheduler is running");
        loop {
            let mut busy = false;
            let began = tokio::time::Instant::now();
            tokio::select! {
                () = &mut shutdown => break,
                result = self.reconcile() => match result {
                    Ok(report) => busy = report.busy,
                    Err(e) => tracing::warn!(error = %ErrorChain(&e), "reconcile failed; retrying on the next run"),
                }
            }
            if began.elapsed() >= SLOW_RUN {
                tracing::warn!(
                    secs = began.elapsed().as_secs(),
                    "a reconcile took long; rollouts waited on it"
                );
            }
            let wait = if busy { BUSY_INTERVAL } else { INTERVAL };
            tokio::select! {
                () = &mut shutdown => break,
                () = self.nudge.nudged() => {}
                () = tokio::time::sleep(wait) => {}
            }
        }
        let memory = self.memory();
        for task in memory.checks.values() {
            task.abort();
        }
        drop(memory);
        tracing::info!("the scheduler stopped");
    }
}

/// Settles a pending release (`succeeded`, or `failed` with a reason) with its event.
async fn settle(
    db: &Db,
    app: &str,
    release: i64,
    status: &str,
    failure: Option<&str>,
) -> Result<(), sqlx::Error> {
    let mut tx = db.begin_write().await?;
    settle_in(&mut tx, app, release, status, failure).await?;
    tx.commit().await
}

/// [`settle`] within a transaction.
async fn settle_in(
    conn: &mut db::Conn,
    app: &str,
    release: i64,
    status: &str,
    failure: Option<&str>,
) -> Result<(), sqlx::Error> {
    if db::releases::release_settle(conn, app, release, status, failure).await? {
        let detail = match failure {
            Some(reason) => format!("v{release} failed: {reason}"),
            None => format!("v{release} is up"),
        };
        db::events::event_insert(conn, "scheduler", &format!("release.{status}"), Some(app), &detail).await?;
    }
    Ok(())
}

/// The routed containers as backends, per app.
fn backends(routed: &[&ActualContainer]) -> BTreeMap<AppName, Vec<Backend>> {
    let mut out: BTreeMap<AppName, Vec<Backend>> = BTreeMap::new();
    for container in routed {
        let (Some(key), Some(ip)) = (&container.key, container.ip) else { continue };
        let Ok(app) = AppName::parse(&key.app) else { continue };
        out.entry(app)
            .or_default()
            .push(Backend { addr: SocketAddr::new(ip, desired::PORT), process: key.process_name() });
    }
    for list in out.values_mut() {
        list.sort_by(|a, b| (&a.process, a.addr).cmp(&(&b.process, b.addr)));
    }
    out
}

fn short(id: &str) -> &str {
    id.get(..12).unwrap_or(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_check_that_passes_at_once_leaves_the_container_healthy() {
        // Spawned from outside the runtime's workers, a ready check runs on a worker
        // at once, racing its spawner: the verdict must win over `Checking` every time.
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_time()
            .build()
            .expect("a runtime");
        let memory: Arc<Mutex<Memory>> = Arc::default();
        let nudge = Nudge::default();
        let ids: Vec<String> = (0..2000).map(|n| format!("c{n}")).collect();
        {
            let _inside = runtime.enter();
            for id in &ids {
                spawn_check(&memory, &nudge, id.clone(), std::future::ready(Health::Healthy));
            }
        }
        runtime.block_on(async {
            for _ in 0..500 {
                if memory.lock().unwrap().checks.is_empty() {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        });
        let memory = memory.lock().unwrap();
        assert!(memory.checks.is_empty(), "every check ended and said so");
        let checking: Vec<&String> = ids.iter().filter(|id| memory.health[*id] != Health::Healthy).collect();
        assert!(
            checking.is_empty(),
            "{} containers stay checking: {:?}",
            checking.len(),
            &checking[..checking.len().min(5)]
        );
    }

    #[test]
    fn backoff_doubles_up_to_five_minutes() {
        let delays: Vec<u64> = [1, 2, 3, 8, 9, 30].map(|n| backoff_delay(n).as_secs()).to_vec();
        assert_eq!(delays, [2, 4, 8, 256, 300, 300]);
    }
}
