//! The listeners: accepting client connections (at most
//! [`RouterConfig::max_connections`] open at once), the TLS handshake on the HTTPS
//! listener, and HTTP on each connection: HTTP/1.1 with upgrades on both, HTTP/2 on
//! TLS connections whose ALPN chose `h2`. Every connection is a task of one
//! [`TaskGroup`]; [`Server::drain`] asks each to finish its requests and close.
//!
//! HTTP/1.1 connections are read through [`ClientIo`], which refuses the request
//! heads hyper would accept leniently and times out stalled request bodies.
//!
//! hyper's own server builders are used rather than `hyper_util`'s automatic one,
//! whose protocol detection reads the first bytes without any timeout: here the
//! header read timeout runs from the moment a connection is accepted.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper::server::conn::{http1, http2};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Semaphore};
use tokio_rustls::TlsAcceptor;

use crate::client_io::ClientIo;
use crate::error::ErrorChain;
use crate::limits;
use crate::proxy::{Listener, Proxy};
use crate::tasks::TaskGroup;
use crate::tls::ALPN_H2;
use crate::RouterConfig;

/// What serves the connections of every listener.
pub(crate) struct Server {
    proxy: Arc<Proxy>,
    http1: http1::Builder,
    http2: http2::Builder<TokioExecutor>,
    /// Becomes `true` when connections must finish their requests and close.
    draining: watch::Sender<bool>,
    /// One permit per open connection.
    permits: Arc<Semaphore>,
    tls_handshake_timeout: Duration,
    body_read_timeout: Duration,
    /// The open client connections.
    pub connections: TaskGroup,
}

impl Server {
    pub fn new(proxy: Arc<Proxy>, config: &RouterConfig) -> Self {
        let mut http1 = http1::Builder::new();
        http1
            .timer(TokioTimer::new())
            .header_read_timeout(config.header_read_timeout)
            .max_buf_size(limits::READ_BUFFER_BYTES)
            .max_headers(limits::MAX_HEADERS);
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
            draining: watch::channel(false).0,
            permits: Arc::new(Semaphore::new(config.max_connections.max(1))),
            tls_handshake_timeout: config.tls_handshake_timeout,
            body_read_timeout: config.body_read_timeout,
            connections: TaskGroup::default(),
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
            let _ = stream.set_nodelay(true);
            let server = self.clone();
            let tls = tls.clone();
            self.connections.spawn(async move {
                match tls {
                    None => server.serve_http1(stream, peer, kind).await,
                    Some(tls) => server.serve_tls(&tls, stream, peer, kind).await,
                }
                drop(permit);
            });
        }
    }

    /// Asks every connection to finish the requests it has and close.
    pub fn drain(&self) {
        self.draining.send_replace(true);
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

    async fn serve_http1<I>(&self, io: I, peer: SocketAddr, kind: Listener)
    where
        I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let io = ClientIo::new(io, peer, self.body_read_timeout);
        let connection =
            self.http1.serve_connection(TokioIo::new(io), self.service(peer, kind)).with_upgrades();
        let mut connection = std::pin::pin!(connection);
        let mut draining = self.draining.subscribe();
        let ended = tokio::select! {
            ended = connection.as_mut() => ended,
            () = async { drop(draining.wait_for(|draining| *draining).await) } => {
                connection.as_mut().graceful_shutdown();
                connection.await
            }
        };
        if let Err(e) = ended {
            tracing::debug!(%peer, error = %ErrorChain(&e), "connection ended with an error");
        }
    }

    async fn serve_http2<I>(&self, io: I, peer: SocketAddr, kind: Listener)
    where
        I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let connection = self.http2.serve_connection(TokioIo::new(io), self.service(peer, kind));
        let mut connection = std::pin::pin!(connection);
        let mut draining = self.draining.subscribe();
        let ended = tokio::select! {
            ended = connection.as_mut() => ended,
            () = async { drop(draining.wait_for(|draining| *draining).await) } => {
                connection.as_mut().graceful_shutdown();
                connection.await
            }
        };
        if let Err(e) = ended {
            tracing::debug!(%peer, error = %ErrorChain(&e), "connection ended with an error");
        }
    }

    fn service(
        &self,
        peer: SocketAddr,
        kind: Listener,
    ) -> impl hyper::service::Service<
        hyper::Request<hyper::body::Incoming>,
        Response = hyper::Response<crate::proxy::ProxyBody>,
        Error = std::convert::Infallible,
        Future = impl std::future::Future<
            Output = Result<hyper::Response<crate::proxy::ProxyBody>, std::convert::Infallible>,
        > + Send,
    > + Clone {
        let proxy = self.proxy.clone();
        service_fn(move |req| {
            let proxy = proxy.clone();
            async move { proxy.handle(req, peer, kind).await }
        })
    }
}
