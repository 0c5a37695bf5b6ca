//! The platform's registry inside paasd: the Distribution registry (a supervised
//! child), its token endpoint and the node's gateway, from `paas_registry_proxy`.
//!
//! The secrets of the registry's two service principals are made on first start and
//! kept in the data dir (0600): `builder` pushes built images, `node` pulls them for
//! the scheduler. Images are named by the gateway's loopback address, which every node
//! serves on the same port, so one reference works on each of them.
//!
//! Disk hygiene's side of it: [`PlatformStorage`] is the controller's
//! `scheduler::gc::Storage`: it deletes old builds' manifests through the registry's
//! janitor, runs the registry's garbage collection, and removes a destroyed app's git
//! repository (`<data_dir>/repos/<app>.git`). The collection waits until no push
//! uploads and keeps new uploads waiting meanwhile ([`PushGate`], held by every push
//! for its upload only, not while its release rolls out), and the registry is stopped
//! while it runs (pulls in that moment fail and the scheduler retries them), so no
//! upload can lose a layer.

use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use paas_builder::build::publish::{PushGate, RegistryTarget};
use paas_controller::scheduler::gc::{self, StorageError};
use paas_controller::scheduler::RegistryPull;
use paas_registry_proxy::janitor::{self, Janitor};
use paas_registry_proxy::platform::{self, PlatformRegistry, RegistryListeners};

use crate::secrets;

/// The `builder` principal's secret, in the data dir.
pub const BUILDER_SECRET_FILE: &str = "registry-builder.secret";
/// The `node` principal's secret, in the data dir.
pub const NODE_SECRET_FILE: &str = "registry-node.secret";

/// How long the registry may take to answer after start.
const READY_LIMIT: Duration = Duration::from_secs(20);

/// The sockets of the token endpoint and the gateway, bound by the caller.
#[derive(Debug)]
pub struct RegistrySockets {
    /// The token endpoint.
    pub token: TcpListener,
    /// The gateway.
    pub gateway: TcpListener,
}

/// Where the registry's parts listen and which binary it is.
#[derive(Debug, Clone)]
pub struct RegistrySettings {
    /// The gateway Docker engines push to and pull from (loopback; port 0: any).
    pub gateway_addr: SocketAddr,
    /// The token endpoint (port 0: any).
    pub token_addr: SocketAddr,
    /// The Distribution registry's own address (loopback; a fixed port: it is written
    /// into the registry's configuration).
    pub addr: SocketAddr,
    /// The `docker-registry` binary.
    pub binary: PathBuf,
}

impl RegistrySettings {
    /// Binds the gateway and the token endpoint.
    pub fn bind(&self) -> anyhow::Result<RegistrySockets> {
        let bind = |addr: SocketAddr, setting: &paas_core::settings::Setting| {
            TcpListener::bind(addr).with_context(|| format!("cannot listen on {addr} ({})", setting.name))
        };
        Ok(RegistrySockets {
            token: bind(self.token_addr, &paas_core::settings::REGISTRY_TOKEN_ADDR)?,
            gateway: bind(self.gateway_addr, &paas_core::settings::REGISTRY_GATEWAY_ADDR)?,
        })
    }
}

/// The running registry.
pub struct Registry {
    /// The gateway's `host:port`, as image references name it.
    pub host: String,
    builder_secret: String,
    node_secret: String,
    janitor: Janitor,
    gate: PushGate,
    task: tokio::task::JoinHandle<Result<(), platform::PlatformError>>,
}

impl Registry {
    /// Starts the registry under `<data_dir>/registry` and waits until it answers
    /// through the gateway; it runs until `shutdown` resolves.
    pub async fn start(
        data_dir: &std::path::Path,
        settings: &RegistrySettings,
        sockets: RegistrySockets,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<Registry> {
        if !settings.binary.exists() {
            anyhow::bail!(
                "the Distribution registry {} is missing ({})\nhint: apt-get install docker-registry",
                settings.binary.display(),
                paas_core::settings::REGISTRY_BIN.name
            );
        }
        let secret = |name: &str| -> anyhow::Result<String> {
            let path = data_dir.join(name);
            let bytes = secrets::load_or_create_secret(&path)
                .with_context(|| format!("cannot read or create the key file {}", path.display()))?;
            Ok(hex::encode(bytes))
        };
        let builder_secret = secret(BUILDER_SECRET_FILE)?;
        let node_secret = secret(NODE_SECRET_FILE)?;
        let gateway_addr = sockets.gateway.local_addr().context("the gateway listener has no address")?;
        let host = format!("127.0.0.1:{}", gateway_addr.port());
        let listeners = RegistryListeners {
            token: tokio_listener(sockets.token)?,
            gateway: tokio_listener(sockets.gateway)?,
        };
        let config = PlatformRegistry {
            dir: data_dir.join("registry"),
            registry_bin: settings.binary.clone(),
            registry_addr: settings.addr,
            builder_secret: builder_secret.clone(),
            node_secret: node_secret.clone(),
        };
        let (janitor, jobs) = janitor::janitor();
        let task = tokio::spawn(platform::run_with(config, listeners, Some(jobs), shutdown));
        let dial = SocketAddr::from(([127, 0, 0, 1], gateway_addr.port()));
        if !platform::wait_ready(dial, READY_LIMIT).await {
            task.abort();
            anyhow::bail!(
                "the registry did not answer on {} within {}s; see {}",
                settings.addr,
                READY_LIMIT.as_secs(),
                data_dir.join("registry/distribution/registry.log").display()
            );
        }
        tracing::info!(gateway = %host, registry = %settings.addr, "the registry is serving");
        Ok(Registry { host, builder_secret, node_secret, janitor, gate: PushGate::default(), task })
    }

    /// Where the builder pushes, as `builder`.
    pub fn push_target(&self) -> RegistryTarget {
        RegistryTarget {
            host: self.host.clone(),
            username: "builder".into(),
            password: self.builder_secret.clone(),
        }
    }

    /// How the scheduler pulls, as `node`.
    pub fn pull(&self) -> RegistryPull {
        RegistryPull { host: self.host.clone(), username: "node".into(), password: self.node_secret.clone() }
    }

    /// The gate every push holds while it uploads and the garbage collection holds
    /// exclusively.
    pub fn push_gate(&self) -> PushGate {
        self.gate.clone()
    }

    /// Waits until the registry has stopped (after shutdown).
    pub async fn stopped(self) {
        match self.task.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                tracing::warn!(error = %paas_core::ErrorChain(&e), "the registry stopped with an error")
            }
            Err(e) => tracing::warn!(error = %e, "the registry task failed"),
        }
    }
}

/// The pid of the Distribution registry the platform with this data dir runs (or
/// ran), from its pid file: for tests and operators that stop what a killed paasd left.
pub fn recorded_registry_pid(data_dir: &std::path::Path) -> Option<u32> {
    paas_registry_proxy::registry::recorded_pid(&data_dir.join("registry").join("distribution"))
}

fn tokio_listener(listener: TcpListener) -> anyhow::Result<tokio::net::TcpListener> {
    listener.set_nonblocking(true).context("cannot make a registry listener non-blocking")?;
    tokio::net::TcpListener::from_std(listener).context("cannot use a registry listener")
}

/// The registry (when one runs) and the git repositories, for disk hygiene.
pub struct PlatformStorage {
    registry: Option<(String, Janitor, PushGate)>,
    repos: PathBuf,
}

impl PlatformStorage {
    /// The storage of `registry` (if any) and the repositories under `repos`.
    pub fn new(registry: Option<&Registry>, repos: PathBuf) -> Self {
        Self { registry: registry.map(|r| (r.host.clone(), r.janitor.clone(), r.gate.clone())), repos }
    }
}

/// `(repository, digest)` of `image` when it is `<host>/<repository>@<digest>`.
fn in_registry<'a>(host: &str, image: &'a str) -> Option<(&'a str, &'a str)> {
    image.strip_prefix(host)?.strip_prefix('/')?.split_once('@')
}

impl gc::Storage for PlatformStorage {
    fn delete_image<'a>(&'a self, image: &'a str) -> gc::BoxFuture<'a, Result<(), StorageError>> {
        Box::pin(async move {
            let Some((host, janitor, _)) = &self.registry else { return Ok(()) };
            let Some((repository, digest)) = in_registry(host, image) else { return Ok(()) };
            janitor.delete_manifest(repository, digest).await.map(|_| ()).map_err(|e| StorageError::Delete {
                image: image.to_owned(),
                reason: paas_core::ErrorChain(&e).to_string(),
            })
        })
    }

    fn collect_garbage(&self) -> gc::BoxFuture<'_, Result<(), StorageError>> {
        Box::pin(async move {
            let Some((_, janitor, gate)) = &self.registry else { return Ok(()) };
            let _no_uploads = gate.exclusive().await;
            janitor
                .collect_garbage()
                .await
                .map_err(|e| StorageError::Collect(paas_core::ErrorChain(&e).to_string()))
        })
    }

    fn remove_repository<'a>(&'a self, app: &'a str) -> gc::BoxFuture<'a, Result<(), StorageError>> {
        Box::pin(async move {
            // App names are one path component of [a-z0-9-] (`AppName`); refuse anything else.
            if app.is_empty()
                || !app.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            {
                return Ok(());
            }
            let path = self.repos.join(format!("{app}.git"));
            match tokio::fs::remove_dir_all(&path).await {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    Err(StorageError::Repository { app: app.to_owned(), source: e })
                }
                _ => Ok(()),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_images_of_the_registry_are_deleted_there() {
        let host = "127.0.0.1:5050";
        assert_eq!(in_registry(host, "127.0.0.1:5050/paas/a@sha256:ab"), Some(("paas/a", "sha256:ab")));
        assert_eq!(in_registry(host, "127.0.0.1:50501/paas/a@sha256:ab"), None);
        assert_eq!(in_registry(host, "paas/a:1234"), None);
        assert_eq!(in_registry(host, "127.0.0.1:5050/paas/a:1234"), None);
    }
}
