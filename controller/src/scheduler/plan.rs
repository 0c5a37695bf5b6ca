//! The pure half of the scheduler: from the processes that should run and the
//! containers that exist, the actions that close the gap.
//!
//! [`plan`] does no I/O, so it is tested on its own; `reconcile` feeds it what the store
//! and the Docker engine say and carries its actions out.

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
}

impl ProcessKey {
    /// The process name the app sees in `DYNO`, e.g. `web.1`.
    pub fn process_name(&self) -> String {
        format!("{}.{}", self.process_type, self.index)
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
}

/// What a container is doing, as far as the scheduler cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContainerState {
    /// Created, running or being restarted by its restart policy: left alone.
    Live,
    /// Exited, dead or otherwise stopped for good: replaced.
    Stopped,
}

/// A container of this platform that the Docker engine reports.
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
}

/// One step towards the desired state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Creates and starts a container for the process.
    Start(DesiredProcess),
    /// Removes a container (stopping it first).
    Remove {
        /// The engine's id.
        id: String,
        /// The app it belongs to, when its labels say.
        app: Option<String>,
        /// Why: for logs.
        reason: RemoveReason,
    },
}

/// Why a container goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RemoveReason {
    /// It stopped; a new one takes its place.
    Stopped,
    /// A second container for one process.
    Duplicate,
    /// Its process is no longer wanted: scaled down, an older release, a destroyed app.
    NotDesired,
}

/// The actions that take `actual` to `desired`, in the order to carry them out:
/// stopped containers of wanted processes go first (their names are needed again),
/// then every missing process starts, and only then do unwanted containers go, so that
/// a new release's processes start before the old ones stop.
pub fn plan(desired: &[DesiredProcess], actual: &[ActualContainer]) -> Vec<Action> {
    let wanted: BTreeSet<&ProcessKey> = desired.iter().map(|d| &d.key).collect();
    let mut first = Vec::new();
    let mut last = Vec::new();
    let mut live: BTreeMap<&ProcessKey, &str> = BTreeMap::new();
    for container in actual {
        let remove = |reason| Action::Remove {
            id: container.id.clone(),
            app: container.key.as_ref().map(|k| k.app.clone()),
            reason,
        };
        match &container.key {
            Some(key) if wanted.contains(key) => match container.state {
                ContainerState::Stopped => first.push(remove(RemoveReason::Stopped)),
                ContainerState::Live if live.contains_key(key) => last.push(remove(RemoveReason::Duplicate)),
                ContainerState::Live => {
                    live.insert(key, &container.id);
                }
            },
            _ => last.push(remove(RemoveReason::NotDesired)),
        }
    }
    let starts = desired.iter().filter(|d| !live.contains_key(&d.key)).cloned().map(Action::Start);
    first.into_iter().chain(starts).chain(last).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(app: &str, release: i64, process_type: &str, index: u32) -> ProcessKey {
        ProcessKey { app: app.into(), release, process_type: process_type.into(), index }
    }

    fn want(app: &str, release: i64, process_type: &str, index: u32) -> DesiredProcess {
        DesiredProcess {
            key: key(app, release, process_type, index),
            image: "img".into(),
            command: "run".into(),
            env: Vec::new(),
        }
    }

    fn have(id: &str, key: Option<ProcessKey>, state: ContainerState) -> ActualContainer {
        ActualContainer { id: id.into(), key, state, ip: None }
    }

    /// The plan in a compact form: `start app v1 web.1`, `remove c1 (reason)`.
    fn show(actions: &[Action]) -> Vec<String> {
        actions
            .iter()
            .map(|a| match a {
                Action::Start(d) => {
                    format!("start {} v{} {}", d.key.app, d.key.release, d.key.process_name())
                }
                Action::Remove { id, reason, .. } => format!("remove {id} ({reason:?})"),
            })
            .collect()
    }

    #[test]
    fn nothing_running_starts_everything() {
        let desired = [want("a", 1, "web", 1), want("a", 1, "web", 2), want("a", 1, "worker", 1)];
        assert_eq!(
            show(&plan(&desired, &[])),
            ["start a v1 web.1", "start a v1 web.2", "start a v1 worker.1"]
        );
    }

    #[test]
    fn converged_is_a_fixed_point() {
        let desired = [want("a", 1, "web", 1)];
        let actual = [have("c1", Some(key("a", 1, "web", 1)), ContainerState::Live)];
        assert!(plan(&desired, &actual).is_empty());
    }

    #[test]
    fn a_new_release_starts_new_processes_before_removing_old_ones() {
        let desired = [want("a", 2, "web", 1)];
        let actual = [have("old", Some(key("a", 1, "web", 1)), ContainerState::Live)];
        assert_eq!(show(&plan(&desired, &actual)), ["start a v2 web.1", "remove old (NotDesired)"]);
    }

    #[test]
    fn scaling_down_removes_the_extra_processes() {
        let desired = [want("a", 1, "web", 1)];
        let actual = [
            have("c1", Some(key("a", 1, "web", 1)), ContainerState::Live),
            have("c2", Some(key("a", 1, "web", 2)), ContainerState::Live),
        ];
        assert_eq!(show(&plan(&desired, &actual)), ["remove c2 (NotDesired)"]);
    }

    #[test]
    fn stopped_containers_are_replaced_and_strangers_removed() {
        let desired = [want("a", 1, "web", 1), want("a", 1, "web", 2)];
        let actual = [
            have("dead", Some(key("a", 1, "web", 1)), ContainerState::Stopped),
            have("c2", Some(key("a", 1, "web", 2)), ContainerState::Live),
            have("twin", Some(key("a", 1, "web", 2)), ContainerState::Live),
            have("unlabelled", None, ContainerState::Live),
            have("gone-app", Some(key("b", 4, "web", 1)), ContainerState::Live),
        ];
        assert_eq!(
            show(&plan(&desired, &actual)),
            [
                "remove dead (Stopped)",
                "start a v1 web.1",
                "remove twin (Duplicate)",
                "remove unlabelled (NotDesired)",
                "remove gone-app (NotDesired)",
            ]
        );
    }

    #[test]
    fn nothing_desired_removes_everything() {
        let actual = [have("c1", Some(key("a", 1, "web", 1)), ContainerState::Live)];
        assert_eq!(show(&plan(&[], &actual)), ["remove c1 (NotDesired)"]);
    }
}
