//! The client's side of an HTTP/1.1 connection (plain or TLS) as hyper reads it:
//! every byte goes through a [`HeadScanner`] first, so a request head the router
//! refuses (bare LF, `Content-Length` with `Transfer-Encoding`, ...) reaches hyper as
//! [`head_scan::POISON`], which hyper answers with a 400 and a close once the requests
//! before it are answered; broken chunk framing is a read error (hyper's body error,
//! the router's 400). While a request body is being read, a client that sends nothing
//! for [`RouterConfig::body_read_timeout`](crate::RouterConfig) ends it with a
//! `TimedOut` read error (the router's 408). Writes pass straight through, and after
//! an upgrade request reads do too, untimed.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Sleep;

use crate::head_scan::HeadScanner;

/// How much is read from the client at once.
const READ_CHUNK: usize = 16 * 1024;

/// A client connection whose reads are scanned.
pub(crate) struct ClientIo<I> {
    inner: I,
    peer: SocketAddr,
    scanner: HeadScanner,
    /// What hyper may read and has not read yet, from `ready_at`.
    ready: Vec<u8>,
    ready_at: usize,
    scratch: Box<[u8]>,
    /// The client closed its side.
    eof: bool,
    body_read_timeout: Duration,
    /// Runs while a body read waits for the client.
    stall: Option<Pin<Box<Sleep>>>,
}

impl<I> ClientIo<I> {
    pub fn new(inner: I, peer: SocketAddr, body_read_timeout: Duration) -> Self {
        Self {
            inner,
            peer,
            scanner: HeadScanner::new(),
            ready: Vec::new(),
            ready_at: 0,
            scratch: vec![0; READ_CHUNK].into_boxed_slice(),
            eof: false,
            body_read_timeout,
            stall: None,
        }
    }
}

impl<I: AsyncRead + Unpin> AsyncRead for ClientIo<I> {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        loop {
            if this.ready_at < this.ready.len() {
                let n = buf.remaining().min(this.ready.len() - this.ready_at);
                buf.put_slice(&this.ready[this.ready_at..this.ready_at + n]);
                this.ready_at += n;
                if this.ready_at == this.ready.len() {
                    this.ready.clear();
                    this.ready_at = 0;
                }
                return Poll::Ready(Ok(()));
            }
            if let Some(fault) = this.scanner.fault() {
                // After the poison hyper needs nothing more; a body stops with an error.
                return Poll::Ready(match fault.in_head() {
                    true => Ok(()),
                    false => Err(io::Error::new(io::ErrorKind::InvalidData, "malformed chunked body")),
                });
            }
            if this.eof {
                // A head cut short by the client is dropped with the connection.
                return Poll::Ready(Ok(()));
            }
            if this.scanner.is_opaque() {
                return Pin::new(&mut this.inner).poll_read(cx, buf);
            }
            let mut scratch = ReadBuf::new(&mut this.scratch);
            match Pin::new(&mut this.inner).poll_read(cx, &mut scratch) {
                Poll::Pending => {
                    if !this.scanner.in_body() {
                        return Poll::Pending;
                    }
                    let timeout = this.body_read_timeout;
                    let stall = this.stall.get_or_insert_with(|| Box::pin(tokio::time::sleep(timeout)));
                    ready!(stall.as_mut().poll(cx));
                    this.stall = None;
                    tracing::debug!(peer = %this.peer, ?timeout, "the client stopped sending its request body");
                    return Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        "the client stopped sending its request body",
                    )));
                }
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Ready(Ok(())) => {
                    this.stall = None;
                    let read = scratch.filled();
                    if read.is_empty() {
                        this.eof = true;
                        continue;
                    }
                    if let Err(fault) = this.scanner.feed(read, &mut this.ready) {
                        tracing::debug!(peer = %this.peer, ?fault, "refused a malformed request");
                    }
                }
            }
        }
    }
}

impl<I: AsyncWrite + Unpin> AsyncWrite for ClientIo<I> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::head_scan;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    fn peer() -> SocketAddr {
        "127.0.0.1:1".parse().unwrap()
    }

    #[tokio::test]
    async fn pipelined_requests_pass_and_a_refused_head_ends_in_poison() {
        let (mut client, server) = tokio::io::duplex(1 << 16);
        let mut io = ClientIo::new(server, peer(), Duration::from_secs(5));
        let good = b"GET / HTTP/1.1\r\nhost: a\r\n\r\n";
        client.write_all(good).await.unwrap();
        client.write_all(b"GET / HTTP/1.1\nhost: a\n\n").await.unwrap();
        drop(client);
        let mut read = Vec::new();
        io.read_to_end(&mut read).await.unwrap();
        assert_eq!(read, [&good[..], head_scan::POISON].concat());
    }

    #[tokio::test]
    async fn a_stalled_body_times_out_but_a_stalled_head_is_left_to_hyper() {
        let (mut client, server) = tokio::io::duplex(1 << 16);
        let mut io = ClientIo::new(server, peer(), Duration::from_millis(100));
        client.write_all(b"POST / HTTP/1.1\r\ncontent-length: 10\r\n\r\nabc").await.unwrap();
        let mut buf = vec![0; 1024];
        let n = io.read(&mut buf).await.unwrap();
        assert!(buf[..n].ends_with(b"abc"));
        let err = io.read(&mut buf).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);

        let (mut client, server) = tokio::io::duplex(1 << 16);
        let mut io = ClientIo::new(server, peer(), Duration::from_millis(100));
        client.write_all(b"POST / HTTP/1.1\r\n").await.unwrap();
        let waited = tokio::time::timeout(Duration::from_millis(500), io.read(&mut buf)).await;
        assert!(waited.is_err(), "a head is never timed out here");
    }

    #[tokio::test]
    async fn broken_chunks_are_a_read_error_after_what_came_before() {
        let (mut client, server) = tokio::io::duplex(1 << 16);
        let mut io = ClientIo::new(server, peer(), Duration::from_secs(5));
        let head = b"POST / HTTP/1.1\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n";
        client.write_all(&[&head[..], b"zz\r\n"].concat()).await.unwrap();
        let mut read = vec![0; head.len()];
        io.read_exact(&mut read).await.unwrap();
        assert_eq!(read, head);
        assert_eq!(io.read(&mut [0; 16]).await.unwrap_err().kind(), io::ErrorKind::InvalidData);
    }
}
