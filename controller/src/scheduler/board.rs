//! What runs, as the scheduler saw it at its last reconcile: `ps` reads it from here
//! instead of asking the Docker engine on every request.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::sync::RwLock;

use paas_core::api::Process;

use super::desired::PORT;
use super::plan::{ActualContainer, ContainerState, Health, ProcessKey};

/// What the scheduler knows of its processes beyond the engine's list.
#[derive(Debug, Clone, Copy)]
pub struct Seen<'a> {
    /// The containers the router may use.
    pub routed: &'a BTreeSet<String>,
    /// Restarts per process.
    pub restarts: &'a BTreeMap<ProcessKey, u32>,
    /// When each container last started, Unix ms.
    pub started: &'a BTreeMap<String, i64>,
    /// Now, Unix ms.
    pub now_ms: i64,
}

/// A process's state as `ps` shows it.
fn state_of(container: &ActualContainer, routed: &BTreeSet<String>) -> &'static str {
    match (container.state, &container.health) {
        (ContainerState::Stopped, _) => "crashed",
        _ if container.draining_since.is_some() || container.stopping => "draining",
        (ContainerState::Live, Health::Healthy) => {
            let web = container.key.as_ref().is_some_and(ProcessKey::is_web);
            if !web || routed.contains(&container.id) {
                "up"
            } else {
                "starting"
            }
        }
        (ContainerState::Live, Health::Checking) => "starting",
        (ContainerState::Live, Health::Failed(_)) => "unhealthy",
    }
}

/// The processes of every app, by app name.
#[derive(Debug, Default)]
pub struct Board(RwLock<BTreeMap<String, Vec<Process>>>);

impl Board {
    /// Replaces what the board shows with the containers the engine reported.
    pub fn publish(&self, actual: &[ActualContainer], seen: Seen<'_>) {
        let mut apps: BTreeMap<String, Vec<Process>> = BTreeMap::new();
        for container in actual {
            let Some(key) = &container.key else { continue };
            apps.entry(key.app.clone()).or_default().push(Process {
                name: key.process_name(),
                process_type: key.process_type.clone(),
                release: u32::try_from(key.release).unwrap_or_default(),
                state: state_of(container, seen.routed).to_owned(),
                address: container.ip.map(|ip| SocketAddr::new(ip, PORT).to_string()),
                restarts: seen.restarts.get(key).copied().unwrap_or_default(),
                uptime_secs: (container.state == ContainerState::Live)
                    .then(|| seen.started.get(&container.id))
                    .flatten()
                    .and_then(|at| u64::try_from((seen.now_ms - at) / 1000).ok()),
            });
        }
        for processes in apps.values_mut() {
            processes.sort_by(|a, b| {
                (&a.process_type, a.name.len(), &a.name, a.release).cmp(&(
                    &b.process_type,
                    b.name.len(),
                    &b.name,
                    b.release,
                ))
            });
        }
        if let Ok(mut board) = self.0.write() {
            *board = apps;
        }
    }

    /// The processes of one app.
    pub fn of_app(&self, app: &str) -> Vec<Process> {
        self.0.read().map(|board| board.get(app).cloned().unwrap_or_default()).unwrap_or_default()
    }
}
