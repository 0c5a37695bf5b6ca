//! The Docker side of the scheduler, through bollard: list this platform's containers,
//! create and start one for a process, remove one, and make the platform network.
//!
//! Containers are named `paas-<platform>-<app>-v<release>-<type>.<index>` (then
//! `-g<generation>` from the first restart on) and labelled with [`LABEL_PLATFORM`],
//! [`LABEL_APP`], [`LABEL_RELEASE`], [`LABEL_TYPE`], [`LABEL_INDEX`] and
//! [`LABEL_GENERATION`] (absent: 0); the labels, not the names, say which process a
//! container is. A container gets the image, the command, the environment, the platform
//! network, its type's memory limit (swap equal: none) and CPU limit, and the restart
//! policy `no` (the scheduler restarts exited processes itself, with backoff, so that
//! each restart is health-checked again), and nothing else: no mounts, no privileges,
//! never the Docker socket.

use std::collections::HashMap;
use std::net::IpAddr;

use bollard::auth::DockerCredentials;
use bollard::errors::Error;
use bollard::models::{
    ContainerCreateBody, ContainerSummaryStateEnum, HostConfig, NetworkCreateRequest, RestartPolicy,
    RestartPolicyNameEnum,
};
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, CreateImageOptionsBuilder, ListContainersOptionsBuilder,
    RemoveContainerOptionsBuilder, StopContainerOptionsBuilder,
};
use bollard::Docker;
use futures_util::StreamExt;

use super::plan::{ActualContainer, ContainerState, DesiredProcess, Health, ProcessKey};

/// How long a pull may go without a progress message from the engine (which sends
/// one for every layer step, many a second while bytes flow). The engine itself waits
/// for ever on a registry that accepts a request and never answers it.
pub const PULL_STALL: std::time::Duration = std::time::Duration::from_secs(60);

/// The platform a container belongs to.
pub const LABEL_PLATFORM: &str = "paas.platform";
/// The app's name.
pub const LABEL_APP: &str = "paas.app";
/// The release's number.
pub const LABEL_RELEASE: &str = "paas.release";
/// The process type.
pub const LABEL_TYPE: &str = "paas.type";
/// The process index, from 1.
pub const LABEL_INDEX: &str = "paas.index";
/// The process's generation (bumped by `ps:restart` and limit changes); absent is 0.
pub const LABEL_GENERATION: &str = "paas.generation";

/// A Docker engine, on the platform network of one platform.
#[derive(Debug, Clone)]
pub struct Engine {
    docker: Docker,
    platform: String,
    network: String,
    registry: Option<RegistryPull>,
    /// How long a pull may make no progress ([`PULL_STALL`] unless changed).
    pull_stall: std::time::Duration,
    /// Held while the network is looked for and made: the engine lets two networks
    /// have one name, after which neither can be used by name, so two callers of this
    /// process must not both create it.
    network_lock: std::sync::Arc<tokio::sync::Mutex<()>>,
}

/// How the engine pulls the platform's images: from the node's registry gateway, as
/// the registry user that may pull (`node`). Images of other hosts are pulled without
/// credentials.
#[derive(Clone)]
pub struct RegistryPull {
    /// The gateway's `host:port`, as image references name it.
    pub host: String,
    /// The registry user.
    pub username: String,
    /// Its secret; never shown by `Debug`.
    pub password: String,
}

impl std::fmt::Debug for RegistryPull {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegistryPull")
            .field("host", &self.host)
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

impl RegistryPull {
    /// The credentials for `image`, when it lives in this registry.
    fn credentials_for(&self, image: &str) -> Option<DockerCredentials> {
        let rest = image.strip_prefix(self.host.as_str())?.strip_prefix('/')?;
        (!rest.is_empty()).then(|| DockerCredentials {
            username: Some(self.username.clone()),
            password: Some(self.password.clone()),
            serveraddress: Some(self.host.clone()),
            ..Default::default()
        })
    }
}

/// The platform network's name for a platform id.
pub fn network_name(platform: &str) -> String {
    format!("paas-{platform}")
}

/// Whether the engine answered `status`.
pub(crate) fn is_status(e: &Error, status: u16) -> bool {
    matches!(e, Error::DockerResponseServerError { status_code, .. } if *status_code == status)
}

impl Engine {
    /// Connects to the local engine (`DOCKER_HOST` or the default socket) and agrees on
    /// an API version with it.
    pub async fn connect(platform: &str) -> Result<Engine, Error> {
        let docker = Docker::connect_with_local_defaults()?.negotiate_version().await?;
        Ok(Engine {
            docker,
            platform: platform.to_owned(),
            network: network_name(platform),
            registry: None,
            pull_stall: PULL_STALL,
            network_lock: Default::default(),
        })
    }

    /// The same engine, pulling the platform's images from `registry`.
    pub fn with_registry(mut self, registry: RegistryPull) -> Engine {
        self.registry = Some(registry);
        self
    }

    /// The same engine, giving up a pull after `stall` without progress.
    pub fn with_pull_stall(mut self, stall: std::time::Duration) -> Engine {
        self.pull_stall = stall;
        self
    }

    /// The platform id.
    pub fn platform(&self) -> &str {
        &self.platform
    }

    /// The engine's client, for the scheduler's other work with it (logs).
    pub(crate) fn docker(&self) -> &Docker {
        &self.docker
    }

    /// Creates the platform's bridge network unless it exists.
    pub async fn ensure_network(&self) -> Result<(), Error> {
        let _one_at_a_time = self.network_lock.lock().await;
        match self.docker.inspect_network(&self.network, None).await {
            Ok(_) => return Ok(()),
            Err(e) if is_status(&e, 404) => {}
            Err(e) => return Err(e),
        }
        let request = NetworkCreateRequest {
            name: self.network.clone(),
            driver: Some("bridge".into()),
            labels: Some(HashMap::from([(LABEL_PLATFORM.to_owned(), self.platform.clone())])),
            ..Default::default()
        };
        match self.docker.create_network(request).await {
            // Another writer made it in between: fine.
            Err(e) if is_status(&e, 409) => Ok(()),
            other => other.map(|_| ()),
        }
    }

    /// Every container of this platform, running or not, but for one-off processes.
    pub async fn list(&self) -> Result<Vec<ActualContainer>, Error> {
        let filters = HashMap::from([("label", vec![format!("{LABEL_PLATFORM}={}", self.platform)])]);
        let options = ListContainersOptionsBuilder::new().all(true).filters(&filters).build();
        let summaries = self.docker.list_containers(Some(options)).await?;
        Ok(summaries
            .into_iter()
            .filter_map(|s| {
                let id = s.id?;
                let labels = s.labels.unwrap_or_default();
                // One-off processes (`paas run`) are no process of the formation: the
                // planner must neither adopt nor remove them.
                if super::oneoff::is_oneoff(&labels) {
                    return None;
                }
                let key = key_from_labels(&labels);
                let state = match s.state {
                    Some(
                        ContainerSummaryStateEnum::RUNNING
                        | ContainerSummaryStateEnum::RESTARTING
                        | ContainerSummaryStateEnum::PAUSED
                        | ContainerSummaryStateEnum::REMOVING,
                    ) => ContainerState::Live,
                    _ => ContainerState::Stopped,
                };
                let ip = s
                    .network_settings
                    .and_then(|n| n.networks)
                    .and_then(|mut n| n.remove(&self.network))
                    .and_then(|endpoint| endpoint.ip_address)
                    .and_then(|ip| ip.parse::<IpAddr>().ok());
                Some(ActualContainer {
                    id,
                    key,
                    state,
                    ip,
                    status: s.status.unwrap_or_default(),
                    health: Health::Checking,
                    draining_since: None,
                    stopping: false,
                })
            })
            .collect())
    }

    /// Creates and starts the container of a process; returns its id. Pulls the image
    /// first when the engine does not have it.
    pub async fn start(&self, process: &DesiredProcess) -> Result<String, Error> {
        let key = &process.key;
        let mut name =
            format!("paas-{}-{}-v{}-{}.{}", self.platform, key.app, key.release, key.process_type, key.index);
        if key.generation > 0 {
            name.push_str(&format!("-g{}", key.generation));
        }
        let labels = HashMap::from([
            (LABEL_GENERATION.to_owned(), key.generation.to_string()),
            (LABEL_PLATFORM.to_owned(), self.platform.clone()),
            (LABEL_APP.to_owned(), key.app.clone()),
            (LABEL_RELEASE.to_owned(), key.release.to_string()),
            (LABEL_TYPE.to_owned(), key.process_type.clone()),
            (LABEL_INDEX.to_owned(), key.index.to_string()),
        ]);
        let body = ContainerCreateBody {
            image: Some(process.image.clone()),
            // An empty command (a Dockerfile app without a Procfile) runs the image's own
            // CMD and ENTRYPOINT.
            cmd: (!process.command.is_empty())
                .then(|| vec!["/bin/sh".into(), "-c".into(), process.command.clone()]),
            env: Some(process.env.clone()),
            labels: Some(labels),
            host_config: Some(HostConfig {
                network_mode: Some(self.network.clone()),
                restart_policy: Some(RestartPolicy {
                    name: Some(RestartPolicyNameEnum::NO),
                    maximum_retry_count: None,
                }),
                init: Some(true),
                memory: process.memory_bytes,
                memory_swap: process.memory_bytes,
                nano_cpus: process.nano_cpus,
                ..Default::default()
            }),
            ..Default::default()
        };
        let options = || Some(CreateContainerOptionsBuilder::new().name(&name).build());
        let created = match self.docker.create_container(options(), body.clone()).await {
            Err(e) if is_status(&e, 404) => {
                tracing::info!(image = %process.image, error = %e, "pulling the image");
                self.pull(&process.image).await?;
                self.docker.create_container(options(), body).await?
            }
            other => other?,
        };
        if let Err(e) = self.docker.start_container(&created.id, None).await {
            // Leave nothing half made behind: the next run tries again from scratch.
            let _ = self.remove(&created.id).await;
            return Err(e);
        }
        Ok(created.id)
    }

    /// Pulls `image`, with the registry's credentials when it is the platform's. A pull
    /// the engine reports no progress of for [`PULL_STALL`] (or what
    /// [`Engine::with_pull_stall`] says) is given up (the engine
    /// cancels it when the request goes) with [`Error::RequestTimeoutError`]: the
    /// engine's request timeout does not cover a stream, and a stuck pull would hold up
    /// whoever waits on it, the scheduler's every run.
    pub(crate) async fn pull(&self, image: &str) -> Result<(), Error> {
        let options = CreateImageOptionsBuilder::new().from_image(image).build();
        let credentials = self.registry.as_ref().and_then(|r| r.credentials_for(image));
        let mut progress = self.docker.create_image(Some(options), None, credentials);
        loop {
            match tokio::time::timeout(self.pull_stall, progress.next()).await {
                Ok(Some(step)) => {
                    step?;
                }
                Ok(None) => return Ok(()),
                Err(_) => {
                    tracing::warn!(
                        image,
                        stall_secs = self.pull_stall.as_secs(),
                        "the pull makes no progress; giving up"
                    );
                    return Err(Error::RequestTimeoutError);
                }
            }
        }
    }

    /// Starts an exited container again.
    pub async fn restart(&self, id: &str) -> Result<(), Error> {
        self.docker.start_container(id, None).await
    }

    /// Stops a container (SIGTERM, then SIGKILL after `grace`) and removes it; one that
    /// is already gone is fine.
    pub async fn stop_and_remove(&self, id: &str, grace: std::time::Duration) -> Result<(), Error> {
        let seconds = i32::try_from(grace.as_secs()).unwrap_or(i32::MAX);
        let options = StopContainerOptionsBuilder::new().t(seconds).build();
        match self.docker.stop_container(id, Some(options)).await {
            Err(e) if is_status(&e, 404) => return Ok(()),
            // 304: it was not running.
            Err(e) if !is_status(&e, 304) => return Err(e),
            _ => {}
        }
        self.remove(id).await
    }

    /// When the container last started, in Unix ms.
    pub async fn started_at_ms(&self, id: &str) -> Result<Option<i64>, Error> {
        let info = self.docker.inspect_container(id, None).await?;
        let started = info.state.and_then(|s| s.started_at);
        Ok(started.and_then(|t| {
            let t = time::OffsetDateTime::parse(&t, &time::format_description::well_known::Rfc3339).ok()?;
            i64::try_from(t.unix_timestamp_nanos() / 1_000_000).ok()
        }))
    }

    /// Stops and removes a container at once; one that is already gone is fine.
    pub async fn remove(&self, id: &str) -> Result<(), Error> {
        let options = RemoveContainerOptionsBuilder::new().force(true).build();
        match self.docker.remove_container(id, Some(options)).await {
            Err(e) if is_status(&e, 404) => Ok(()),
            other => other,
        }
    }
}

/// The process a container's labels name, when they name one completely.
fn key_from_labels(labels: &HashMap<String, String>) -> Option<ProcessKey> {
    Some(ProcessKey {
        app: labels.get(LABEL_APP)?.clone(),
        release: labels.get(LABEL_RELEASE)?.parse().ok()?,
        process_type: labels.get(LABEL_TYPE)?.clone(),
        index: labels.get(LABEL_INDEX)?.parse().ok()?,
        generation: match labels.get(LABEL_GENERATION) {
            Some(g) => g.parse().ok()?,
            None => 0,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_images_of_the_gateway_get_the_registry_credentials() {
        let pull = RegistryPull {
            host: "127.0.0.1:5050".into(),
            username: "node".into(),
            password: "s3cr3t".into(),
        };
        let creds = pull.credentials_for("127.0.0.1:5050/paas/hello@sha256:ab").expect("credentials");
        assert_eq!(creds.username.as_deref(), Some("node"));
        assert_eq!(creds.serveraddress.as_deref(), Some("127.0.0.1:5050"));
        assert!(pull.credentials_for("127.0.0.1:50501/paas/hello:1").is_none());
        assert!(pull.credentials_for("paas/stack:bookworm").is_none());
        assert!(pull.credentials_for("127.0.0.1:5050/").is_none());
        assert!(!format!("{pull:?}").contains("s3cr3t"));
    }
}
