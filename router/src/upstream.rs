//! The router's connections to processes: HTTP/1.1 keep-alive connections, pooled by
//! process address, each driven by the request using it rather than by a task of its
//! own. A request polls its connection until the response head is in, and the
//! response body ([`UpstreamBody`]) polls it while the body is read, then gives it
//! back to the pool. That spares every request the hand-offs between tasks a
//! connection task costs (a wake-up and a channel each way).
//!
//! An idle connection is polled once when it is taken from the pool: one the process
//! closed meanwhile is dropped there. A process may still close a connection just as
//! a request is sent on it; hyper then gives the request back unsent, and it goes on a
//! new connection. Idle connections are closed after [`IDLE_TIMEOUT`] (a sweep runs
//! every [`SWEEP_INTERVAL`]), and at most [`MAX_IDLE_PER_PROCESS`] are kept per
//! process. A connection whose response switched protocols (`101`) leaves the pool:
//! it gets a task that hands its bytes over to the tunnel.

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use bytes::Bytes;
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper::client::conn::http1::{self, SendRequest};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio::time::Instant;

use crate::request_body::RetryBody;

/// How long an idle connection to a process is kept.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(90);
/// How often idle connections past [`IDLE_TIMEOUT`] are closed.
pub const SWEEP_INTERVAL: Duration = Duration::from_secs(15);
/// The most idle connections kept to one process.
pub const MAX_IDLE_PER_PROCESS: usize = 1024;

/// hyper's connection with upgrades, whose type cannot be named: boxed once per
/// connection.
type Connection = Pin<Box<dyn Future<Output = hyper::Result<()>> + Send + Sync>>;

/// One connection to a process: where requests go in, and the connection to poll.
pub(crate) struct Conn {
    sender: SendRequest<RetryBody>,
    connection: Connection,
    /// The connection future has completed (it must not be polled again).
    ended: bool,
    addr: SocketAddr,
}

impl Conn {
    /// Polls the connection: reads and writes what it can. `true` while it is open.
    fn drive(&mut self, cx: &mut Context<'_>) -> bool {
        if self.ended {
            return false;
        }
        let Poll::Ready(ended) = self.connection.as_mut().poll(cx) else { return true };
        if let Err(e) = ended {
            tracing::debug!(addr = %self.addr, error = %e, "a connection to a process ended");
        }
        self.ended = true;
        false
    }

    /// Whether the connection can take a request now.
    fn usable(&mut self) -> bool {
        let mut cx = Context::from_waker(Waker::noop());
        self.drive(&mut cx) && self.sender.is_ready()
    }
}

/// Why a request got no response head.
#[derive(Debug, thiserror::Error)]
pub(crate) enum SendError {
    /// No connection could be made: the request was not sent.
    #[error("cannot connect to {addr}")]
    Connect {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    /// The connection ended without an answer.
    #[error("the connection to {addr} closed without an answer")]
    Closed { addr: SocketAddr },
    /// The connection failed after the request was (or may have been) sent.
    #[error("the connection to {addr} failed")]
    Failed {
        addr: SocketAddr,
        #[source]
        source: hyper::Error,
    },
}

impl SendError {
    /// Whether the request never left the router.
    pub fn is_connect(&self) -> bool {
        matches!(self, Self::Connect { .. })
    }
}

struct Idle {
    conn: Box<Conn>,
    since: Instant,
}

/// The idle connections, by process address.
pub(crate) struct Pool {
    idle: Mutex<HashMap<SocketAddr, Vec<Idle>>>,
    connect_timeout: Duration,
}

impl Pool {
    /// An empty pool, and its sweeper to run: it closes connections idle for longer
    /// than [`IDLE_TIMEOUT`] and ends once the pool is dropped.
    pub fn new(connect_timeout: Duration) -> (Arc<Self>, impl Future<Output = ()> + Send + 'static) {
        let pool = Arc::new(Self { idle: Mutex::new(HashMap::new()), connect_timeout });
        let weak = Arc::downgrade(&pool);
        (pool, sweep(weak))
    }

    /// Sends `request` to `addr` and waits for the response head; the body comes with
    /// the connection, which goes back to the pool once the body is read.
    pub async fn send(
        self: &Arc<Self>,
        addr: SocketAddr,
        mut request: Request<RetryBody>,
    ) -> Result<Response<UpstreamBody>, SendError> {
        loop {
            let (mut conn, reused) = match self.checkout(addr) {
                Some(conn) => (conn, true),
                None => (self.connect(addr).await?, false),
            };
            let mut sending = std::pin::pin!(conn.sender.try_send_request(request));
            let mut polls_after_end = 0;
            let answered = std::future::poll_fn(|cx| {
                if let Poll::Ready(answered) = sending.as_mut().poll(cx) {
                    return Poll::Ready(Some(answered));
                }
                if conn.drive(cx) {
                    return Poll::Pending;
                }
                // A connection that ended fails its request; `sending` learns it on its
                // next poll, and hyper never leaves it waiting, but a request is not
                // left hanging on that.
                polls_after_end += 1;
                if polls_after_end > 1 {
                    return Poll::Ready(None);
                }
                cx.waker().wake_by_ref();
                Poll::Pending
            })
            .await;
            let Some(answered) = answered else { return Err(SendError::Closed { addr }) };
            match answered {
                Ok(response) => {
                    let (parts, body) = response.into_parts();
                    let body = UpstreamBody { body, conn: Some(conn), pool: Arc::downgrade(self) };
                    return Ok(Response::from_parts(parts, body));
                }
                Err(mut failed) => match failed.take_message() {
                    // The process closed a pooled connection before the request went out.
                    Some(unsent) if reused => request = unsent,
                    _ => return Err(SendError::Failed { addr, source: failed.into_error() }),
                },
            }
        }
    }

    /// An idle connection to `addr` that can take a request, if there is one.
    fn checkout(&self, addr: SocketAddr) -> Option<Box<Conn>> {
        let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        let conns = idle.get_mut(&addr)?;
        while let Some(Idle { mut conn, since }) = conns.pop() {
            if since.elapsed() < IDLE_TIMEOUT && conn.usable() {
                return Some(conn);
            }
        }
        None
    }

    /// A new connection to `addr`, boxed once so that a response carries it cheaply.
    async fn connect(&self, addr: SocketAddr) -> Result<Box<Conn>, SendError> {
        let failed = |source| SendError::Connect { addr, source };
        let stream = tokio::time::timeout(self.connect_timeout, TcpStream::connect(addr))
            .await
            .map_err(|_| failed(std::io::ErrorKind::TimedOut.into()))?
            .map_err(failed)?;
        stream.set_nodelay(true).map_err(failed)?;
        let (sender, connection) = http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|source| SendError::Failed { addr, source })?;
        Ok(Box::new(Conn { sender, connection: Box::pin(connection.with_upgrades()), ended: false, addr }))
    }

    /// Keeps `conn` for the next request to its process, when it can take one.
    fn release(&self, mut conn: Box<Conn>) {
        if !conn.usable() {
            return;
        }
        let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        let conns = idle.entry(conn.addr).or_default();
        if conns.len() < MAX_IDLE_PER_PROCESS {
            conns.push(Idle { conn, since: Instant::now() });
        }
    }

    /// Closes the connections idle for `age` or longer.
    fn sweep(&self, age: Duration) {
        let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        idle.retain(|_, conns| {
            conns.retain(|idle| idle.since.elapsed() < age);
            !conns.is_empty()
        });
    }

    /// How many idle connections there are, to every process.
    #[cfg(test)]
    fn idle_count(&self) -> usize {
        self.idle.lock().unwrap_or_else(PoisonError::into_inner).values().map(Vec::len).sum()
    }
}

async fn sweep(pool: Weak<Pool>) {
    loop {
        tokio::time::sleep(SWEEP_INTERVAL).await;
        let Some(pool) = pool.upgrade() else { return };
        pool.sweep(IDLE_TIMEOUT);
    }
}

/// A process's response body, which drives its connection and gives it back to the
/// pool once the body is read to its end.
pub(crate) struct UpstreamBody {
    body: Incoming,
    conn: Option<Box<Conn>>,
    pool: Weak<Pool>,
}

impl UpstreamBody {
    /// The connection, for a response that switched protocols: it runs on `spawn`'s
    /// task until hyper has handed its bytes to the upgrade.
    pub fn into_upgrade_driver(mut self) -> Option<impl Future<Output = ()> + Send + 'static> {
        let conn = self.conn.take().filter(|conn| !conn.ended)?;
        Some(async move {
            let _ = conn.connection.await;
        })
    }

    fn give_back(&mut self) {
        if let (Some(conn), Some(pool)) = (self.conn.take(), self.pool.upgrade()) {
            pool.release(conn);
        }
    }
}

impl Body for UpstreamBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let this = self.get_mut();
        if let Some(conn) = &mut this.conn {
            if !conn.drive(cx) {
                // The body reports how it ended (complete, or cut short).
                this.conn = None;
            }
        }
        let polled = Pin::new(&mut this.body).poll_frame(cx);
        if matches!(polled, Poll::Ready(None)) || this.body.is_end_stream() {
            this.give_back();
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

impl Drop for UpstreamBody {
    fn drop(&mut self) {
        // hyper stops polling a body it knows has ended; one dropped before its end
        // closes its connection, which may still carry the rest of it.
        if self.body.is_end_stream() {
            self.give_back();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    const ANSWER: &[u8] = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok";

    /// A process on a free port that answers every request on a connection with
    /// `ANSWER`, and closes each connection after `per_connection` requests without
    /// saying so; returns its address and how many connections it accepted.
    async fn process(per_connection: usize) -> (SocketAddr, Arc<AtomicUsize>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let accepted = Arc::new(AtomicUsize::new(0));
        let counted = accepted.clone();
        tokio::spawn(async move {
            loop {
                let (mut stream, _) = listener.accept().await.unwrap();
                counted.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(async move {
                    let mut buf = Vec::new();
                    for _ in 0..per_connection {
                        while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                            let mut chunk = [0; 1024];
                            match stream.read(&mut chunk).await {
                                Ok(0) | Err(_) => return,
                                Ok(n) => buf.extend_from_slice(&chunk[..n]),
                            }
                        }
                        let end = buf.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
                        buf.drain(..end);
                        stream.write_all(ANSWER).await.unwrap();
                    }
                });
            }
        });
        (addr, accepted)
    }

    fn get() -> Request<RetryBody> {
        Request::builder().uri("/").header("host", "app.localhost").body(RetryBody::empty()).unwrap()
    }

    async fn body_of(pool: &Arc<Pool>, addr: SocketAddr) -> Bytes {
        let response = pool.send(addr, get()).await.unwrap();
        assert_eq!(response.status(), 200);
        response.into_body().collect().await.unwrap().to_bytes()
    }

    #[tokio::test]
    async fn a_connection_serves_request_after_request() {
        let (addr, accepted) = process(usize::MAX).await;
        let (pool, _) = Pool::new(Duration::from_secs(1));
        for _ in 0..3 {
            assert_eq!(body_of(&pool, addr).await, "ok");
        }
        assert_eq!(accepted.load(Ordering::SeqCst), 1);
        assert_eq!(pool.idle_count(), 1);
    }

    #[tokio::test]
    async fn a_connection_the_process_closed_is_replaced() {
        let (addr, accepted) = process(1).await;
        let (pool, _) = Pool::new(Duration::from_secs(1));
        assert_eq!(body_of(&pool, addr).await, "ok");
        // Let the process's close arrive, as it would while the connection sits idle.
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(body_of(&pool, addr).await, "ok");
        assert_eq!(accepted.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn a_body_dropped_before_its_end_takes_its_connection_along() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut stream, _) = listener.accept().await.unwrap();
            let mut buf = [0; 1024];
            let _ = stream.read(&mut buf).await;
            stream.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nabc").await.unwrap();
            let _ = stream.read(&mut buf).await;
        });
        let (pool, _) = Pool::new(Duration::from_secs(1));
        let response = pool.send(addr, get()).await.unwrap();
        drop(response);
        assert_eq!(pool.idle_count(), 0, "half a body's connection is not reused");
    }

    #[tokio::test]
    async fn no_process_listening_is_a_connect_error() {
        let addr = TcpListener::bind("127.0.0.1:0").await.unwrap().local_addr().unwrap();
        let (pool, _) = Pool::new(Duration::from_secs(1));
        let Err(error) = pool.send(addr, get()).await else { panic!("answered with no process listening") };
        assert!(error.is_connect(), "{error}");
    }

    #[tokio::test]
    async fn the_sweep_closes_connections_idle_too_long() {
        let (addr, _) = process(usize::MAX).await;
        let (pool, _) = Pool::new(Duration::from_secs(1));
        assert_eq!(body_of(&pool, addr).await, "ok");
        pool.sweep(IDLE_TIMEOUT);
        assert_eq!(pool.idle_count(), 1);
        pool.sweep(Duration::ZERO);
        assert_eq!(pool.idle_count(), 0);
    }
}
