//! HTTP/1.1 upgrades (WebSockets): the request keeps its `Upgrade` and
//! `Connection: upgrade` on its way to the process, and when the process answers
//! `101 Switching Protocols` the client's connection and the process's are spliced
//! into one byte tunnel.
//!
//! Bytes the client sends after its upgrade request wait in the connection's input
//! (`http1`) and reach the process only once the `101` has been passed back; any other answer goes back as
//! a normal response and nothing is spliced. A tunnel has no timeouts of its own (an
//! idle WebSocket stays open); it ends when either side closes, or when the router
//! shuts down and its grace period is over ([`TaskGroup::cut`]).

use std::net::SocketAddr;

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::oneshot;

use crate::http1::{PendingUpgrade, Upgraded};
use crate::tasks::TaskGroup;
use crate::upstream::Tunnel;
use hyper::header::{HeaderMap, HeaderValue, CONNECTION, UPGRADE};
use hyper::{Request, Response, StatusCode, Version};

/// One side of a tunnel: the bytes that side sent after its head (read ahead with
/// it), then the connection itself.
pub(crate) struct Rewound<S> {
    io: S,
    early: Bytes,
}

impl<S> Rewound<S> {
    pub fn new(io: S, early: Bytes) -> Self {
        Self { io, early }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Rewound<S> {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if !this.early.is_empty() {
            let n = this.early.len().min(buf.remaining());
            buf.put_slice(&this.early.split_to(n));
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut this.io).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Rewound<S> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}

/// The protocol a request asks to switch to: its `Upgrade` header, when it is an
/// HTTP/1.1 request whose `Connection` names `upgrade`. `None` for anything else
/// (HTTP/1.0 and HTTP/2 requests cannot upgrade this way).
pub(crate) fn requested<B>(req: &Request<B>) -> Option<HeaderValue> {
    if req.version() != Version::HTTP_11 || !connection_names_upgrade(req.headers()) {
        return None;
    }
    let mut values = req.headers().get_all(UPGRADE).iter();
    let protocol = values.next()?;
    (values.next().is_none() && !protocol.is_empty()).then(|| protocol.clone())
}

fn connection_names_upgrade(headers: &HeaderMap) -> bool {
    headers
        .get_all(CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|token| token.trim().eq_ignore_ascii_case("upgrade"))
}

/// Puts the upgrade headers back after the hop-by-hop headers were removed.
pub(crate) fn set_upgrade_headers(headers: &mut HeaderMap, protocol: HeaderValue) {
    headers.insert(CONNECTION, HeaderValue::from_static("upgrade"));
    headers.insert(UPGRADE, protocol);
}

/// A client's request to upgrade, kept until the process has answered.
pub(crate) struct ClientUpgrade {
    /// What the client asked for (`websocket`).
    pub protocol: HeaderValue,
    /// The client's connection, once the server has written the `101`.
    pub connection: oneshot::Receiver<Upgraded>,
}

impl ClientUpgrade {
    /// Takes the upgrade out of `req` when it asks for one.
    pub fn take<B>(req: &mut Request<B>) -> Option<Self> {
        let protocol = requested(req)?;
        let connection = req.extensions_mut().remove::<PendingUpgrade>()?.take()?;
        Some(Self { protocol, connection })
    }
}

/// The upgrade headers of a process's `101` answer, to put back after the hop-by-hop
/// headers were removed; `None` when the answer is no switch.
pub(crate) fn switched<B>(response: &Response<B>) -> Option<HeaderValue> {
    if response.status() != StatusCode::SWITCHING_PROTOCOLS {
        return None;
    }
    response.headers().get(UPGRADE).cloned()
}

/// Splices the two sides of an upgraded connection once the client's is ready (the
/// server has written it the `101`), on a task of `tunnels`. `what` names the tunnel in logs
/// (app and process, never a header).
pub(crate) fn splice(
    tunnels: &TaskGroup,
    client: oneshot::Receiver<Upgraded>,
    mut upstream: Tunnel,
    peer: SocketAddr,
    what: String,
) {
    tunnels.spawn(async move {
        let Ok(mut client) = client.await else {
            tracing::debug!(%peer, tunnel = %what, "the client's connection closed before the switch");
            return;
        };
        match tokio::io::copy_bidirectional(&mut client, &mut upstream).await {
            Ok((up, down)) => tracing::debug!(%peer, tunnel = %what, up, down, "the tunnel closed"),
            Err(e) => tracing::debug!(%peer, tunnel = %what, error = %e, "the tunnel broke"),
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(version: Version, headers: &[(&str, &str)]) -> Request<()> {
        let mut builder = Request::get("/").version(version);
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        builder.body(()).unwrap()
    }

    #[test]
    fn only_http11_requests_naming_upgrade_in_connection_ask_for_one() {
        let ws = [("connection", "keep-alive, Upgrade"), ("upgrade", "websocket")];
        assert_eq!(requested(&request(Version::HTTP_11, &ws)).unwrap(), "websocket");
        assert_eq!(requested(&request(Version::HTTP_10, &ws)), None);
        assert_eq!(requested(&request(Version::HTTP_2, &ws)), None);
        assert_eq!(requested(&request(Version::HTTP_11, &[("upgrade", "websocket")])), None);
        assert_eq!(requested(&request(Version::HTTP_11, &[("connection", "upgrade")])), None);
        let twice = [("connection", "upgrade"), ("upgrade", "websocket"), ("upgrade", "h2c")];
        assert_eq!(requested(&request(Version::HTTP_11, &twice)), None);
    }

    #[test]
    fn only_a_101_with_upgrade_is_a_switch() {
        let mut response = Response::new(());
        assert_eq!(switched(&response), None);
        *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
        assert_eq!(switched(&response), None);
        response.headers_mut().insert(UPGRADE, HeaderValue::from_static("websocket"));
        assert_eq!(switched(&response).unwrap(), "websocket");
    }
}
