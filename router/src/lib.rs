//! The paas router: a reverse proxy that sends each host name to the processes of its
//! app, with a route table fed by the controller.
//!
//! [`RouterState::load`] prepares the state directory and loads the table saved there,
//! so the router serves before the controller answers; [`run_with_tls`] serves HTTP/1.1
//! on one listener and HTTPS (HTTP/2 or HTTP/1.1 by ALPN) on another until a shutdown
//! signal resolves, and meanwhile follows the controller's route stream and, when
//! [`RouterConfig::metrics_addr`] is set, serves Prometheus metrics on that admin
//! address; [`run`] is the same without HTTPS.
//!
//! Modules: `server` (accepting, the connection limit, TLS handshakes, HTTP/2 per
//! connection by hyper), `http1` (the router's own HTTP/1.1 server: requests in turn,
//! timeouts, answers written, upgrades handed over), `request_head` (HTTP/1.1 request
//! heads read strictly: smuggling shapes refused), `client_body` (a request body read
//! off the connection as the proxy asks for it), `proxy` (one request:
//! limits, route, headers, forward, answer), `upstream` and `upstream_wire` (the pool
//! of HTTP/1.1 connections to processes and the router's own client on them: request
//! heads written, response heads and chunks read), `request_body` (a request's body
//! kept for a retry, its limit and faults), `upgrade` (WebSockets: `101` and the spliced
//! tunnel), `limits` (what a request head may be), `tls` (versions, suites, ALPN) and
//! `certs` (the certificates by SNI, the self-signed default), `table` (the compiled
//! table behind one `ArcSwap`), `feed` (the watch stream client), `persist`
//! (`routes.json`), `headers` (what is added and removed), `tasks` (connections and
//! tunnels that shutdown waits for, then cuts), `signal` (the drain's phase and the
//! cut, checked by every connection at each poll), `sleeps` (the header read and
//! response timeouts on recycled timers), `metrics` (counters and gauges in
//! atomics, the text exposition format, the admin listener's `GET /metrics`), `config`
//! and `settings` (what the router is told; `settings` is the one place that reads the
//! environment).
//!
//! Certificates carried by the route feed go to the `CertStore` with every new table
//! (`CertStore::sync_routes`), and `https_policy` is `tls:enforce` (308 to HTTPS, HSTS).
//!
//! `/.well-known/acme-challenge/<token>` of every app host, on plain HTTP, goes to the
//! controller, which answers the ACME HTTP-01 challenges of `paas certs:auto`.
//!
//! Not yet here: per-route body limits, and WebSockets over HTTP/2 (RFC 8441).

mod access;
pub mod certs;
mod client_body;
pub mod config;
mod controller;
pub mod error;
pub mod feed;
pub mod handover;
pub mod headers;
mod http1;
mod https_policy;
pub mod limits;
mod metrics;
pub mod persist;
mod proxy;
mod request_body;
pub mod request_head;
mod server;
pub mod settings;
mod signal;
mod sleeps;
mod table;
mod tasks;
pub mod tls;
mod upgrade;
mod upstream;
pub mod upstream_wire;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use paas_core::routes::RouteTable;
use tokio::net::TcpListener;

pub use config::{ConfigError, FeedConfig, FeedToken, FeedUrl, RouterConfig, TrustedProxies};
pub use error::RouterError;

use crate::access::AccessLog;
use crate::certs::CertStore;
use crate::error::ErrorChain;
use crate::metrics::Metrics;
use crate::proxy::Proxy;
use crate::server::Server;
use crate::table::{PlatformHosts, Routes};
use crate::tasks::TaskGroup;

/// How long a drain waits for kept-alive HTTP/1.1 connections to send a request (and
/// learn from its response that the connection closes) before it closes those still
/// idle; at most half the shutdown grace.
pub const DRAIN_LINGER: std::time::Duration = std::time::Duration::from_secs(1);

/// The router's configuration and its current route table.
#[derive(Clone)]
pub struct RouterState {
    config: Arc<RouterConfig>,
    routes: Arc<Routes>,
    certs: Arc<CertStore>,
    metrics: Arc<Metrics>,
    /// Where the metrics listener is bound while [`run_with_tls`] serves it.
    metrics_addr: Arc<Mutex<Option<SocketAddr>>>,
    /// A metrics listener bound already (handed over by the previous router), which
    /// [`run_with_tls`] serves instead of binding [`RouterConfig::metrics_addr`].
    metrics_listener: Arc<Mutex<Option<std::net::TcpListener>>>,
}

impl RouterState {
    /// Creates the state directory (mode 0700) and loads the route table saved there.
    /// A saved table that cannot be read is logged and ignored: the router then starts
    /// with no routes and waits for the controller. Loads the certificates too (see
    /// `certs`), making the default one when there is none.
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
        let certs =
            Arc::new(CertStore::load(&config.state_dir, &config.domain).map_err(RouterError::Certificates)?);
        Ok(Self {
            routes: Arc::new(Routes::new(initial, platform).with_certs(certs.clone())),
            certs,
            metrics: Arc::new(Metrics::new(config.max_connections)),
            metrics_addr: Arc::default(),
            metrics_listener: Arc::default(),
            config: Arc::new(config),
        })
    }

    /// The certificates the HTTPS listener presents.
    pub fn certs(&self) -> &Arc<CertStore> {
        &self.certs
    }

    /// The route table requests are served from now.
    pub fn routes(&self) -> Arc<RouteTable> {
        self.routes.load().source.clone()
    }

    /// The configuration.
    pub fn config(&self) -> &RouterConfig {
        &self.config
    }

    /// The address the metrics listener ([`RouterConfig::metrics_addr`]) is bound to,
    /// once [`run_with_tls`] serves it: the port picked when the configured one is 0.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        *self.metrics_addr.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Serves metrics on `listener` (bound already, or handed over) rather than binding
    /// [`RouterConfig::metrics_addr`].
    pub fn use_metrics_listener(&self, listener: std::net::TcpListener) {
        *self.metrics_listener.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(listener);
    }
}

/// Serves HTTP on `listener` until `shutdown` resolves: [`run_with_tls`] without an
/// HTTPS listener.
pub async fn run(
    listener: TcpListener,
    state: RouterState,
    shutdown: impl Future<Output = ()>,
) -> Result<(), RouterError> {
    run_with_tls(listener, None, state, shutdown).await
}

/// Serves HTTP on `http` and, when given, HTTPS on `https` (certificates from
/// [`RouterState::certs`]) until `shutdown` resolves, following the route feed if one
/// is configured, and metrics on [`RouterConfig::metrics_addr`] if one is set (which
/// it binds first: an address it cannot bind is an error). Then it stops accepting,
/// lets in-flight requests and open WebSockets finish (up to
/// [`RouterConfig::shutdown_grace`], after which it cuts them), stops serving metrics
/// and stops the feed.
pub async fn run_with_tls(
    http: TcpListener,
    https: Option<TcpListener>,
    state: RouterState,
    shutdown: impl Future<Output = ()>,
) -> Result<(), RouterError> {
    let local = http.local_addr().map_err(RouterError::ListenerAddress)?;
    let https = match https {
        Some(listener) => {
            let addr = listener.local_addr().map_err(RouterError::ListenerAddress)?;
            let acceptor = tls::acceptor(state.certs.clone()).map_err(RouterError::Tls)?;
            Some((listener, acceptor, addr))
        }
        None => None,
    };
    let config = &state.config;
    let bound = state.metrics_listener.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).take();
    let metrics_listener = match (bound, config.metrics_addr) {
        (Some(listener), _) => {
            listener.set_nonblocking(true).map_err(RouterError::ListenerAddress)?;
            Some(TcpListener::from_std(listener).map_err(RouterError::ListenerAddress)?)
        }
        (None, Some(addr)) => {
            let listener = TcpListener::bind(addr)
                .await
                .map_err(|source| RouterError::MetricsListener { addr, source })?;
            Some(listener)
        }
        (None, None) => None,
    };
    let (stop_feed, feed_stopped) = tokio::sync::watch::channel(());
    let feed = config.feed.clone().map(|feed| {
        tokio::spawn(feed::follow(state.routes.clone(), feed, config.state_dir.clone(), feed_stopped))
    });
    let (stop_access, access_stopped) = tokio::sync::watch::channel(());
    let (access, shipper) = match &config.feed {
        Some(feed) => {
            let (access, shipper) = AccessLog::shipping(feed, access_stopped);
            (access, Some(tokio::spawn(shipper)))
        }
        None => (AccessLog::local(), None),
    };
    let https_port = https.as_ref().map(|(_, _, addr)| addr.port());
    let proxy = Arc::new(
        Proxy::new(state.routes.clone(), config, access)
            .with_https_port(https_port)
            .with_metrics(state.metrics.clone()),
    );
    let server = Arc::new(Server::new(proxy.clone(), config, state.metrics.clone()));
    // Metrics are served until the connections are drained, so a drain can be watched.
    let admin = TaskGroup::default();
    if let Some(listener) = metrics_listener {
        let addr = listener.local_addr().map_err(RouterError::ListenerAddress)?;
        *state.metrics_addr.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(addr);
        tracing::info!(%addr, "the router is serving metrics at {}", metrics::METRICS_PATH);
        let serving = metrics::serve(
            listener,
            state.metrics.clone(),
            state.routes.clone(),
            admin.clone(),
            config.header_read_timeout,
        );
        admin.spawn(serving);
    }
    tracing::info!(addr = %local, "the router is serving HTTP");
    let serve_https = async {
        match https {
            Some((listener, acceptor, addr)) => {
                tracing::info!(%addr, "the router is serving HTTPS");
                server.clone().accept(listener, Some(acceptor)).await;
            }
            None => std::future::pending().await,
        }
    };
    // Dropping the accept loops closes the listeners.
    tokio::select! {
        () = shutdown => {}
        () = server.clone().accept(http, None) => {}
        () = serve_https => {}
    }

    tracing::info!("shutting down: finishing in-flight requests");
    server.drain();
    let finished = async {
        // Kept-alive HTTP/1.1 connections learn of the close from their next response;
        // those still idle after the linger are closed (see `server`).
        let _ = tokio::time::timeout(DRAIN_LINGER.min(config.shutdown_grace / 2), server.connections.idle())
            .await;
        server.close_idle();
        server.connections.idle().await;
        proxy.tunnels.idle().await;
    };
    if tokio::time::timeout(config.shutdown_grace, finished).await.is_err() {
        tracing::warn!(grace = ?config.shutdown_grace, "cutting the requests still in flight after the grace period");
    }
    proxy.tunnels.cut();
    server.connections.cut();
    server.connections.idle().await;
    proxy.tunnels.idle().await;
    admin.cut();
    admin.idle().await;
    *state.metrics_addr.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) = None;
    // The last access lines, then the feed.
    let _ = stop_access.send(());
    if let Some(shipper) = shipper {
        let _ = tokio::time::timeout(std::time::Duration::from_secs(5), shipper).await;
    }
    let _ = stop_feed.send(());
    if let Some(feed) = feed {
        let _ = feed.await;
    }
    tracing::info!("the router stopped");
    Ok(())
}
