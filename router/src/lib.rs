//! The paas router: a reverse proxy that sends each host name to the processes of its
//! app, with a route table fed by the controller.
//!
//! [`RouterState::load`] prepares the state directory and loads the table saved there,
//! so the router serves before the controller answers; [`run`] serves HTTP/1.1 on a
//! listener until a shutdown signal resolves, and meanwhile follows the controller's
//! route stream.
//!
//! Modules: `proxy` (one request: route, headers, forward, answer), `table` (the
//! compiled table behind one `ArcSwap`), `feed` (the watch stream client), `persist`
//! (`routes.json`), `headers` (what is added and removed), `config` and `settings`
//! (what the router is told; `settings` is the one place that reads the environment).
//!
//! Not yet here: TLS, HTTP/2, WebSockets (`Upgrade` is removed like any hop-by-hop
//! header) and metrics; the `Proxy` of `proxy.rs` is where the protocols plug in and
//! where counters would be kept.

pub mod config;
pub mod error;
pub mod feed;
pub mod headers;
pub mod persist;
mod proxy;
pub mod settings;
mod table;

use std::future::Future;
use std::sync::Arc;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use paas_core::routes::RouteTable;
use tokio::net::TcpListener;
use tokio::task::JoinSet;

pub use config::{ConfigError, FeedConfig, FeedToken, FeedUrl, RouterConfig};
pub use error::RouterError;

use crate::error::ErrorChain;
use crate::proxy::Proxy;
use crate::table::{PlatformHosts, Routes};

/// The router's configuration and its current route table.
#[derive(Clone)]
pub struct RouterState {
    config: Arc<RouterConfig>,
    routes: Arc<Routes>,
}

impl RouterState {
    /// Creates the state directory (mode 0700) and loads the route table saved there.
    /// A saved table that cannot be read is logged and ignored: the router then starts
    /// with no routes and waits for the controller.
    pub fn load(config: RouterConfig) -> Result<Self, RouterError> {
        persist::ensure_state_dir(&config.state_dir)
            .map_err(|source| RouterError::StateDir { path: config.state_dir.clone(), source })?;
        let initial = match persist::load(&config.state_dir) {
            Ok(Some(table)) => {
                tracing::info!(
                    version = table.version,
                    routes = table.routes.len(),
                    "serving the route table saved on disk until the controller answers"
                );
                table
            }
            Ok(None) => RouteTable::default(),
            Err(e) => {
                tracing::warn!(error = %ErrorChain(&e), "ignoring the saved route table");
                RouteTable::default()
            }
        };
        let platform = PlatformHosts::new(&config.domain, config.controller_addr, config.builder_addr);
        Ok(Self { routes: Arc::new(Routes::new(initial, platform)), config: Arc::new(config) })
    }

    /// The route table requests are served from now.
    pub fn routes(&self) -> Arc<RouteTable> {
        self.routes.load().source.clone()
    }

    /// The configuration.
    pub fn config(&self) -> &RouterConfig {
        &self.config
    }
}

/// Serves HTTP on `listener` until `shutdown` resolves, following the route feed if one
/// is configured. Then it stops accepting, lets in-flight requests finish (up to
/// [`RouterConfig::shutdown_grace`], after which it cuts them) and stops the feed.
pub async fn run(
    listener: TcpListener,
    state: RouterState,
    shutdown: impl Future<Output = ()>,
) -> Result<(), RouterError> {
    let local = listener.local_addr().map_err(RouterError::ListenerAddress)?;
    let config = &state.config;
    let (stop_feed, feed_stopped) = tokio::sync::watch::channel(());
    let feed = config.feed.clone().map(|feed| {
        tokio::spawn(feed::follow(state.routes.clone(), feed, config.state_dir.clone(), feed_stopped))
    });
    let proxy = Arc::new(Proxy::new(state.routes.clone(), config, local.port()));
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new()).header_read_timeout(config.header_read_timeout);
    let graceful = GracefulShutdown::new();
    let mut connections = JoinSet::new();
    tracing::info!(addr = %local, "the router is serving HTTP");

    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            () = &mut shutdown => break,
            Some(_) = connections.join_next(), if !connections.is_empty() => continue,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors, most likely: wait for some to close.
                    tracing::warn!(error = %e, "cannot accept a connection");
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        let proxy = proxy.clone();
        let service = service_fn(move |req| {
            let proxy = proxy.clone();
            async move { proxy.handle(req, peer).await }
        });
        let connection = graceful.watch(http.serve_connection(TokioIo::new(stream), service));
        connections.spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(%peer, error = %ErrorChain(&e), "connection ended with an error");
            }
        });
    }

    drop(listener);
    tracing::info!("shutting down: finishing in-flight requests");
    if tokio::time::timeout(config.shutdown_grace, graceful.shutdown()).await.is_err() {
        tracing::warn!(grace = ?config.shutdown_grace, "cutting the requests still in flight after the grace period");
    }
    connections.shutdown().await;
    let _ = stop_feed.send(());
    if let Some(feed) = feed {
        let _ = feed.await;
    }
    tracing::info!("the router stopped");
    Ok(())
}
