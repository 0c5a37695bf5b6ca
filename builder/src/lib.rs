//! The paas builder: the git smart-HTTP receive side of `git push paas main`.
//!
//! [`run`] serves HTTP/1.1 on a listener until a shutdown signal resolves:
//! `GET /<app>.git/info/refs?service=git-receive-pack` advertises the app's refs, and
//! `POST /<app>.git/git-receive-pack` takes a push: its pack is indexed into the app's
//! bare repository, `main` or `master` is moved by compare-and-swap, and the push goes
//! to a [`PushHandler`], whose progress reaches the user as `remote: ...` lines.
//! Fetching and cloning are refused.
//!
//! Modules: `http` (routing, basic auth, error answers), `receive` (one push),
//! `protocol` (advertisement, commands, side-band and report bytes; pure), `repo`
//! (git2: repositories, pack indexing, ref compare-and-swap), `auth` (the
//! [`PushAuthorizer`] seam and [`StaticTokens`]), `handler` (the [`PushHandler`] seam
//! and [`AcceptPushes`]), `build` (the [`BuildingHandler`]: the commit's tree as a tar
//! build context, the Procfile, Dockerfile builds through bollard, and the
//! [`BuildSink`] seam for what follows a build), `body` (response bodies), `settings`
//! (the one place that reads the environment).
//!
//! Not yet here: buildpack builds, the registry push and the controller's release;
//! they plug in behind the `build` module and a [`BuildSink`].

pub mod auth;
mod body;
pub mod build;
pub mod error;
pub mod handler;
mod http;
pub mod protocol;
mod receive;
pub mod repo;
pub mod settings;

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::task::JoinSet;

pub use auth::{Access, Credentials, PushAuthorizer, StaticTokens};
pub use build::{BuildLimits, BuildResult, BuildSink, BuildingHandler, LogBuilds};
pub use error::BuilderError;
pub use handler::{AcceptPushes, Progress, Push, PushHandler, Rejection};
pub use receive::DEPLOY_REFS;

use crate::error::ErrorChain;

/// The default push size limit: 1 GiB.
pub const DEFAULT_MAX_PUSH_BYTES: u64 = 1 << 30;

/// What the builder is told.
#[derive(Debug, Clone)]
pub struct BuilderConfig {
    /// Where the apps' bare repositories live (`<data_dir>/repos`).
    pub repos_dir: PathBuf,
    /// The largest push request accepted, in bytes.
    pub max_push_bytes: u64,
    /// How long a push request may take to arrive (commands and pack).
    pub request_timeout: Duration,
    /// How long a client may take to send the request headers.
    pub header_read_timeout: Duration,
    /// How long in-flight pushes may run after the shutdown signal.
    pub shutdown_grace: Duration,
}

impl BuilderConfig {
    /// Defaults, with repositories under `repos_dir`.
    pub fn new(repos_dir: PathBuf) -> Self {
        Self {
            repos_dir,
            max_push_bytes: DEFAULT_MAX_PUSH_BYTES,
            request_timeout: Duration::from_secs(600),
            header_read_timeout: Duration::from_secs(30),
            shutdown_grace: Duration::from_secs(30),
        }
    }
}

pub(crate) struct Shared {
    pub(crate) config: BuilderConfig,
    pub(crate) repos: repo::Repos,
    pub(crate) authorizer: Arc<dyn PushAuthorizer>,
    pub(crate) handler: Arc<dyn PushHandler>,
}

/// The builder's configuration and the seams it calls.
#[derive(Clone)]
pub struct BuilderState {
    shared: Arc<Shared>,
}

impl BuilderState {
    /// A builder that asks `authorizer` who may push and hands pushes to `handler`.
    pub fn new(
        config: BuilderConfig,
        authorizer: Arc<dyn PushAuthorizer>,
        handler: Arc<dyn PushHandler>,
    ) -> Self {
        let repos = repo::Repos::new(config.repos_dir.clone());
        Self { shared: Arc::new(Shared { config, repos, authorizer, handler }) }
    }

    /// The configuration.
    pub fn config(&self) -> &BuilderConfig {
        &self.shared.config
    }
}

/// Serves HTTP on `listener` until `shutdown` resolves; then stops accepting and lets
/// in-flight pushes finish, up to [`BuilderConfig::shutdown_grace`].
pub async fn run(
    listener: TcpListener,
    state: BuilderState,
    shutdown: impl Future<Output = ()>,
) -> Result<(), BuilderError> {
    let local = listener.local_addr().map_err(BuilderError::ListenerAddress)?;
    let config = &state.shared.config;
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new()).header_read_timeout(config.header_read_timeout);
    let graceful = GracefulShutdown::new();
    let mut connections = JoinSet::new();
    tracing::info!(addr = %local, "the builder is serving git over HTTP");

    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            () = &mut shutdown => break,
            Some(_) = connections.join_next(), if !connections.is_empty() => continue,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot accept a connection");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        let shared = state.shared.clone();
        let service = service_fn(move |req| {
            let shared = shared.clone();
            async move { Ok::<_, std::convert::Infallible>(http::handle(shared, req).await) }
        });
        let connection = graceful.watch(http.serve_connection(TokioIo::new(stream), service));
        connections.spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(%peer, error = %ErrorChain(&e), "connection ended with an error");
            }
        });
    }

    drop(listener);
    tracing::info!("shutting down: finishing in-flight pushes");
    if tokio::time::timeout(config.shutdown_grace, graceful.shutdown()).await.is_err() {
        tracing::warn!(grace = ?config.shutdown_grace, "cutting the pushes still in flight after the grace period");
    }
    connections.shutdown().await;
    tracing::info!("the builder stopped");
    Ok(())
}
