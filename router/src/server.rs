//! The listeners: accepting client connections (at most
//! [`RouterConfig::max_connections`] open at once), the TLS handshake on the HTTPS
//! listener, and HTTP on each connection: HTTP/1.1 with upgrades on both (the
//! router's own server, `http1`), HTTP/2 (hyper's) on TLS connections whose ALPN
//! chose `h2`. Every connection is a task of one [`TaskGroup`]; [`Server::drain`] asks
//! each to finish its requests and close.
//!
//! A drain closes HTTP/1.1 connections in two steps, because closing a kept-alive
//! connection while it is idle races the client, which may be sending its next request
//! on it at that moment and then sees the connection reset with nothing answered. So
//! first every response says `Connection: close` (a client with requests to send learns
//! it and opens a new connection, to the successor router after a hand-over), and only
//! [`Server::close_idle`], a moment later, closes the connections still idle. HTTP/2
//! connections get their GOAWAY at once: its last-stream id tells the client which
//! requests were taken, so it has no such race.
//!
//! The HTTP/1.1 header read timeout runs from the moment a connection is accepted;
//! hyper's HTTP/2 server is used without `hyper_util`'s automatic protocol detection,
//! which reads the first bytes without any timeout.

use std::future::{poll_fn, Future};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper::server::conn::http2;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio_rustls::TlsAcceptor;

use crate::client_body::ClientBody;
use crate::error::ErrorChain;
use crate::headers::Peer;
use crate::http1::{ClientStream, Http1, Phase};
use crate::limits;
use crate::metrics::Metrics;
use crate::proxy::{Listener, Proxy, ProxyBody};
use crate::signal::Level;
use crate::tasks::TaskGroup;
use crate::tls::ALPN_H2;
use crate::RouterConfig;

/// What serves the connections of every listener.
pub(crate) struct Server {
    proxy: Arc<Proxy>,
    http1: Http1,
    http2: http2::Builder<TokioExecutor>,
    /// How far a drain has come, a [`Phase`]: read on every HTTP/1.1 response (which
    /// says `Connection: close` from [`Phase::Draining`] on) and each time a
    /// connection's task runs.
    phase: Level,
    /// One permit per open connection.
    permits: Arc<Semaphore>,
    tls_handshake_timeout: Duration,
    /// The open client connections.
    pub connections: TaskGroup,
    /// Where open connections are counted.
    metrics: Arc<Metrics>,
}

impl Server {
    pub fn new(proxy: Arc<Proxy>, config: &RouterConfig, metrics: Arc<Metrics>) -> Self {
        let phase = Level::new(Phase::Serving as u8);
        let http1 =
            Http1::new(proxy.clone(), config.header_read_timeout, config.body_read_timeout, phase.clone());
        let mut http2 = http2::Builder::new(TokioExecutor::new());
        http2
            .timer(TokioTimer::new())
            .max_header_list_size(limits::MAX_HEADER_BYTES as u32)
            .max_concurrent_streams(250)
            .keep_alive_interval(Some(Duration::from_secs(30)))
            .keep_alive_timeout(Duration::from_secs(20));
        Self {
            proxy,
            http1,
            http2,
            phase,
            permits: Arc::new(Semaphore::new(config.max_connections.max(1))),
            tls_handshake_timeout: config.tls_handshake_timeout,
            connections: TaskGroup::default(),
            metrics,
        }
    }

    /// Accepts connections on `listener` (TLS ones when `tls` is given) until the
    /// future is dropped.
    pub async fn accept(self: Arc<Self>, listener: TcpListener, tls: Option<TlsAcceptor>) {
        let port = listener.local_addr().map_or(0, |addr| addr.port());
        let kind = Listener { port, tls: tls.is_some() };
        loop {
            let (stream, peer) = match listener.accept().await {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors, most likely: wait for some to close.
                    tracing::warn!(error = %e, "cannot accept a connection");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            // The permit is taken after accepting: taken before, each listener's loop
            // would hold one while it waits, and with two listeners one fewer
            // connection could be open. Until one is free this connection waits
            // unserved, and the listener's backlog holds the next ones.
            let Ok(permit) = self.permits.clone().acquire_owned().await else { return };
            let open = self.metrics.open_connection();
            let _ = stream.set_nodelay(true);
            let server = self.clone();
            let tls = tls.clone();
            self.connections.spawn(async move {
                match tls {
                    None => server.serve_http1(stream, peer, kind).await,
                    Some(tls) => server.serve_tls(&tls, stream, peer, kind).await,
                }
                drop((permit, open));
            });
        }
    }

    /// Asks every connection to finish the requests it has and close: HTTP/2 ones at
    /// once, HTTP/1.1 ones after their next response ([`Server::close_idle`] closes
    /// those that stay idle).
    pub fn drain(&self) {
        self.phase.raise(Phase::Draining as u8);
    }

    /// Closes the HTTP/1.1 connections that had no request since [`Server::drain`];
    /// those in the middle of one finish it first.
    pub fn close_idle(&self) {
        self.phase.raise(Phase::Closing as u8);
    }

    async fn serve_tls(&self, tls: &TlsAcceptor, stream: TcpStream, peer: SocketAddr, kind: Listener) {
        let stream = match tokio::time::timeout(self.tls_handshake_timeout, tls.accept(stream)).await {
            Ok(Ok(stream)) => stream,
            Ok(Err(e)) => {
                tracing::debug!(%peer, error = %e, "the TLS handshake failed");
                return;
            }
            Err(_) => {
                tracing::debug!(%peer, "the TLS handshake took too long");
                return;
            }
        };
        match stream.get_ref().1.alpn_protocol() {
            Some(ALPN_H2) => self.serve_http2(stream, peer, kind).await,
            _ => self.serve_http1(stream, peer, kind).await,
        }
    }

    async fn serve_http1<I: ClientStream>(&self, io: I, peer: SocketAddr, kind: Listener) {
        self.http1.serve(io, Peer::new(peer), kind).await;
    }

    /// Serves an HTTP/2 connection to its end; once a drain begins, it sends its
    /// GOAWAY and finishes the streams it took.
    async fn serve_http2<I: ClientStream>(&self, io: I, peer: SocketAddr, kind: Listener) {
        let connection = self.http2.serve_connection(TokioIo::new(io), self.service(peer, kind));
        let mut connection = std::pin::pin!(connection);
        let mut phase = Some(self.phase.watcher());
        let ended = poll_fn(|cx| {
            if let Some(watcher) = &mut phase {
                if watcher.poll_reached(cx, Phase::Draining as u8).is_ready() {
                    phase = None;
                    connection.as_mut().graceful_shutdown();
                }
            }
            connection.as_mut().poll(cx)
        })
        .await;
        if let Err(e) = ended {
            tracing::debug!(%peer, error = %ErrorChain(&e), "connection ended with an error");
        }
    }

    /// The proxy as a service of one HTTP/2 connection.
    fn service(
        &self,
        peer: SocketAddr,
        kind: Listener,
    ) -> impl hyper::service::Service<
        hyper::Request<hyper::body::Incoming>,
        Response = hyper::Response<ProxyBody>,
        Error = std::convert::Infallible,
        Future = impl std::future::Future<
            Output = Result<hyper::Response<ProxyBody>, std::convert::Infallible>,
        > + Send,
    > + Clone {
        let proxy = self.proxy.clone();
        let peer = Peer::new(peer);
        service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
            let proxy = proxy.clone();
            let peer = peer.clone();
            // The request's future is large (kilobytes): boxed once here, hyper moves
            // only the box, where it would copy the whole of it as it stores it.
            Box::pin(async move { proxy.handle(req.map(ClientBody::Http2), peer, kind).await })
        })
    }
}
