//! The router's HTTP/1.1 server: one client connection (plain, or TLS without `h2`),
//! its requests one after another (pipelined ones in order), each read strictly
//! (`request_head`), handed to the proxy, and answered.
//!
//! A connection waits for each request head at most the header read timeout,
//! counted from when the previous answer was written (so it is also the keep-alive
//! idle timeout), and a head that does not come whole in that time closes the
//! connection without an answer. A refused head is answered with its status (400 or
//! 431) and a close, after every request before it. A request body is read off the
//! connection only as the proxy asks for it (`client_body`), after a
//! `100 Continue` when the client expects one; a client that sends nothing of a body
//! for the body read timeout ends it with a `TimedOut` error (the proxy's 408).
//!
//! Answers say `Content-Length` when the body's length is known, else are chunked
//! (close-delimited to HTTP/1.0 clients). What is ready of a body is written with the
//! head in one `writev`. A connection closes after an answer when the client asked,
//! the answer says `Connection: close` (the proxy's refusals), the request's body was
//! not read to its end, or a drain began ([`Phase::Draining`]); once the drain
//! reaches [`Phase::Closing`], a connection waiting for a head with nothing of it
//! received closes. A closing connection reads and drops what the client still sends
//! for a moment ([`LINGER`]), so that a client still sending gets the answer rather
//! than a reset.
//!
//! While a request without a body waits for its answer, the connection is watched for
//! the client leaving, which drops the request and with it the connection to the
//! process (as a `499` would be in nginx's log; nothing is answered).
//!
//! After a request naming `Upgrade`, the bytes that follow are not read as requests:
//! when the process switches protocols, the `101` is written and the connection,
//! with whatever the client sent after its request, goes to the tunnel
//! ([`PendingUpgrade`]); any other answer closes the connection.

use std::future::{poll_fn, Future};
use std::io::{self, IoSlice};
use std::pin::{pin, Pin};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{ready, Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use hyper::body::Body;
use hyper::header::{CONNECTION, CONTENT_LENGTH, DATE, TRANSFER_ENCODING};
use hyper::http::response::Parts;
use hyper::{Method, Request, Response, StatusCode, Version};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf, ReadHalf, WriteHalf};
use tokio::sync::oneshot;
use tokio::time::Instant;

use crate::client_body::{self, BodySender, ClientBody};
use crate::headers::Peer;
use crate::proxy::{self, Listener, Proxy, ProxyBody};
use crate::request_head::{self, BodyFraming, RequestHead};
use crate::signal::{Level, Watcher};
use crate::sleeps::{Sleeps, Timeout};
use crate::upgrade::Rewound;
use crate::upstream_wire::{ChunkedDecoder, Decoded};

/// How much of a connection's input is read at once, and its buffer's size until a
/// head needs more.
const READ_CHUNK: usize = 8 * 1024;

/// How long a closing connection reads and drops what the client still sends.
pub const LINGER: Duration = Duration::from_secs(1);

/// At most this much is read and dropped while lingering.
const LINGER_BYTES: usize = 1 << 20;

/// What ready body data is gathered into one write, at most.
const GATHER_BYTES: usize = 64 * 1024;

/// How far a drain has come, as the server's [`Level`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
#[repr(u8)]
pub(crate) enum Phase {
    /// No drain: connections are kept alive.
    Serving,
    /// HTTP/2 connections were told to go away; HTTP/1.1 answers say
    /// `Connection: close`.
    Draining,
    /// HTTP/1.1 connections close once their request in progress, if any, is answered.
    Closing,
}

/// A client connection, plain or TLS.
pub(crate) trait ClientStream: AsyncRead + AsyncWrite + Unpin + Send + 'static {}

impl<T: AsyncRead + AsyncWrite + Unpin + Send + 'static> ClientStream for T {}

/// The client's connection after a switch of protocols, with what it sent after its
/// upgrade request.
pub(crate) type Upgraded = Rewound<Box<dyn ClientStream>>;

/// Where a request that asks for an upgrade gets its connection, once the `101` is
/// written; in the request's extensions (which hold only what can be cloned: the one
/// who takes it gets it).
#[derive(Clone)]
pub(crate) struct PendingUpgrade(Arc<Mutex<Option<oneshot::Receiver<Upgraded>>>>);

impl PendingUpgrade {
    /// The connection's receiver, to the first who asks.
    pub fn take(&self) -> Option<oneshot::Receiver<Upgraded>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).take()
    }
}

/// What serves every HTTP/1.1 connection.
pub(crate) struct Http1 {
    pub proxy: Arc<Proxy>,
    pub header_read_timeout: Duration,
    pub body_read_timeout: Duration,
    /// The drain's [`Phase`].
    pub phase: Level,
    head_timers: Arc<Sleeps>,
    body_timers: Arc<Sleeps>,
}

impl Http1 {
    pub fn new(
        proxy: Arc<Proxy>,
        header_read_timeout: Duration,
        body_read_timeout: Duration,
        phase: Level,
    ) -> Self {
        Self {
            proxy,
            header_read_timeout,
            body_read_timeout,
            phase,
            head_timers: Arc::default(),
            body_timers: Arc::default(),
        }
    }

    /// Serves the connection `io` from `peer` until it closes.
    pub async fn serve<I: ClientStream>(&self, io: I, peer: Peer, listener: Listener) {
        let (read, write) = tokio::io::split(io);
        let mut reader = Reader::new(read);
        let mut writer = Writer { io: write, out: Vec::with_capacity(512) };
        let mut phase = self.phase.watcher();
        loop {
            let head = match self.next_head(&mut reader, &mut phase).await {
                Next::Head(head) => head,
                Next::Refused(fault) => {
                    tracing::debug!(peer = %peer.addr(), ?fault, "refused a malformed request");
                    let answer = proxy::closing(proxy::page(fault.status()));
                    let _ = writer
                        .answer(answer, &Asked::REFUSED, false, None::<(&mut Pump, &mut Reader<I>)>)
                        .await;
                    return linger(reader, writer).await;
                }
                Next::Closed => return,
            };
            match self.exchange(head, &peer, listener, &mut reader, &mut writer).await {
                Ok(After::KeepAlive) => {}
                Ok(After::Close) => return linger(reader, writer).await,
                Ok(After::Switched(upgrade)) => {
                    let early = Bytes::copy_from_slice(reader.unread());
                    let io: Box<dyn ClientStream> = Box::new(reader.io.unsplit(writer.io));
                    let _ = upgrade.send(Rewound::new(io, early));
                    return;
                }
                Err(e) => {
                    tracing::debug!(peer = %peer.addr(), error = %e, "the connection broke");
                    return;
                }
            }
        }
    }

    /// Reads the next request head, within the header read timeout.
    async fn next_head<R: AsyncRead + Unpin>(&self, reader: &mut Reader<R>, phase: &mut Watcher) -> Next {
        let mut timer = self.head_timers.until(Instant::now() + self.header_read_timeout);
        let mut scanned = 0;
        loop {
            if scanned == 0 {
                // Empty lines before a request line are dropped (RFC 9112, 2.2).
                while reader.unread().starts_with(b"\r\n") {
                    reader.consume(2);
                }
            }
            let unread = reader.unread();
            if !unread.is_empty() {
                match request_head::head_end(unread, &mut scanned) {
                    Ok(Some(end)) => {
                        let head = Bytes::copy_from_slice(&unread[..end]);
                        reader.consume(end);
                        return match request_head::parse_request_head(&head) {
                            Ok(head) => Next::Head(head),
                            Err(fault) => Next::Refused(fault),
                        };
                    }
                    Ok(None) => {}
                    Err(fault) => return Next::Refused(fault),
                }
            }
            let idle = reader.unread().is_empty();
            let read = poll_fn(|cx| {
                if idle && phase.poll_reached(cx, Phase::Closing as u8).is_ready() {
                    return Poll::Ready(None);
                }
                if Pin::new(&mut timer).poll(cx).is_ready() {
                    return Poll::Ready(None);
                }
                reader.poll_fill(cx).map(Some)
            })
            .await;
            match read {
                Some(Ok(n)) if n > 0 => {}
                // The client closed, went quiet for too long, or the drain closes idle
                // connections: a head cut short is dropped with the connection.
                _ => return Next::Closed,
            }
        }
    }

    /// Hands one request to the proxy and writes its answer.
    async fn exchange<R, W>(
        &self,
        head: RequestHead,
        peer: &Peer,
        listener: Listener,
        reader: &mut Reader<R>,
        writer: &mut Writer<W>,
    ) -> io::Result<After>
    where
        R: AsyncRead + Unpin,
        W: AsyncWrite + Unpin,
    {
        let asked = Asked { head: head.method == Method::HEAD, http11: head.version == Version::HTTP_11 };
        let (body, mut pump) = match head.body {
            BodyFraming::Empty => (ClientBody::Empty, None),
            framing => {
                let length = match framing {
                    BodyFraming::Length(length) => Some(length),
                    _ => None,
                };
                let (sender, receiver) = client_body::channel(length);
                let mut pump = Pump::new(
                    sender,
                    framing,
                    head.expects_continue,
                    self.body_timers.clone(),
                    self.body_read_timeout,
                );
                // What came with the head is ready at once: it goes to the process with
                // the head, and broken framing is found before the process hears of it.
                if !reader.unread().is_empty() {
                    pump.take(reader);
                }
                (ClientBody::Http1(receiver), Some(pump))
            }
        };
        let mut request = Request::new(body);
        *request.method_mut() = head.method;
        *request.uri_mut() = head.uri;
        *request.version_mut() = head.version;
        *request.headers_mut() = head.headers;
        let mut upgrade = None;
        if head.upgrade {
            let (sender, receiver) = oneshot::channel();
            request.extensions_mut().insert(PendingUpgrade(Arc::new(Mutex::new(Some(receiver)))));
            upgrade = Some(sender);
        }
        let response = {
            let mut handling = pin!(self.proxy.handle(request, peer.clone(), listener));
            poll_fn(|cx| {
                match &mut pump {
                    Some(pump) if !pump.done() => pump.poll_run(cx, reader, Some(&mut *writer)),
                    // No body to read: the input is watched for the client leaving,
                    // which drops the request (and its connection to the process).
                    _ => {
                        if reader.poll_closed(cx).is_ready() {
                            return Poll::Ready(None);
                        }
                    }
                }
                handling.as_mut().poll(cx).map(Some)
            })
            .await
        };
        let Some(Ok(response)) = response else {
            return Err(io::Error::new(
                io::ErrorKind::ConnectionAborted,
                "the client left before its answer",
            ));
        };
        if response.status() == StatusCode::SWITCHING_PROTOCOLS {
            if let Some(upgrade) = upgrade {
                writer.switch(response).await?;
                return Ok(After::Switched(upgrade));
            }
        }
        let draining = self.phase.get() >= Phase::Draining as u8;
        let body_done = pump.as_ref().is_none_or(Pump::done);
        let keep = head.keep_alive && !draining && body_done && !head.upgrade;
        let pump = pump.as_mut().map(|pump| (pump, &mut *reader));
        Ok(match writer.answer(response, &asked, keep, pump).await? {
            true => After::KeepAlive,
            false => After::Close,
        })
    }
}

/// What came of waiting for a head: returned once per request, which a box would
/// cost an allocation.
#[allow(clippy::large_enum_variant)]
enum Next {
    Head(RequestHead),
    Refused(request_head::Fault),
    Closed,
}

/// What becomes of the connection after an answer.
enum After {
    KeepAlive,
    Close,
    Switched(oneshot::Sender<Upgraded>),
}

/// What the request asked of its answer.
struct Asked {
    /// A `HEAD` request: the answer has no body.
    head: bool,
    http11: bool,
}

impl Asked {
    /// For the answer to a refused head.
    const REFUSED: Self = Self { head: false, http11: true };
}

/// The connection's input: what was read and not yet used, `buf[start..end]`.
struct Reader<R> {
    io: ReadHalf<R>,
    buf: Vec<u8>,
    start: usize,
    end: usize,
}

impl<R> Reader<R> {
    fn unread(&self) -> &[u8] {
        &self.buf[self.start..self.end]
    }

    /// Drops `n` bytes of the input; an empty input starts again at the buffer's start.
    fn consume(&mut self, n: usize) {
        self.start += n;
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
    }
}

impl<R: AsyncRead + Unpin> Reader<R> {
    fn new(io: ReadHalf<R>) -> Self {
        Self { io, buf: vec![0; READ_CHUNK], start: 0, end: 0 }
    }

    /// Ready once the client closed its side (or the connection broke), reading what
    /// comes meanwhile (a pipelined request) while there is room for it.
    fn poll_closed(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        while self.end < self.buf.len() {
            let mut read = ReadBuf::new(&mut self.buf[self.end..]);
            match Pin::new(&mut self.io).poll_read(cx, &mut read) {
                Poll::Ready(Ok(())) if !read.filled().is_empty() => self.end += read.filled().len(),
                Poll::Ready(_) => return Poll::Ready(()),
                Poll::Pending => return Poll::Pending,
            }
        }
        Poll::Pending
    }

    /// Reads more; `Ok(0)` when the client closed its side. The buffer grows for a
    /// head that does not fit, up to the longest head plus a read.
    fn poll_fill(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        if self.end == self.buf.len() {
            if self.start > 0 {
                self.buf.copy_within(self.start..self.end, 0);
                self.end -= self.start;
                self.start = 0;
            } else {
                let grown = (self.buf.len() * 2).min(request_head::MAX_HEAD_BYTES + READ_CHUNK);
                self.buf.resize(grown.max(self.buf.len()), 0);
            }
        }
        if self.end == self.buf.len() {
            // Full with one head's bytes: `head_end` has refused it by now.
            return Poll::Ready(Ok(0));
        }
        let mut read = ReadBuf::new(&mut self.buf[self.end..]);
        ready!(Pin::new(&mut self.io).poll_read(cx, &mut read))?;
        let n = read.filled().len();
        self.end += n;
        Poll::Ready(Ok(n))
    }
}

/// The connection's output.
struct Writer<W> {
    io: WriteHalf<W>,
    /// The head being written.
    out: Vec<u8>,
}

impl<W: AsyncWrite + Unpin> Writer<W> {
    /// Writes `response` as the answer to a request that asked `asked`, keeping the
    /// connection when `keep` and the answer allows; returns whether the connection is
    /// kept. Meanwhile the request body's `pump` goes on reading.
    async fn answer<R: AsyncRead + Unpin>(
        &mut self,
        response: Response<ProxyBody>,
        asked: &Asked,
        keep: bool,
        mut pump: Option<(&mut Pump, &mut Reader<R>)>,
    ) -> io::Result<bool> {
        let mut writing = pin!(self.write_answer(response, asked, keep));
        poll_fn(|cx| {
            if let Some((pump, reader)) = &mut pump {
                pump.poll_run(cx, reader, None::<&mut Writer<W>>);
            }
            writing.as_mut().poll(cx)
        })
        .await
    }

    async fn write_answer(
        &mut self,
        response: Response<ProxyBody>,
        asked: &Asked,
        keep: bool,
    ) -> io::Result<bool> {
        let (parts, mut body) = response.into_parts();
        let bodiless = asked.head
            || parts.status.is_informational()
            || parts.status == StatusCode::NO_CONTENT
            || parts.status == StatusCode::NOT_MODIFIED;
        let says_close = parts.headers.get_all(CONNECTION).iter().any(|value| {
            crate::upstream_wire::comma_tokens(value.as_bytes())
                .any(|token| token.eq_ignore_ascii_case(b"close"))
        });
        let declared = parts
            .headers
            .get(CONTENT_LENGTH)
            .and_then(|value| value.to_str().ok()?.trim().parse::<u64>().ok());
        let length = declared.or_else(|| body.size_hint().exact());
        let framing = match (bodiless, length) {
            (true, _) => Framing::None,
            (false, Some(length)) => Framing::Length(length),
            (false, None) if asked.http11 => Framing::Chunked,
            (false, None) => Framing::UntilClose,
        };
        let keep = keep && !says_close && framing != Framing::UntilClose;
        self.out.clear();
        encode_head(
            &mut self.out,
            &parts,
            framing,
            length.filter(|_| {
                declared.is_none()
                    && !parts.status.is_informational()
                    && parts.status != StatusCode::NO_CONTENT
            }),
            keep,
            asked,
        );
        if framing == Framing::None {
            write_all(&mut self.io, &mut [IoSlice::new(&self.out)]).await?;
            self.io.flush().await?;
            return Ok(keep);
        }
        // The head goes with what is ready of the body; then the rest as it comes.
        let mut head_sent = false;
        loop {
            let (frames, ended) = gather(&mut body, !head_sent).await?;
            let mut slices = Vec::with_capacity(frames.len() * 3 + 2);
            if !head_sent {
                slices.push(IoSlice::new(&self.out));
            }
            let lines: Vec<Bytes> = match framing {
                Framing::Chunked => {
                    frames.iter().map(|data| crate::upstream_wire::chunk_size_line(data.len())).collect()
                }
                _ => Vec::new(),
            };
            for (i, data) in frames.iter().enumerate() {
                if framing == Framing::Chunked {
                    slices.push(IoSlice::new(&lines[i]));
                    slices.push(IoSlice::new(data));
                    slices.push(IoSlice::new(crate::upstream_wire::CHUNK_END));
                } else {
                    slices.push(IoSlice::new(data));
                }
            }
            if ended && framing == Framing::Chunked {
                slices.push(IoSlice::new(crate::upstream_wire::LAST_CHUNK));
            }
            write_all(&mut self.io, &mut slices).await?;
            head_sent = true;
            self.io.flush().await?;
            if ended {
                return Ok(keep);
            }
        }
    }

    /// Writes the head of a `101` answer.
    async fn switch(&mut self, response: Response<ProxyBody>) -> io::Result<()> {
        let (parts, _) = response.into_parts();
        self.out.clear();
        encode_head(&mut self.out, &parts, Framing::None, None, true, &Asked::REFUSED);
        write_all(&mut self.io, &mut [IoSlice::new(&self.out)]).await?;
        self.io.flush().await
    }
}

/// How an answer's body is framed on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Framing {
    None,
    Length(u64),
    Chunked,
    UntilClose,
}

/// Writes the head of an answer: the status line, its headers, then `Content-Length`
/// when `add_length` (a length the headers do not give), `Transfer-Encoding` when
/// chunked, `Date` when missing, and `Connection` when the connection closes (or, to
/// an HTTP/1.0 client, is kept).
fn encode_head(
    out: &mut Vec<u8>,
    parts: &Parts,
    framing: Framing,
    add_length: Option<u64>,
    keep: bool,
    asked: &Asked,
) {
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(parts.status.as_str().as_bytes());
    out.push(b' ');
    match parts.extensions.get::<hyper::ext::ReasonPhrase>() {
        Some(reason) => out.extend_from_slice(reason.as_bytes()),
        None => out.extend_from_slice(parts.status.canonical_reason().unwrap_or("").as_bytes()),
    }
    out.extend_from_slice(b"\r\n");
    let switching = parts.status == StatusCode::SWITCHING_PROTOCOLS;
    for (name, value) in &parts.headers {
        if *name == TRANSFER_ENCODING || (*name == CONNECTION && !switching) {
            continue;
        }
        out.extend_from_slice(name.as_str().as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    if let Some(length) = add_length {
        out.extend_from_slice(b"content-length: ");
        out.extend_from_slice(itoa::Buffer::new().format(length).as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    if framing == Framing::Chunked {
        out.extend_from_slice(b"transfer-encoding: chunked\r\n");
    }
    if !switching {
        if !parts.headers.contains_key(DATE) {
            out.extend_from_slice(b"date: ");
            out.extend_from_slice(&http_date::now());
            out.extend_from_slice(b"\r\n");
        }
        match (keep, asked.http11) {
            (false, _) => out.extend_from_slice(b"connection: close\r\n"),
            (true, false) => out.extend_from_slice(b"connection: keep-alive\r\n"),
            (true, true) => {}
        }
    }
    out.extend_from_slice(b"\r\n");
}

/// The body's frames that are ready, up to [`GATHER_BYTES`] (waiting for the first
/// unless `peek`), and whether the body ended.
async fn gather(body: &mut ProxyBody, peek: bool) -> io::Result<(Vec<Bytes>, bool)> {
    poll_fn(|cx| {
        let mut frames = Vec::new();
        let mut bytes = 0;
        loop {
            match Pin::new(&mut *body).poll_frame(cx) {
                Poll::Ready(Some(Ok(frame))) => {
                    if let Ok(data) = frame.into_data() {
                        if !data.is_empty() {
                            bytes += data.len();
                            frames.push(data);
                        }
                    }
                    if bytes >= GATHER_BYTES {
                        return Poll::Ready(Ok((frames, false)));
                    }
                }
                Poll::Ready(Some(Err(e))) => return Poll::Ready(Err(e)),
                Poll::Ready(None) => return Poll::Ready(Ok((frames, true))),
                Poll::Pending if frames.is_empty() && !peek => return Poll::Pending,
                Poll::Pending => return Poll::Ready(Ok((frames, false))),
            }
        }
    })
    .await
}

/// Writes every byte of `slices`.
async fn write_all<W: AsyncWrite + Unpin>(io: &mut W, mut slices: &mut [IoSlice<'_>]) -> io::Result<()> {
    while !slices.is_empty() {
        let n = poll_fn(|cx| Pin::new(&mut *io).poll_write_vectored(cx, slices)).await?;
        if n == 0 {
            return Err(io::ErrorKind::WriteZero.into());
        }
        IoSlice::advance_slices(&mut slices, n);
    }
    Ok(())
}

/// Closes the connection: the write side first, then what the client still sends is
/// read and dropped for a moment, so that it sees the answer rather than a reset.
async fn linger<R: AsyncRead + Unpin, W: AsyncWrite + Unpin>(mut reader: Reader<R>, mut writer: Writer<W>) {
    let _ = writer.io.shutdown().await;
    let drained = async {
        let mut dropped = 0;
        while dropped < LINGER_BYTES {
            reader.consume(reader.unread().len());
            match poll_fn(|cx| reader.poll_fill(cx)).await {
                Ok(n) if n > 0 => dropped += n,
                _ => return,
            }
        }
    };
    let _ = tokio::time::timeout(LINGER, drained).await;
}

/// Reads a request body off the connection as the proxy asks for it.
struct Pump {
    sender: BodySender,
    state: PumpState,
    /// A `100 Continue` is owed before the first read.
    owes_continue: bool,
    /// How much of `100 Continue` was written.
    continued: usize,
    timers: Arc<Sleeps>,
    timeout: Duration,
    stall: Option<Timeout>,
}

enum PumpState {
    Length(u64),
    Chunked(ChunkedDecoder),
    /// The body ended, failed, or is no longer wanted.
    Done {
        whole: bool,
    },
}

const CONTINUE: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";

impl Pump {
    fn new(
        sender: BodySender,
        framing: BodyFraming,
        expects_continue: bool,
        timers: Arc<Sleeps>,
        timeout: Duration,
    ) -> Self {
        let state = match framing {
            BodyFraming::Length(length) => PumpState::Length(length),
            BodyFraming::Chunked => PumpState::Chunked(ChunkedDecoder::new()),
            BodyFraming::Empty => PumpState::Done { whole: true },
        };
        Self { sender, state, owes_continue: expects_continue, continued: 0, timers, timeout, stall: None }
    }

    /// Whether the body was read to its end, so the next request can follow it.
    fn done(&self) -> bool {
        matches!(self.state, PumpState::Done { whole: true })
    }

    /// Reads what the receiver asks for, as far as it can now. A `100 Continue` owed
    /// is written first, with `writer` (while the answer is being written there is
    /// none, and the body stays unread).
    fn poll_run<R: AsyncRead + Unpin, W: AsyncWrite + Unpin>(
        &mut self,
        cx: &mut Context<'_>,
        reader: &mut Reader<R>,
        mut writer: Option<&mut Writer<W>>,
    ) {
        loop {
            if matches!(self.state, PumpState::Done { .. }) {
                return;
            }
            match self.sender.poll_wanted(cx) {
                Poll::Pending => return,
                Poll::Ready(false) => {
                    self.state = PumpState::Done { whole: false };
                    return;
                }
                Poll::Ready(true) => {}
            }
            if self.owes_continue {
                let Some(writer) = writer.as_deref_mut() else { return };
                while self.continued < CONTINUE.len() {
                    match Pin::new(&mut writer.io).poll_write(cx, &CONTINUE[self.continued..]) {
                        Poll::Ready(Ok(n)) if n > 0 => self.continued += n,
                        Poll::Ready(_) => {
                            return self.fail(io::ErrorKind::BrokenPipe, "cannot write 100 Continue")
                        }
                        Poll::Pending => return,
                    }
                }
                if Pin::new(&mut writer.io).poll_flush(cx).is_pending() {
                    return;
                }
                self.owes_continue = false;
            }
            if !reader.unread().is_empty() {
                self.take(reader);
                continue;
            }
            let timeout = self.timeout;
            let timers = &self.timers;
            let stall = self.stall.get_or_insert_with(|| timers.until(Instant::now() + timeout));
            match reader.poll_fill(cx) {
                Poll::Ready(Ok(0)) => {
                    return self.fail(io::ErrorKind::UnexpectedEof, "the client closed before the body's end")
                }
                Poll::Ready(Ok(_)) => stall.set_deadline(Instant::now() + timeout),
                Poll::Ready(Err(e)) => return self.fail(e.kind(), "cannot read the request body"),
                Poll::Pending => {
                    if Pin::new(stall).poll(cx).is_ready() {
                        return self
                            .fail(io::ErrorKind::TimedOut, "the client stopped sending its request body");
                    }
                    return;
                }
            }
        }
    }

    /// Hands over what the input holds of the body.
    fn take<R>(&mut self, reader: &mut Reader<R>) {
        let unread = &reader.buf[reader.start..reader.end];
        let taken = match &mut self.state {
            PumpState::Length(left) => {
                let n = usize::try_from(*left).map_or(unread.len(), |left| left.min(unread.len()));
                *left -= n as u64;
                let last = *left == 0;
                self.sender.send(Bytes::copy_from_slice(&unread[..n]), last);
                if last {
                    self.state = PumpState::Done { whole: true };
                }
                n
            }
            PumpState::Chunked(decoder) => match decoder.decode(unread) {
                Ok((taken, Decoded::Data(range))) => {
                    self.sender.send(Bytes::copy_from_slice(&unread[range]), false);
                    taken
                }
                Ok((taken, Decoded::NeedMore)) => taken,
                Ok((taken, Decoded::End)) => {
                    self.sender.end();
                    self.state = PumpState::Done { whole: true };
                    taken
                }
                Err(_) => {
                    self.fail(io::ErrorKind::InvalidData, "malformed chunked body");
                    unread.len()
                }
            },
            PumpState::Done { .. } => 0,
        };
        reader.consume(taken);
    }

    fn fail(&mut self, kind: io::ErrorKind, what: &'static str) {
        self.sender.fail(io::Error::new(kind, what));
        self.state = PumpState::Done { whole: false };
    }
}

/// The `Date` of answers that have none, made once a second.
mod http_date {
    use std::cell::RefCell;
    use std::time::{SystemTime, UNIX_EPOCH};

    thread_local! {
        static CACHED: RefCell<(u64, [u8; 29])> = const { RefCell::new((0, [0; 29])) };
    }

    /// Now, as an IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`).
    pub fn now() -> [u8; 29] {
        let now = SystemTime::now();
        let second = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        CACHED.with_borrow_mut(|(at, text)| {
            if *at != second {
                let formatted = httpdate::fmt_http_date(now);
                if formatted.len() == text.len() {
                    text.copy_from_slice(formatted.as_bytes());
                    *at = second;
                }
            }
            *text
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper::header::HeaderValue;

    fn head_of(
        response: Response<ProxyBody>,
        framing: Framing,
        add_length: Option<u64>,
        keep: bool,
        asked: &Asked,
    ) -> String {
        let (parts, _) = response.into_parts();
        let mut out = Vec::new();
        encode_head(&mut out, &parts, framing, add_length, keep, asked);
        String::from_utf8(out).unwrap()
    }

    const ASKED_11: Asked = Asked { head: false, http11: true };

    #[test]
    fn a_head_says_its_framing_and_whether_the_connection_stays() {
        let page = || proxy::page(StatusCode::NOT_FOUND);
        let text = head_of(page(), Framing::Length(10), Some(10), true, &ASKED_11);
        assert!(text.starts_with("HTTP/1.1 404 Not Found\r\n"), "{text}");
        assert!(text.contains("\r\ncontent-length: 10\r\n") && text.contains("\r\ndate: "), "{text}");
        assert!(!text.contains("connection") && text.ends_with("\r\n\r\n"), "{text}");

        let text = head_of(proxy::closing(page()), Framing::Chunked, None, false, &ASKED_11);
        assert!(text.contains("\r\ntransfer-encoding: chunked\r\n"), "{text}");
        assert_eq!(text.matches("connection: close").count(), 1, "{text}");

        let old = Asked { head: false, http11: false };
        assert!(head_of(page(), Framing::Length(1), None, true, &old).contains("connection: keep-alive\r\n"));

        let mut switched = Response::new(page().into_body());
        *switched.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
        switched.headers_mut().insert(CONNECTION, HeaderValue::from_static("upgrade"));
        let text = head_of(switched, Framing::None, None, true, &ASKED_11);
        assert_eq!(text, "HTTP/1.1 101 Switching Protocols\r\nconnection: upgrade\r\n\r\n");
    }

    #[test]
    fn the_date_is_an_imf_fixdate() {
        let date = http_date::now();
        let text = std::str::from_utf8(&date).unwrap();
        assert!(text.ends_with(" GMT") && httpdate::parse_http_date(text).is_ok(), "{text}");
    }
}
