//! The pure half of the scheduler: from the processes that should run, the containers
//! that exist and what the scheduler remembers of them (health, draining, backoff), the
//! actions that close the gap and the containers the router may use.
//!
//! [`plan`] does no I/O and reads no clock (the time comes in [`Inputs::now_ms`]), so it
//! is tested on its own; `reconcile` feeds it what the store, the Docker engine and its
//! memory say and carries its actions out.
//!
//! A rollout, per app whose target release (the newest that has not failed) is
//! `pending`: missing processes start, at most [`batch`] of a type unhealthy at a time;
//! each healthy one enters the route table; the containers of older releases stay (and
//! keep serving) until every process of the target is healthy, which promotes it; then
//! they drain: out of the route table, running for the drain period, then stopped. A
//! target process that exits or fails its health check fails the release instead, and
//! nothing of the older releases is touched. Outside a rollout, an exited process is
//! restarted in place once its backoff allows, and unwanted containers drain (`web`) or
//! stop (other types).
//!
//! A pending target whose build has a release command (the Procfile's `release:`) first
//! runs it ([`Action::RunReleasePhase`]), once; until it has succeeded none of the
//! target's processes start and the older releases keep serving. A process replaced
//! within its release (a new generation, after `ps:restart` or a change of limits) keeps
//! running and serving until its replacement is healthy; then it drains like any other.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

/// Which process a container is: app, release, type and index (`web.1` of `v3`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ProcessKey {
    /// The app's name.
    pub app: String,
    /// The release's number.
    pub release: i64,
    /// The process type, e.g. `web`.
    pub process_type: String,
    /// 1 to the type's quantity.
    pub index: u32,
    /// Bumped by `ps:restart` and limit changes: a new generation replaces the
    /// processes of the type.
    pub generation: u32,
}

impl ProcessKey {
    /// The process name the app sees in `DYNO`, e.g. `web.1`.
    pub fn process_name(&self) -> String {
        format!("{}.{}", self.process_type, self.index)
    }

    /// Whether the router sends it requests once healthy.
    pub fn is_web(&self) -> bool {
        self.process_type == "web"
    }
}

/// A process that should run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DesiredProcess {
    /// Which process.
    pub key: ProcessKey,
    /// The build's image.
    pub image: String,
    /// The command, run by `/bin/sh -c`.
    pub command: String,
    /// The environment, `KEY=value`, ordered by key.
    pub env: Vec<String>,
    /// The memory limit in bytes (swap included: none), if any.
    pub memory_bytes: Option<i64>,
    /// The CPU limit in billionths of a CPU, if any.
    pub nano_cpus: Option<i64>,
}

/// The release an app should run, and whether it is still rolling out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The app's name.
    pub app: String,
    /// The release's number.
    pub release: i64,
    /// `true` while the release is `pending`: older releases' containers stay until it
    /// is promoted.
    pub pending: bool,
}

/// What a container is doing, as far as the scheduler cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContainerState {
    /// Created, running, paused or restarting.
    Live,
    /// Exited, dead or otherwise stopped.
    Stopped,
}

/// What the health checks said of a container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Health {
    /// Not yet known: being checked.
    Checking,
    /// Passed its check (a non-`web` process: running).
    Healthy,
    /// Used up its attempts; the reason says how.
    Failed(String),
}

/// A container of this platform that the Docker engine reports, with what the
/// scheduler remembers of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActualContainer {
    /// The engine's id.
    pub id: String,
    /// Its process, read from its labels; `None` when the labels are incomplete.
    pub key: Option<ProcessKey>,
    /// Whether it runs.
    pub state: ContainerState,
    /// Its address on the platform network, when it has one.
    pub ip: Option<IpAddr>,
    /// The engine's word on it, e.g. `Exited (1) 3 seconds ago`.
    pub status: String,
    /// Its health, from memory.
    pub health: Health,
    /// Since when it drains (Unix ms), from memory.
    pub draining_since: Option<i64>,
    /// Whether it is being stopped already.
    pub stopping: bool,
}

/// Everything [`plan`] looks at.
#[derive(Debug, Clone, Copy)]
pub struct Inputs<'a> {
    /// The processes of every app's target release.
    pub desired: &'a [DesiredProcess],
    /// The release commands of pending targets that have not run them yet (type
    /// `release`, index 1).
    pub release_phases: &'a [DesiredProcess],
    /// The release phases under way in this controller, by app and release.
    pub phases_running: &'a BTreeSet<(String, i64)>,
    /// Every app's target release.
    pub targets: &'a [Target],
    /// The platform's containers.
    pub actual: &'a [ActualContainer],
    /// Per process, the earliest time (Unix ms) it may be started or restarted again.
    pub backoff: &'a BTreeMap<ProcessKey, i64>,
    /// Now, Unix ms.
    pub now_ms: i64,
    /// How long a container drains before it is stopped, ms.
    pub drain_ms: i64,
}

/// One step towards the desired state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Creates and starts a container for the process.
    Start(DesiredProcess),
    /// Starts an exited container of a wanted process again.
    Restart {
        /// The engine's id.
        id: String,
        /// Its process.
        key: ProcessKey,
    },
    /// Takes a container out of the route table; it keeps running for the drain period.
    Drain {
        /// The engine's id.
        id: String,
    },
    /// Stops a container (SIGTERM, then SIGKILL after the grace period) and removes it.
    Remove {
        /// The engine's id.
        id: String,
        /// Its process, when its labels say.
        key: Option<ProcessKey>,
        /// Why: for logs, and [`RemoveReason::Unhealthy`] backs its process off.
        reason: RemoveReason,
    },
    /// Every process of a pending release is healthy: it becomes `succeeded`.
    Promote {
        /// The app's name.
        app: String,
        /// The release.
        release: i64,
    },
    /// Runs the release command of a pending release in a one-off container; its
    /// outcome lets the rollout go on or fails the release.
    RunReleasePhase(DesiredProcess),
    /// A process of a pending release exited or failed its check: it becomes `failed`.
    Fail {
        /// The process that failed.
        key: ProcessKey,
        /// What happened, for the release list and the push.
        reason: String,
    },
}

/// Why a container goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RemoveReason {
    /// It stopped and is not wanted any more.
    Stopped,
    /// A second container for one process.
    Duplicate,
    /// Its process is no longer wanted: scaled down, an older release, a destroyed app.
    NotDesired,
    /// It drained for the drain period.
    Drained,
    /// A process of a promoted release that failed its health check: it is started
    /// again after a backoff.
    Unhealthy,
}

/// What to do, and which containers the router may use.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    /// The actions, in order.
    pub actions: Vec<Action>,
    /// The ids of the containers that are route backends after the actions: live,
    /// healthy `web` containers with an address that do not drain.
    pub routed: BTreeSet<String>,
}

/// How many processes of a type of `quantity` may be starting (not yet healthy) at
/// once: a quarter, at least one.
pub fn batch(quantity: usize) -> usize {
    (quantity / 4).max(1)
}

/// How much a container is worth keeping, of two for one process.
fn rank(c: &ActualContainer) -> u8 {
    match (c.state, &c.health) {
        (ContainerState::Live, Health::Healthy) => 3,
        (ContainerState::Live, Health::Checking) => 2,
        (ContainerState::Live, Health::Failed(_)) => 1,
        (ContainerState::Stopped, _) => 0,
    }
}

fn routable(c: &ActualContainer) -> bool {
    c.key.as_ref().is_some_and(ProcessKey::is_web)
        && c.state == ContainerState::Live
        && c.health == Health::Healthy
        && c.ip.is_some()
        && c.draining_since.is_none()
        && !c.stopping
}

/// The actions that take `actual` towards `desired`, in the order to carry them out,
/// and the containers to route (see the module's documentation for the rules).
pub fn plan(inputs: Inputs<'_>) -> Plan {
    let Inputs { desired, release_phases, phases_running, targets, actual, backoff, now_ms, drain_ms } =
        inputs;
    let targets: BTreeMap<&str, &Target> = targets.iter().map(|t| (t.app.as_str(), t)).collect();
    let wanted: BTreeSet<&ProcessKey> = desired.iter().map(|d| &d.key).collect();
    let remove =
        |c: &ActualContainer, reason| Action::Remove { id: c.id.clone(), key: c.key.clone(), reason };

    let mut first = Vec::new();
    let mut settle = Vec::new();
    let mut starts = Vec::new();
    let mut last = Vec::new();
    let mut routed = BTreeSet::new();

    // Each wanted process's container; the others are unwanted or spare.
    let mut current: BTreeMap<&ProcessKey, &ActualContainer> = BTreeMap::new();
    let mut unwanted: Vec<&ActualContainer> = Vec::new();
    for c in actual.iter().filter(|c| !c.stopping) {
        match &c.key {
            Some(key) if wanted.contains(key) => match current.get(key) {
                Some(prev) if rank(c) > rank(prev) => {
                    last.push(remove(prev, RemoveReason::Duplicate));
                    current.insert(key, c);
                }
                Some(_) => last.push(remove(c, RemoveReason::Duplicate)),
                None => {
                    current.insert(key, c);
                }
            },
            _ => unwanted.push(c),
        }
    }

    // Release phases first: a pending target waits for its release command.
    let mut failed: BTreeSet<&str> = BTreeSet::new();
    let mut rolling: BTreeSet<&str> = BTreeSet::new();
    let mut held: BTreeSet<&str> = BTreeSet::new();
    for phase in release_phases {
        let key = &phase.key;
        let Some(target) = targets.get(key.app.as_str()) else { continue };
        if !target.pending || target.release != key.release {
            continue;
        }
        held.insert(&target.app);
        rolling.insert(&target.app);
        if !phases_running.contains(&(key.app.clone(), key.release)) {
            settle.push(Action::RunReleasePhase(phase.clone()));
        }
    }

    // Settle pending releases: the first failure fails it; all healthy promotes it.
    for target in targets.values().filter(|t| t.pending && !held.contains(t.app.as_str())) {
        let processes: Vec<&DesiredProcess> =
            desired.iter().filter(|d| d.key.app == target.app && d.key.release == target.release).collect();
        let failure = processes.iter().find_map(|d| {
            let c = current.get(&d.key)?;
            match (&c.state, &c.health) {
                (ContainerState::Stopped, _) => {
                    Some((d.key.clone(), format!("{} exited ({})", d.key.process_name(), c.status)))
                }
                (ContainerState::Live, Health::Failed(reason)) => Some((d.key.clone(), reason.clone())),
                _ => None,
            }
        });
        if let Some((key, reason)) = failure {
            failed.insert(&target.app);
            settle.push(Action::Fail { key, reason });
        } else if processes.iter().all(|d| {
            current
                .get(&d.key)
                .is_some_and(|c| c.state == ContainerState::Live && c.health == Health::Healthy)
        }) {
            settle.push(Action::Promote { app: target.app.clone(), release: target.release });
        } else {
            rolling.insert(&target.app);
        }
    }

    // Wanted processes: route the healthy, restart the exited, start the missing.
    let mut starting: BTreeMap<(&str, &str), usize> = BTreeMap::new();
    for d in desired {
        if let Some(c) = current.get(&d.key) {
            if c.state == ContainerState::Live && c.health == Health::Checking {
                *starting.entry((&d.key.app, &d.key.process_type)).or_default() += 1;
            }
        }
    }
    let mut quantity: BTreeMap<(&str, &str), usize> = BTreeMap::new();
    for d in desired {
        *quantity.entry((&d.key.app, &d.key.process_type)).or_default() += 1;
    }
    let backed_off = |key: &ProcessKey| backoff.get(key).is_some_and(|at| *at > now_ms);
    for d in desired {
        if failed.contains(d.key.app.as_str()) || held.contains(d.key.app.as_str()) {
            continue;
        }
        match current.get(&d.key) {
            Some(c) if c.draining_since.is_some_and(|since| now_ms - since >= drain_ms) => {
                last.push(remove(c, RemoveReason::Drained));
            }
            Some(c) if c.draining_since.is_some() => {}
            Some(c) => match (&c.state, &c.health) {
                (ContainerState::Live, Health::Failed(_)) => last.push(remove(c, RemoveReason::Unhealthy)),
                (ContainerState::Live, _) => {
                    if routable(c) {
                        routed.insert(c.id.clone());
                    }
                }
                (ContainerState::Stopped, _) if !backed_off(&d.key) => {
                    starts.push(Action::Restart { id: c.id.clone(), key: d.key.clone() });
                }
                (ContainerState::Stopped, _) => {}
            },
            None if backed_off(&d.key) => {}
            None => {
                let group = (d.key.app.as_str(), d.key.process_type.as_str());
                let n = starting.entry(group).or_default();
                if *n < batch(quantity.get(&group).copied().unwrap_or(1)) {
                    *n += 1;
                    starts.push(Action::Start(d.clone()));
                }
            }
        }
    }

    // Unwanted containers: kept while their app's target rolls out or has just failed;
    // else drained (healthy `web`) or stopped.
    for c in unwanted {
        let (Some(key), Some(target)) = (&c.key, c.key.as_ref().and_then(|k| targets.get(k.app.as_str())))
        else {
            let reason = if c.state == ContainerState::Stopped {
                RemoveReason::Stopped
            } else {
                RemoveReason::NotDesired
            };
            last.push(remove(c, reason));
            continue;
        };
        if c.state == ContainerState::Stopped {
            first.push(remove(c, RemoveReason::Stopped));
            continue;
        }
        let app = key.app.as_str();
        let older = key.release != target.release;
        if older && (failed.contains(app) || rolling.contains(app)) {
            if routable(c) {
                routed.insert(c.id.clone());
            }
            continue;
        }
        // A process of the target replaced by a new generation serves until its
        // replacement is healthy.
        let replacement_unready = !older
            && !failed.contains(app)
            && c.draining_since.is_none()
            && desired.iter().any(|d| {
                d.key.app == key.app
                    && d.key.release == key.release
                    && d.key.process_type == key.process_type
                    && d.key.index == key.index
                    && !current
                        .get(&d.key)
                        .is_some_and(|n| n.state == ContainerState::Live && n.health == Health::Healthy)
            });
        if replacement_unready {
            if routable(c) {
                routed.insert(c.id.clone());
            }
            continue;
        }
        match c.draining_since {
            Some(since) if now_ms - since >= drain_ms => last.push(remove(c, RemoveReason::Drained)),
            Some(_) => {}
            None if routable(c) => last.push(Action::Drain { id: c.id.clone() }),
            None => last.push(remove(c, RemoveReason::NotDesired)),
        }
    }

    Plan { actions: first.into_iter().chain(settle).chain(starts).chain(last).collect(), routed }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(app: &str, release: i64, process_type: &str, index: u32) -> ProcessKey {
        ProcessKey { app: app.into(), release, process_type: process_type.into(), index, generation: 0 }
    }

    fn want(app: &str, release: i64, process_type: &str, index: u32) -> DesiredProcess {
        DesiredProcess {
            key: key(app, release, process_type, index),
            image: "img".into(),
            command: "run".into(),
            env: Vec::new(),
            memory_bytes: None,
            nano_cpus: None,
        }
    }

    fn target(app: &str, release: i64, pending: bool) -> Target {
        Target { app: app.into(), release, pending }
    }

    fn have(id: &str, key: Option<ProcessKey>, state: ContainerState, health: Health) -> ActualContainer {
        ActualContainer {
            id: id.into(),
            key,
            state,
            ip: Some(IpAddr::from([10, 0, 0, 2])),
            status: if state == ContainerState::Live { "Up 1 second".into() } else { "Exited (1)".into() },
            health,
            draining_since: None,
            stopping: false,
        }
    }

    fn up(id: &str, key: ProcessKey) -> ActualContainer {
        have(id, Some(key), ContainerState::Live, Health::Healthy)
    }

    fn checking(id: &str, key: ProcessKey) -> ActualContainer {
        have(id, Some(key), ContainerState::Live, Health::Checking)
    }

    fn draining(mut c: ActualContainer, since: i64) -> ActualContainer {
        c.draining_since = Some(since);
        c
    }

    const NOW: i64 = 100_000;
    const DRAIN: i64 = 30_000;

    fn run(
        desired: &[DesiredProcess],
        targets: &[Target],
        actual: &[ActualContainer],
        backoff: &BTreeMap<ProcessKey, i64>,
    ) -> Plan {
        let running = BTreeSet::new();
        plan(Inputs {
            desired,
            release_phases: &[],
            phases_running: &running,
            targets,
            actual,
            backoff,
            now_ms: NOW,
            drain_ms: DRAIN,
        })
    }

    /// The plan in a compact form: `start a v1 web.1`, `remove c1 (reason)`, and the
    /// routed containers last.
    fn show(plan: &Plan) -> Vec<String> {
        let mut out: Vec<String> = plan
            .actions
            .iter()
            .map(|a| match a {
                Action::Start(d) => {
                    format!("start {} v{} {}", d.key.app, d.key.release, d.key.process_name())
                }
                Action::Restart { id, .. } => format!("restart {id}"),
                Action::Drain { id } => format!("drain {id}"),
                Action::Remove { id, reason, .. } => format!("remove {id} ({reason:?})"),
                Action::Promote { app, release } => format!("promote {app} v{release}"),
                Action::RunReleasePhase(d) => format!("release phase {} v{}", d.key.app, d.key.release),
                Action::Fail { key, reason } => format!("fail {} v{}: {reason}", key.app, key.release),
            })
            .collect();
        out.push(format!("routed {:?}", plan.routed));
        out
    }

    fn none() -> BTreeMap<ProcessKey, i64> {
        BTreeMap::new()
    }

    #[test]
    fn a_first_release_starts_in_batches_and_is_promoted_when_healthy() {
        let desired: Vec<DesiredProcess> = (1..=8).map(|i| want("a", 1, "web", i)).collect();
        let targets = [target("a", 1, true)];
        assert_eq!(
            show(&run(&desired, &targets, &[], &none())),
            ["start a v1 web.1", "start a v1 web.2", "routed {}"]
        );
        let actual = [up("c1", key("a", 1, "web", 1)), checking("c2", key("a", 1, "web", 2))];
        assert_eq!(
            show(&run(&desired, &targets, &actual, &none())),
            ["start a v1 web.3", r#"routed {"c1"}"#]
        );
        let desired = [want("a", 1, "web", 1)];
        let actual = [up("c1", key("a", 1, "web", 1))];
        assert_eq!(show(&run(&desired, &targets, &actual, &none())), ["promote a v1", r#"routed {"c1"}"#]);
    }

    #[test]
    fn converged_is_a_fixed_point() {
        let desired = [want("a", 1, "web", 1), want("a", 1, "worker", 1)];
        let actual = [up("c1", key("a", 1, "web", 1)), up("w1", key("a", 1, "worker", 1))];
        assert_eq!(show(&run(&desired, &[target("a", 1, false)], &actual, &none())), [r#"routed {"c1"}"#]);
    }

    #[test]
    fn the_old_release_serves_until_the_new_one_is_healthy_then_drains() {
        let desired = [want("a", 2, "web", 1)];
        let old = up("old", key("a", 1, "web", 1));
        let pending = [target("a", 2, true)];
        assert_eq!(
            show(&run(&desired, &pending, std::slice::from_ref(&old), &none())),
            ["start a v2 web.1", r#"routed {"old"}"#]
        );
        let actual = [old.clone(), checking("new", key("a", 2, "web", 1))];
        assert_eq!(show(&run(&desired, &pending, &actual, &none())), [r#"routed {"old"}"#]);
        let actual = [old.clone(), up("new", key("a", 2, "web", 1))];
        assert_eq!(
            show(&run(&desired, &pending, &actual, &none())),
            ["promote a v2", "drain old", r#"routed {"new"}"#]
        );
        let done = [target("a", 2, false)];
        let actual = [draining(old.clone(), NOW - 1), up("new", key("a", 2, "web", 1))];
        assert_eq!(show(&run(&desired, &done, &actual, &none())), [r#"routed {"new"}"#]);
        let actual = [draining(old, NOW - DRAIN), up("new", key("a", 2, "web", 1))];
        assert_eq!(
            show(&run(&desired, &done, &actual, &none())),
            ["remove old (Drained)", r#"routed {"new"}"#]
        );
    }

    #[test]
    fn a_new_process_that_fails_fails_the_release_and_touches_nothing_else() {
        let desired = [want("a", 2, "web", 1), want("a", 2, "web", 2)];
        let pending = [target("a", 2, true)];
        let actual = [
            up("old", key("a", 1, "web", 1)),
            have(
                "new1",
                Some(key("a", 2, "web", 1)),
                ContainerState::Live,
                Health::Failed("no answer".into()),
            ),
        ];
        assert_eq!(
            show(&run(&desired, &pending, &actual, &none())),
            ["fail a v2: no answer", r#"routed {"old"}"#]
        );
        let actual = [
            up("old", key("a", 1, "web", 1)),
            have("new1", Some(key("a", 2, "web", 1)), ContainerState::Stopped, Health::Checking),
        ];
        assert_eq!(
            show(&run(&desired, &pending, &actual, &none())),
            ["fail a v2: web.1 exited (Exited (1))", r#"routed {"old"}"#]
        );
        // The next run targets v1 again: the failed release's containers go at once.
        let desired = [want("a", 1, "web", 1)];
        let actual = [up("old", key("a", 1, "web", 1)), checking("new2", key("a", 2, "web", 2))];
        assert_eq!(
            show(&run(&desired, &[target("a", 1, false)], &actual, &none())),
            ["remove new2 (NotDesired)", r#"routed {"old"}"#]
        );
    }

    #[test]
    fn scaling_down_drains_the_extra_web_processes_and_stops_workers() {
        let desired = [want("a", 1, "web", 1)];
        let actual = [
            up("c1", key("a", 1, "web", 1)),
            up("c2", key("a", 1, "web", 2)),
            up("w1", key("a", 1, "worker", 1)),
        ];
        assert_eq!(
            show(&run(&desired, &[target("a", 1, false)], &actual, &none())),
            ["drain c2", "remove w1 (NotDesired)", r#"routed {"c1"}"#]
        );
    }

    #[test]
    fn an_exited_process_is_restarted_in_place_after_its_backoff() {
        let desired = [want("a", 1, "web", 1)];
        let targets = [target("a", 1, false)];
        let actual = [have("c1", Some(key("a", 1, "web", 1)), ContainerState::Stopped, Health::Checking)];
        let waiting = BTreeMap::from([(key("a", 1, "web", 1), NOW + 1)]);
        assert_eq!(show(&run(&desired, &targets, &actual, &waiting)), ["routed {}"]);
        let due = BTreeMap::from([(key("a", 1, "web", 1), NOW)]);
        assert_eq!(show(&run(&desired, &targets, &actual, &due)), ["restart c1", "routed {}"]);
        // A promoted release's process that fails its check is replaced, after a backoff.
        let actual =
            [have("c1", Some(key("a", 1, "web", 1)), ContainerState::Live, Health::Failed("x".into()))];
        assert_eq!(show(&run(&desired, &targets, &actual, &none())), ["remove c1 (Unhealthy)", "routed {}"]);
    }

    #[test]
    fn duplicates_strangers_and_destroyed_apps_go() {
        let desired = [want("a", 1, "web", 1)];
        let actual = [
            checking("twin", key("a", 1, "web", 1)),
            up("c1", key("a", 1, "web", 1)),
            have("unlabelled", None, ContainerState::Live, Health::Checking),
            up("gone-app", key("b", 4, "web", 1)),
            have("dead-old", Some(key("a", 0, "web", 1)), ContainerState::Stopped, Health::Checking),
        ];
        assert_eq!(
            show(&run(&desired, &[target("a", 1, false)], &actual, &none())),
            [
                "remove dead-old (Stopped)",
                "remove twin (Duplicate)",
                "remove unlabelled (NotDesired)",
                "remove gone-app (NotDesired)",
                r#"routed {"c1"}"#,
            ]
        );
    }

    #[test]
    fn containers_being_stopped_are_neither_routed_nor_counted() {
        let desired = [want("a", 1, "web", 1)];
        let mut stopping = up("c1", key("a", 1, "web", 1));
        stopping.stopping = true;
        assert_eq!(
            show(&run(&desired, &[target("a", 1, false)], &[stopping], &none())),
            ["start a v1 web.1", "routed {}"]
        );
    }

    #[test]
    fn batches_are_a_quarter_at_least_one() {
        assert_eq!([1, 3, 4, 8, 10].map(batch), [1, 1, 1, 2, 2]);
    }

    fn gen(mut k: ProcessKey, generation: u32) -> ProcessKey {
        k.generation = generation;
        k
    }

    #[test]
    fn a_release_command_runs_once_before_any_process_of_the_release_starts() {
        let desired = [want("a", 2, "web", 1)];
        let phase = [want("a", 2, "release", 1)];
        let pending = [target("a", 2, true)];
        let actual = [up("old", key("a", 1, "web", 1))];
        let mut running = BTreeSet::new();
        let inputs = |running: &BTreeSet<(String, i64)>| -> Plan {
            plan(Inputs {
                desired: &desired,
                release_phases: &phase,
                phases_running: running,
                targets: &pending,
                actual: &actual,
                backoff: &BTreeMap::new(),
                now_ms: NOW,
                drain_ms: DRAIN,
            })
        };
        assert_eq!(show(&inputs(&running)), ["release phase a v2", r#"routed {"old"}"#]);
        running.insert(("a".to_owned(), 2));
        assert_eq!(show(&inputs(&running)), [r#"routed {"old"}"#]);
        // Once it has run, the desired state no longer lists it: the rollout goes on.
        assert_eq!(
            show(&run(&desired, &pending, &actual, &none())),
            ["start a v2 web.1", r#"routed {"old"}"#]
        );
    }

    #[test]
    fn a_new_generation_replaces_each_process_once_its_replacement_is_healthy() {
        let desired = [want("a", 1, "web", 1), want("a", 1, "web", 2)].map(|mut d| {
            d.key.generation = 1;
            d
        });
        let done = [target("a", 1, false)];
        let old = [up("o1", key("a", 1, "web", 1)), up("o2", key("a", 1, "web", 2))];
        assert_eq!(
            show(&run(&desired, &done, &old, &none())),
            ["start a v1 web.1", r#"routed {"o1", "o2"}"#]
        );
        let actual = [old[0].clone(), old[1].clone(), checking("n1", gen(key("a", 1, "web", 1), 1))];
        assert_eq!(show(&run(&desired, &done, &actual, &none())), [r#"routed {"o1", "o2"}"#]);
        let actual = [old[0].clone(), old[1].clone(), up("n1", gen(key("a", 1, "web", 1), 1))];
        assert_eq!(
            show(&run(&desired, &done, &actual, &none())),
            ["start a v1 web.2", "drain o1", r#"routed {"n1", "o2"}"#]
        );
        let actual = [
            draining(old[0].clone(), NOW - DRAIN),
            old[1].clone(),
            up("n1", gen(key("a", 1, "web", 1), 1)),
            up("n2", gen(key("a", 1, "web", 2), 1)),
        ];
        assert_eq!(
            show(&run(&desired, &done, &actual, &none())),
            ["remove o1 (Drained)", "drain o2", r#"routed {"n1", "n2"}"#]
        );
    }
}
