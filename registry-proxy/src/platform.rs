//! The registry, its token endpoint and the gateway together: what the
//! `paas-registry-proxy` binary runs, and what paasd runs inside its own process.
//!
//! [`run`] loads (or makes) the signing key under the directory, writes the
//! registry's configuration, supervises the registry and serves the token endpoint and
//! the gateway on the listeners it is given, until shutdown. [`wait_ready`] tells when
//! the registry answers through the gateway. [`run_with`] also serves a
//! [`crate::janitor::Janitor`], which deletes manifests and collects garbage.

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::net::TcpListener;

use crate::janitor::JanitorJobs;
use crate::keys::KeyError;
use crate::registry::{self, RegistryConfig, RegistryError};
use crate::{Gateway, GatewayConfig, SigningKey, StaticCredentials, TokenIssuer, TokenService};

/// The service name of the registry: the tokens' audience.
pub const SERVICE: &str = "paas-registry";
/// The tokens' issuer.
pub const ISSUER: &str = "paas-registry-proxy";

/// How the registry and its door are set up.
#[derive(Clone)]
pub struct PlatformRegistry {
    /// Keys, the registry's configuration and storage live here.
    pub dir: PathBuf,
    /// The `docker-registry` binary.
    pub registry_bin: PathBuf,
    /// Where the registry itself listens (loopback).
    pub registry_addr: SocketAddr,
    /// The secret of the `builder` principal (push and pull).
    pub builder_secret: String,
    /// The secret of the `node` principal (pull).
    pub node_secret: String,
}

impl std::fmt::Debug for PlatformRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PlatformRegistry")
            .field("dir", &self.dir)
            .field("registry_bin", &self.registry_bin)
            .field("registry_addr", &self.registry_addr)
            .finish_non_exhaustive()
    }
}

/// The sockets the token endpoint and the gateway serve on.
#[derive(Debug)]
pub struct RegistryListeners {
    /// The token endpoint.
    pub token: TcpListener,
    /// The gateway Docker engines talk to.
    pub gateway: TcpListener,
}

/// Why the registry could not be run.
#[derive(Debug, thiserror::Error)]
pub enum PlatformError {
    /// The signing key could not be read or made.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// The registry's files could not be written.
    #[error(transparent)]
    Registry(#[from] RegistryError),
    /// A listener has no address.
    #[error("a registry listener has no address")]
    Listener(#[source] std::io::Error),
}

/// Runs the registry, the token endpoint and the gateway until `shutdown` resolves; the
/// registry is killed then.
pub async fn run(
    config: PlatformRegistry,
    listeners: RegistryListeners,
    shutdown: impl Future<Output = ()>,
) -> Result<(), PlatformError> {
    run_with(config, listeners, None, shutdown).await
}

/// [`run`], also carrying out the jobs of a [`crate::janitor::Janitor`] (deleting
/// manifests, collecting garbage) when given them.
pub async fn run_with(
    config: PlatformRegistry,
    listeners: RegistryListeners,
    janitor: Option<JanitorJobs>,
    shutdown: impl Future<Output = ()>,
) -> Result<(), PlatformError> {
    let key = Arc::new(SigningKey::load_or_generate(&config.dir.join("keys"))?);
    let token_addr = listeners.token.local_addr().map_err(PlatformError::Listener)?;
    let registry = RegistryConfig {
        binary: config.registry_bin.clone(),
        dir: config.dir.join("distribution"),
        addr: config.registry_addr,
        realm: format!("http://{token_addr}/token"),
        service: SERVICE.into(),
        issuer: ISSUER.into(),
        root_cert: key.cert_path().to_owned(),
    };
    let credentials = StaticCredentials::new(config.builder_secret, config.node_secret);
    let issuer = TokenIssuer::new(key, ISSUER, SERVICE);
    let tokens = TokenService::new(issuer.clone(), Arc::new(credentials));
    let gateway = Gateway::new(GatewayConfig { registry: config.registry_addr, token: token_addr });

    let (stop, stopped) = tokio::sync::watch::channel(false);
    let wait = move || {
        let mut stopped = stopped.clone();
        async move {
            let _ = stopped.wait_for(|s| *s).await;
        }
    };
    let (collect, collections) = tokio::sync::mpsc::channel(1);
    let registry_addr = registry.addr;
    let mut supervisor = tokio::spawn(registry::supervise_collecting(registry, collections, wait()));
    let janitor = janitor.map(|jobs| {
        let work = crate::janitor::serve(jobs, issuer, registry_addr, collect);
        let stopped = wait();
        // Ends with the registry, not with the last handle.
        tokio::spawn(async move {
            tokio::select! {
                () = work => {}
                () = stopped => {}
            }
        })
    });
    let token_server = tokio::spawn(crate::run_token_server(listeners.token, tokens, wait()));
    let gateway = tokio::spawn(crate::run_gateway(listeners.gateway, gateway, wait()));
    // The supervisor ends early only when the registry's files cannot be written.
    let early = tokio::select! {
        () = shutdown => None,
        ended = &mut supervisor => Some(ended),
    };
    let _ = stop.send(true);
    let registry = match early {
        Some(ended) => ended,
        None => supervisor.await,
    };
    let _ = tokio::join!(token_server, gateway);
    if let Some(janitor) = janitor {
        let _ = janitor.await;
    }
    match registry {
        Ok(result) => result.map_err(PlatformError::from),
        Err(e) => {
            tracing::error!(error = %e, "the registry supervisor panicked");
            Ok(())
        }
    }
}

/// Waits until the registry answers through the gateway at `gateway` (its `/v2/` asks
/// for a token: 401), for at most `limit`. Returns whether it did.
pub async fn wait_ready(gateway: SocketAddr, limit: Duration) -> bool {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let started = Instant::now();
    let request = format!("GET /v2/ HTTP/1.1\r\nHost: {gateway}\r\nConnection: close\r\n\r\n");
    while started.elapsed() < limit {
        if let Ok(mut stream) = tokio::net::TcpStream::connect(gateway).await {
            let mut head = [0u8; 12];
            let answered = async {
                stream.write_all(request.as_bytes()).await?;
                stream.read_exact(&mut head).await
            };
            if let Ok(Ok(_)) = tokio::time::timeout(Duration::from_secs(2), answered).await {
                if head.starts_with(b"HTTP/1.1 401") {
                    return true;
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}
