//! What runs, as the scheduler saw it at its last reconcile: `ps` reads it from here
//! instead of asking the Docker engine on every request.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::RwLock;

use paas_core::api::Process;

use super::desired::PORT;
use super::plan::{ActualContainer, ContainerState};

/// The processes of every app, by app name.
#[derive(Debug, Default)]
pub struct Board(RwLock<BTreeMap<String, Vec<Process>>>);

impl Board {
    /// Replaces what the board shows with the containers the engine reported.
    pub fn publish(&self, actual: &[ActualContainer]) {
        let mut apps: BTreeMap<String, Vec<Process>> = BTreeMap::new();
        for container in actual {
            let Some(key) = &container.key else { continue };
            apps.entry(key.app.clone()).or_default().push(Process {
                name: key.process_name(),
                process_type: key.process_type.clone(),
                release: u32::try_from(key.release).unwrap_or_default(),
                state: match container.state {
                    ContainerState::Live => "up",
                    ContainerState::Stopped => "down",
                }
                .to_owned(),
                address: container.ip.map(|ip| SocketAddr::new(ip, PORT).to_string()),
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
