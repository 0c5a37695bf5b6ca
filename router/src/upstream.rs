//! The router's connections to processes: HTTP/1.1 keep-alive connections, pooled by
//! process address, spoken by the router itself ([`upstream_wire`] has the bytes) and
//! driven by the request using them, with no task of their own. A request writes its
//! head and body and reads the response head in one future; the response body
//! ([`UpstreamBody`]) reads the rest straight off the connection, and gives the
//! connection back to the pool once the body has ended.
//!
//! An idle connection is checked when it is taken from the pool: one the process
//! closed meanwhile (or that has bytes nobody asked for) is dropped there, without a
//! system call when nothing arrived. A process may still close a connection just as a
//! request is sent on it: a request the connection failed to take at all, and a
//! bodiless request with an idempotent method that got no byte of an answer, go again
//! on a new connection. Idle connections are closed after [`IDLE_TIMEOUT`] (a sweep
//! runs every [`SWEEP_INTERVAL`]), and at most [`MAX_IDLE_PER_PROCESS`] are kept per
//! process. A connection whose response switched protocols (`101`) leaves the pool
//! as a [`Tunnel`], with the bytes the process sent after its `101`.
//!
//! A request body of known length goes as it is; one of unknown length goes in
//! chunks. When the response head arrives before the request body is sent, the rest
//! of the body is not sent and the connection closes after the response.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::task::{ready, Context, Poll, Waker};
use std::time::Duration;

use bytes::{Buf, Bytes};
use hyper::body::{Body, Frame, SizeHint};
use hyper::header::{HeaderName, HeaderValue, CONTENT_LENGTH};
use hyper::{Method, Request, Response, StatusCode};
use rustc_hash::FxHashMap;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::Instant;

use crate::request_body::RetryBody;
use crate::upgrade::Rewound;
use crate::upstream_wire::{self, ChunkedDecoder, Decoded, Framing, HeadError, ResponseHead};

/// How long an idle connection to a process is kept.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(90);
/// How often idle connections past [`IDLE_TIMEOUT`] are closed.
pub const SWEEP_INTERVAL: Duration = Duration::from_secs(15);
/// The most idle connections kept to one process.
pub const MAX_IDLE_PER_PROCESS: usize = 1024;
/// How much of a process's answer is read at once; a response head may grow the
/// buffer up to [`upstream_wire::MAX_HEAD_BYTES`].
const READ_BYTES: usize = 16 * 1024;

/// One connection to a process, with what was read from it and not used yet.
struct Conn {
    stream: TcpStream,
    /// Bytes from the process: `read[start..end]` are not used yet. The whole buffer
    /// is initialised once, when the connection is made.
    read: Vec<u8>,
    start: usize,
    end: usize,
    /// The request head being written.
    head: Vec<u8>,
    addr: SocketAddr,
}

impl Conn {
    fn new(stream: TcpStream, addr: SocketAddr) -> Self {
        Self { stream, read: vec![0; READ_BYTES], start: 0, end: 0, head: Vec::with_capacity(1024), addr }
    }

    /// What was read and not used yet.
    fn buffered(&self) -> &[u8] {
        &self.read[self.start..self.end]
    }

    /// Marks `n` buffered bytes used.
    fn consume(&mut self, n: usize) {
        self.start += n;
        if self.start == self.end {
            (self.start, self.end) = (0, 0);
        }
    }

    /// Reads what the process sent; `0` once it closed its side.
    fn poll_fill(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        if self.end == self.read.len() {
            if self.start > 0 {
                self.read.copy_within(self.start..self.end, 0);
                (self.start, self.end) = (0, self.end - self.start);
            } else if self.read.len() < upstream_wire::MAX_HEAD_BYTES {
                self.read.resize(upstream_wire::MAX_HEAD_BYTES, 0);
            } else {
                return Poll::Ready(Err(io::Error::other("the read buffer is full")));
            }
        }
        let mut buf = ReadBuf::new(&mut self.read[self.end..]);
        ready!(Pin::new(&mut self.stream).poll_read(cx, &mut buf))?;
        let n = buf.filled().len();
        self.end += n;
        Poll::Ready(Ok(n))
    }

    /// Whether the connection can take a request: nothing is buffered, and the process
    /// neither closed it nor sent anything since. Costs a system call only when the
    /// socket is readable.
    fn usable(&mut self) -> bool {
        if self.start != self.end {
            return false;
        }
        let mut cx = Context::from_waker(Waker::noop());
        match self.stream.poll_read_ready(&mut cx) {
            Poll::Pending => true,
            Poll::Ready(Err(_)) => false,
            Poll::Ready(Ok(())) => {
                matches!(self.stream.try_read(&mut [0; 1]), Err(e) if e.kind() == io::ErrorKind::WouldBlock)
            }
        }
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
        source: io::Error,
    },
    /// The connection ended without an answer.
    #[error("the connection to {addr} closed without an answer")]
    Closed { addr: SocketAddr },
    /// The connection failed after the request was (or may have been) sent.
    #[error("the connection to {addr} failed")]
    Failed {
        addr: SocketAddr,
        #[source]
        source: io::Error,
    },
    /// The process's answer was not a response head the router takes.
    #[error("the process at {addr} answered with a bad response head")]
    BadHead {
        addr: SocketAddr,
        #[source]
        source: HeadError,
    },
    /// The client's request body failed (its fault is in the body's slot).
    #[error("the request body failed")]
    Body {
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

impl SendError {
    /// Whether the request never left the router.
    pub fn is_connect(&self) -> bool {
        matches!(self, Self::Connect { .. })
    }
}

/// How an exchange on one connection failed.
struct Failure {
    error: SendError,
    /// Nothing reached the process, or nothing came back: the request may go again on
    /// a new connection when the pooled one was reused.
    unanswered: Unanswered,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Unanswered {
    /// Not a byte of the request was taken, and none of its body read.
    Unsent,
    /// The request was sent and the connection ended before any answer.
    NoAnswer,
    /// Something came back, or the failure was not the connection's.
    No,
}

struct Idle {
    conn: Conn,
    since: Instant,
}

/// The idle connections, by process address.
pub(crate) struct Pool {
    idle: Mutex<FxHashMap<SocketAddr, Vec<Idle>>>,
    connect_timeout: Duration,
}

impl Pool {
    /// An empty pool, and its sweeper to run: it closes connections idle for longer
    /// than [`IDLE_TIMEOUT`] and ends once the pool is dropped.
    pub fn new(connect_timeout: Duration) -> (Arc<Self>, impl Future<Output = ()> + Send + 'static) {
        let pool = Arc::new(Self { idle: Mutex::new(FxHashMap::default()), connect_timeout });
        let weak = Arc::downgrade(&pool);
        (pool, sweep(weak))
    }

    /// Sends `request` (origin-form target, headers ready, `added` after them) to
    /// `addr` and waits for the response head; the body comes with the connection,
    /// which goes back to the pool once the body is read.
    pub async fn send(
        self: &Arc<Self>,
        addr: SocketAddr,
        request: Request<RetryBody>,
        added: &[(HeaderName, HeaderValue)],
    ) -> Result<Response<UpstreamBody>, SendError> {
        let (parts, mut body) = request.into_parts();
        let has_length = parts.headers.contains_key(CONTENT_LENGTH);
        let bodiless = body.is_end_stream();
        let chunked = !bodiless && !has_length;
        let empty_length = bodiless && !has_length && method_has_body(&parts.method);
        let target = parts.uri.path_and_query().map_or("/", |pq| pq.as_str());
        let again_unanswered = bodiless && parts.method.is_idempotent();
        loop {
            let (mut conn, reused) = match self.checkout(addr) {
                Some(conn) => (conn, true),
                None => (self.connect(addr).await?, false),
            };
            conn.head.clear();
            upstream_wire::write_request_head(
                &mut conn.head,
                &parts.method,
                target,
                &parts.headers,
                added,
                chunked,
                empty_length,
            );
            match exchange(&mut conn, &mut body, chunked, &parts.method).await {
                Ok((head, sent_whole)) => return Ok(self.response(conn, head, sent_whole)),
                Err(Failure { unanswered: Unanswered::Unsent, .. }) if reused => {}
                Err(Failure { unanswered: Unanswered::NoAnswer, .. }) if reused && again_unanswered => {}
                Err(Failure { error, .. }) => return Err(error),
            }
            tracing::debug!(%addr, "a pooled connection closed under a request; it goes on a new one");
        }
    }

    fn response(
        self: &Arc<Self>,
        conn: Conn,
        head: ResponseHead,
        sent_whole: bool,
    ) -> Response<UpstreamBody> {
        let ResponseHead { status, version, headers, reason, framing, keep_alive } = head;
        let keep = keep_alive && sent_whole && status != StatusCode::SWITCHING_PROTOCOLS;
        let body = UpstreamBody::new(conn, framing, keep, Arc::downgrade(self));
        let mut response = Response::new(body);
        *response.status_mut() = status;
        *response.version_mut() = version;
        *response.headers_mut() = headers;
        if let Some(reason) = reason {
            response.extensions_mut().insert(reason);
        }
        response
    }

    /// An idle connection to `addr` that can take a request, if there is one.
    fn checkout(&self, addr: SocketAddr) -> Option<Conn> {
        let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        let conns = idle.get_mut(&addr)?;
        while let Some(Idle { mut conn, since }) = conns.pop() {
            if since.elapsed() < IDLE_TIMEOUT && conn.usable() {
                return Some(conn);
            }
        }
        None
    }

    /// A new connection to `addr`.
    async fn connect(&self, addr: SocketAddr) -> Result<Conn, SendError> {
        let failed = |source| SendError::Connect { addr, source };
        let stream = tokio::time::timeout(self.connect_timeout, TcpStream::connect(addr))
            .await
            .map_err(|_| failed(io::ErrorKind::TimedOut.into()))?
            .map_err(failed)?;
        stream.set_nodelay(true).map_err(failed)?;
        Ok(Conn::new(stream, addr))
    }

    /// Keeps `conn` for the next request to its process, when it can take one.
    fn release(&self, mut conn: Conn) {
        if !conn.usable() {
            return;
        }
        // A long response head grew the buffer: an idle connection keeps the usual size.
        if conn.read.len() > READ_BYTES {
            conn.read.truncate(READ_BYTES);
            conn.read.shrink_to_fit();
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

/// Whether a request with `method` is expected to have a body, so that one sent
/// without says `Content-Length: 0`.
fn method_has_body(method: &Method) -> bool {
    matches!(*method, Method::POST | Method::PUT | Method::PATCH)
}

/// Writes the request in `conn.head` and then `body` on `conn`, while reading the
/// answer, up to the end of a final response head (`1xx` answers other than `101`
/// are skipped). Returns the head and whether the whole request was sent.
async fn exchange(
    conn: &mut Conn,
    body: &mut RetryBody,
    chunked: bool,
    method: &Method,
) -> Result<(ResponseHead, bool), Failure> {
    let addr = conn.addr;
    let mut written = 0;
    // Body frames (and chunk framing) read from the client and not yet written: at
    // most three, as the body is polled only once they are.
    let mut queued: Vec<Bytes> = Vec::new();
    let mut body_read = body.is_end_stream();
    // Whether body data was taken from the client: a request that did is never sent
    // again, since what was taken is gone with this attempt.
    let mut took_data = false;
    let mut answered = false;
    std::future::poll_fn(|cx| {
        // Write what can be written without waiting: the head, with the body's first
        // frame when it is there (one write, and a body that fails at once never
        // sends the head), then the rest of the body as it comes.
        loop {
            let mut body_waits = false;
            if !body_read && queued.is_empty() {
                match Pin::new(&mut *body).poll_frame(cx) {
                    Poll::Pending => body_waits = true,
                    Poll::Ready(None) => {
                        body_read = true;
                        if chunked {
                            queued.push(Bytes::from_static(upstream_wire::LAST_CHUNK));
                        }
                    }
                    Poll::Ready(Some(Err(source))) => {
                        let error = SendError::Body { source };
                        return Poll::Ready(Err(Failure { error, unanswered: Unanswered::No }));
                    }
                    // Trailers of the client's body are not passed on.
                    Poll::Ready(Some(Ok(frame))) => match frame.into_data() {
                        Ok(data) if data.is_empty() => {}
                        Ok(data) => {
                            took_data = true;
                            match chunked {
                                true => queued.extend([
                                    upstream_wire::chunk_size_line(data.len()),
                                    data,
                                    Bytes::from_static(upstream_wire::CHUNK_END),
                                ]),
                                false => queued.push(data),
                            }
                        }
                        Err(_trailers) => {}
                    },
                }
            }
            let head = &conn.head[written..];
            if head.is_empty() && queued.is_empty() {
                match body_read || body_waits {
                    true => break,
                    false => continue,
                }
            }
            let mut slices = [io::IoSlice::new(&[]); 4];
            let mut count = 0;
            for part in
                std::iter::once(head).filter(|head| !head.is_empty()).chain(queued.iter().map(|q| &q[..]))
            {
                slices[count] = io::IoSlice::new(part);
                count += 1;
            }
            match Pin::new(&mut conn.stream).poll_write_vectored(cx, &slices[..count]) {
                Poll::Pending => break,
                Poll::Ready(Ok(n)) if n > 0 => {
                    let from_head = n.min(head.len());
                    written += from_head;
                    let mut rest = n - from_head;
                    while rest > 0 {
                        let k = rest.min(queued[0].len());
                        queued[0].advance(k);
                        rest -= k;
                        if queued[0].is_empty() {
                            queued.remove(0);
                        }
                    }
                }
                Poll::Ready(result) => {
                    let source = result.err().unwrap_or_else(|| io::ErrorKind::WriteZero.into());
                    let unsent = written == 0 && !took_data;
                    let unanswered = if unsent { Unanswered::Unsent } else { Unanswered::No };
                    return Poll::Ready(Err(Failure {
                        error: SendError::Failed { addr, source },
                        unanswered,
                    }));
                }
            }
        }
        // Read the answer.
        loop {
            match upstream_wire::parse_response_head(conn.buffered(), method) {
                Ok(Some((head, len))) => {
                    conn.consume(len);
                    if head.status.is_informational() && head.status != StatusCode::SWITCHING_PROTOCOLS {
                        answered = true;
                        continue;
                    }
                    let sent_whole = body_read && queued.is_empty() && written == conn.head.len();
                    return Poll::Ready(Ok((head, sent_whole)));
                }
                Ok(None) => {}
                Err(source) => {
                    return Poll::Ready(Err(Failure {
                        error: SendError::BadHead { addr, source },
                        unanswered: Unanswered::No,
                    }))
                }
            }
            let nothing_back = !answered && conn.buffered().is_empty();
            let unanswered = if nothing_back { Unanswered::NoAnswer } else { Unanswered::No };
            match ready!(conn.poll_fill(cx)) {
                Ok(0) => return Poll::Ready(Err(Failure { error: SendError::Closed { addr }, unanswered })),
                Ok(_) => {}
                Err(source) => {
                    return Poll::Ready(Err(Failure {
                        error: SendError::Failed { addr, source },
                        unanswered,
                    }))
                }
            }
        }
    })
    .await
}

async fn sweep(pool: Weak<Pool>) {
    loop {
        tokio::time::sleep(SWEEP_INTERVAL).await;
        let Some(pool) = pool.upgrade() else { return };
        pool.sweep(IDLE_TIMEOUT);
    }
}

/// How far a response body has been read.
enum Reading {
    /// This many bytes to come.
    Length(u64),
    Chunked(ChunkedDecoder),
    UntilClose,
    /// The body ended; its connection is back in the pool or closed.
    Done,
}

/// A process's response body, read straight off its connection, which goes back to
/// the pool once the body has ended.
pub(crate) struct UpstreamBody {
    /// None once the body ended (or failed).
    conn: Option<Conn>,
    reading: Reading,
    /// Whether the connection can be kept after the body.
    keep: bool,
    pool: Weak<Pool>,
}

/// What one step of reading a body found.
enum Step {
    Frame(Bytes),
    /// More must be read first.
    Fill,
    End,
    Failed(io::Error),
}

impl UpstreamBody {
    fn new(conn: Conn, framing: Framing, keep: bool, pool: Weak<Pool>) -> Self {
        let reading = match framing {
            Framing::Empty | Framing::Length(0) => Reading::Done,
            Framing::Length(n) => Reading::Length(n),
            Framing::Chunked => Reading::Chunked(ChunkedDecoder::new()),
            Framing::UntilClose => Reading::UntilClose,
        };
        let mut body = Self { conn: Some(conn), reading, keep, pool };
        // A body with nothing in it is never polled; a switch keeps its connection
        // for the tunnel.
        if matches!(body.reading, Reading::Done) && body.keep {
            body.finish();
        }
        body
    }

    /// The connection, for a response that switched protocols, with the bytes the
    /// process sent after the `101`.
    pub fn into_tunnel(mut self) -> Option<Tunnel> {
        let conn = self.conn.take()?;
        let early = Bytes::copy_from_slice(conn.buffered());
        Some(Rewound::new(conn.stream, early))
    }

    /// The body ended: its connection goes back to the pool when it can be kept.
    fn finish(&mut self) {
        self.reading = Reading::Done;
        if let (Some(conn), true, Some(pool)) = (self.conn.take(), self.keep, self.pool.upgrade()) {
            pool.release(conn);
        }
    }

    /// Takes the next frame from what is buffered, if there is one.
    fn step(conn: &mut Conn, reading: &mut Reading) -> Step {
        let buffered = conn.buffered();
        match reading {
            Reading::Done => Step::End,
            Reading::Length(left) => {
                if buffered.is_empty() {
                    return Step::Fill;
                }
                let n = buffered.len().min(usize::try_from(*left).unwrap_or(usize::MAX));
                let data = Bytes::copy_from_slice(&buffered[..n]);
                conn.consume(n);
                *left -= n as u64;
                Step::Frame(data)
            }
            Reading::Chunked(decoder) => match decoder.decode(buffered) {
                Ok((taken, Decoded::Data(range))) => {
                    let data = Bytes::copy_from_slice(&buffered[range]);
                    conn.consume(taken);
                    Step::Frame(data)
                }
                Ok((taken, decoded)) => {
                    conn.consume(taken);
                    if decoded == Decoded::End {
                        Step::End
                    } else {
                        Step::Fill
                    }
                }
                Err(e) => Step::Failed(io::Error::new(io::ErrorKind::InvalidData, e)),
            },
            Reading::UntilClose if buffered.is_empty() => Step::Fill,
            Reading::UntilClose => {
                let data = Bytes::copy_from_slice(buffered);
                let n = data.len();
                conn.consume(n);
                Step::Frame(data)
            }
        }
    }
}

impl Body for UpstreamBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        let this = self.get_mut();
        loop {
            let Some(conn) = &mut this.conn else { return Poll::Ready(None) };
            match Self::step(conn, &mut this.reading) {
                Step::Frame(data) => {
                    // The last bytes of a body give its connection back at once: a server
                    // polls no further once the body says it has ended.
                    if matches!(this.reading, Reading::Length(0)) {
                        this.finish();
                    }
                    return Poll::Ready(Some(Ok(Frame::data(data))));
                }
                Step::End => {
                    this.finish();
                    return Poll::Ready(None);
                }
                Step::Failed(e) => {
                    this.conn = None;
                    return Poll::Ready(Some(Err(e)));
                }
                Step::Fill => match ready!(conn.poll_fill(cx)) {
                    Ok(0) if matches!(this.reading, Reading::UntilClose) => {
                        this.keep = false;
                        this.finish();
                        return Poll::Ready(None);
                    }
                    Ok(0) => {
                        this.conn = None;
                        return Poll::Ready(Some(Err(io::Error::new(
                            io::ErrorKind::UnexpectedEof,
                            "the process closed the connection before the end of the body",
                        ))));
                    }
                    Ok(_) => {}
                    Err(e) => {
                        this.conn = None;
                        return Poll::Ready(Some(Err(e)));
                    }
                },
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        matches!(self.reading, Reading::Done | Reading::Length(0))
    }

    fn size_hint(&self) -> SizeHint {
        match self.reading {
            Reading::Done => SizeHint::with_exact(0),
            Reading::Length(left) => SizeHint::with_exact(left),
            _ => SizeHint::default(),
        }
    }
}

/// A connection to a process after it switched protocols: the bytes it sent after its
/// `101`, then the connection itself.
pub(crate) type Tunnel = Rewound<TcpStream>;

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
        let response = pool.send(addr, get(), &[]).await.unwrap();
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
        let response = pool.send(addr, get(), &[]).await.unwrap();
        drop(response);
        assert_eq!(pool.idle_count(), 0, "half a body's connection is not reused");
    }

    #[tokio::test]
    async fn no_process_listening_is_a_connect_error() {
        let addr = TcpListener::bind("127.0.0.1:0").await.unwrap().local_addr().unwrap();
        let (pool, _) = Pool::new(Duration::from_secs(1));
        let Err(error) = pool.send(addr, get(), &[]).await else {
            panic!("answered with no process listening")
        };
        assert!(error.is_connect(), "{error}");
    }

    /// What a scripted process does with a request.
    #[derive(Clone, Copy)]
    enum Answer {
        Send(&'static [u8]),
        /// Sends this and closes the connection.
        SendAndClose(&'static [u8]),
        /// Closes the connection without an answer.
        Close,
    }

    /// A process that answers the requests it gets, on whatever connection, with
    /// `answers` in turn, and keeps every request's bytes (head, and a body by its
    /// length or chunks).
    async fn scripted(answers: Vec<Answer>) -> (SocketAddr, Arc<Mutex<Vec<Vec<u8>>>>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let kept = seen.clone();
        tokio::spawn(async move {
            let mut answers = answers.into_iter();
            loop {
                let (mut stream, _) = listener.accept().await.unwrap();
                let mut buf = Vec::new();
                loop {
                    let Some(request) = read_request(&mut stream, &mut buf).await else { break };
                    kept.lock().unwrap().push(request);
                    match answers.next().unwrap_or(Answer::Close) {
                        Answer::Send(answer) => stream.write_all(answer).await.unwrap(),
                        Answer::SendAndClose(answer) => {
                            stream.write_all(answer).await.unwrap();
                            break;
                        }
                        Answer::Close => break,
                    }
                }
            }
        });
        (addr, seen)
    }

    /// One request off `stream` (`buf` keeps what was read beyond it).
    async fn read_request(stream: &mut tokio::net::TcpStream, buf: &mut Vec<u8>) -> Option<Vec<u8>> {
        let complete = |buf: &[u8]| {
            let head_end = buf.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
            let head = String::from_utf8_lossy(&buf[..head_end]).to_lowercase();
            if head.contains("transfer-encoding: chunked") {
                return Some(buf[head_end..].windows(5).position(|w| w == b"0\r\n\r\n")? + head_end + 5);
            }
            let length = head
                .lines()
                .find_map(|line| line.strip_prefix("content-length: "))
                .map_or(0, |n| n.trim().parse::<usize>().unwrap());
            (buf.len() >= head_end + length).then_some(head_end + length)
        };
        loop {
            if let Some(end) = complete(buf) {
                return Some(buf.drain(..end).collect());
            }
            let mut chunk = [0; 4096];
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return None,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
    }

    fn request(method: Method, body: RetryBody) -> Request<RetryBody> {
        let mut request = Request::builder().method(method).uri("/x?y").body(body).unwrap();
        request.headers_mut().insert("host", "app.localhost".parse().unwrap());
        request
    }

    #[tokio::test]
    async fn chunked_and_until_close_bodies_are_read_to_their_end() {
        let chunked: &[u8] =
            b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n2;x\r\nde\r\n0\r\n\r\n";
        let to_close: &[u8] = b"HTTP/1.1 200 OK\r\n\r\nuntil the end";
        let (addr, seen) =
            scripted(vec![Answer::Send(chunked), Answer::Send(ANSWER), Answer::SendAndClose(to_close)]).await;
        let (pool, _) = Pool::new(Duration::from_secs(1));
        let response = pool.send(addr, get(), &[]).await.unwrap();
        assert!(
            !response.headers().contains_key("transfer-encoding")
                || response.headers()["transfer-encoding"] == "chunked"
        );
        assert_eq!(response.into_body().collect().await.unwrap().to_bytes(), "abcde");
        assert_eq!(pool.idle_count(), 1, "a chunked body's connection is kept");
        assert_eq!(body_of(&pool, addr).await, "ok");
        let response = pool.send(addr, get(), &[]).await.unwrap();
        assert_eq!(response.into_body().collect().await.unwrap().to_bytes(), "until the end");
        assert_eq!(pool.idle_count(), 0, "a body up to the close takes its connection along");
        assert_eq!(seen.lock().unwrap().len(), 3);
    }

    #[tokio::test]
    async fn a_pooled_connection_closed_under_a_get_is_replaced_but_not_under_a_post() {
        let (addr, seen) = scripted(vec![Answer::Send(ANSWER), Answer::Close, Answer::Send(ANSWER)]).await;
        let (pool, _) = Pool::new(Duration::from_secs(1));
        assert_eq!(body_of(&pool, addr).await, "ok");
        assert_eq!(body_of(&pool, addr).await, "ok", "the GET went again on a new connection");
        assert_eq!(seen.lock().unwrap().len(), 3);

        let (addr, seen) = scripted(vec![Answer::Send(ANSWER), Answer::Close, Answer::Send(ANSWER)]).await;
        assert_eq!(body_of(&pool, addr).await, "ok");
        let Err(error) = pool.send(addr, request(Method::POST, RetryBody::empty()), &[]).await else {
            panic!("a POST that may have been served was sent again")
        };
        assert!(matches!(error, SendError::Closed { .. }), "{error}");
        assert_eq!(seen.lock().unwrap().len(), 2);
    }

    #[tokio::test]
    async fn the_request_says_how_its_body_is_framed() {
        let (addr, seen) = scripted(vec![Answer::Send(ANSWER), Answer::Send(ANSWER)]).await;
        let (pool, _) = Pool::new(Duration::from_secs(1));
        let response = pool.send(addr, request(Method::PUT, RetryBody::empty()), &[]).await.unwrap();
        assert_eq!(response.into_body().collect().await.unwrap().to_bytes(), "ok");
        let mut delete = request(Method::DELETE, RetryBody::empty());
        delete.headers_mut().append("x-a", "1".parse().unwrap());
        delete.headers_mut().append("x-a", "2".parse().unwrap());
        let response = pool.send(addr, delete, &[]).await.unwrap();
        assert_eq!(response.into_body().collect().await.unwrap().to_bytes(), "ok");
        let seen = seen.lock().unwrap();
        assert_eq!(seen[0], b"PUT /x?y HTTP/1.1\r\nhost: app.localhost\r\ncontent-length: 0\r\n\r\n");
        assert_eq!(seen[1], b"DELETE /x?y HTTP/1.1\r\nhost: app.localhost\r\nx-a: 1\r\nx-a: 2\r\n\r\n");
    }

    #[tokio::test]
    async fn interim_answers_are_skipped_and_a_switch_keeps_what_came_after_it() {
        let continued: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nlink: </a>\r\n\r\nHTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok";
        let (addr, _) = scripted(vec![Answer::Send(continued)]).await;
        let (pool, _) = Pool::new(Duration::from_secs(1));
        assert_eq!(body_of(&pool, addr).await, "ok");

        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut stream, _) = listener.accept().await.unwrap();
            read_request(&mut stream, &mut Vec::new()).await.unwrap();
            stream
                .write_all(
                    b"HTTP/1.1 101 Switching Protocols\r\nupgrade: x\r\nconnection: upgrade\r\n\r\nearly",
                )
                .await
                .unwrap();
            let mut ping = [0; 4];
            stream.read_exact(&mut ping).await.unwrap();
            stream.write_all(b"pong").await.unwrap();
        });
        let response = pool.send(addr, get(), &[]).await.unwrap();
        assert_eq!(response.status(), StatusCode::SWITCHING_PROTOCOLS);
        let mut tunnel = response.into_body().into_tunnel().unwrap();
        tunnel.write_all(b"ping").await.unwrap();
        let mut answer = Vec::new();
        tunnel.read_to_end(&mut answer).await.unwrap();
        assert_eq!(answer, b"earlypong");
        assert_eq!(
            pool.idle_count(),
            1,
            "only the first process's connection is idle: the switched one left"
        );
    }

    #[tokio::test]
    async fn a_bad_answer_is_an_error_and_its_connection_is_dropped() {
        let bad: &[u8] = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\ncontent-length: 3\r\n\r\nok";
        let broken_chunks: &[u8] = b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n2\r\nok\nzz";
        let (addr, _) = scripted(vec![Answer::Send(bad), Answer::Send(broken_chunks)]).await;
        let (pool, _) = Pool::new(Duration::from_secs(1));
        let Err(error) = pool.send(addr, get(), &[]).await else { panic!("a double length was taken") };
        assert!(matches!(error, SendError::BadHead { source: HeadError::ContentLength, .. }), "{error}");
        let response = pool.send(addr, get(), &[]).await.unwrap();
        let error = response.into_body().collect().await.unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::InvalidData);
        assert_eq!(pool.idle_count(), 0);
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
