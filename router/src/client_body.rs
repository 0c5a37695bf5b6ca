//! A client's request body as the proxy reads it: none, an HTTP/2 stream's (hyper's
//! `Incoming`), or an HTTP/1.1 body that the connection's server (`http1`) reads off
//! the client's connection one frame at a time, when the proxy asks for the next one.
//! Nothing of an HTTP/1.1 body is read before the proxy wants it, so a `100 Continue`
//! goes out only then, and a process that stops reading stops the client too.
//!
//! The HTTP/1.1 side is a channel of one frame: the server's [`BodySender`] learns
//! that the [`BodyReceiver`] waits ([`BodySender::poll_wanted`]), reads, and hands
//! over what it read, the end, or what went wrong (the client stopped sending: a
//! `TimedOut` error; broken chunk framing: `InvalidData`; the connection closed:
//! `UnexpectedEof`).

use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};

use bytes::Bytes;
use hyper::body::{Body, Frame, Incoming, SizeHint};

/// What a body fails with.
pub(crate) type BodyError = Box<dyn std::error::Error + Send + Sync>;

/// A request's body from the client.
pub(crate) enum ClientBody {
    /// No body.
    Empty,
    /// An HTTP/1.1 body, read by the connection's server.
    Http1(BodyReceiver),
    /// An HTTP/2 stream's body.
    Http2(Incoming),
}

impl Body for ClientBody {
    type Data = Bytes;
    type Error = BodyError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BodyError>>> {
        match self.get_mut() {
            Self::Empty => Poll::Ready(None),
            Self::Http1(receiver) => receiver.poll_frame(cx),
            Self::Http2(incoming) => Pin::new(incoming).poll_frame(cx).map_err(Into::into),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            Self::Empty => true,
            Self::Http1(receiver) => receiver.is_end_stream(),
            Self::Http2(incoming) => incoming.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            Self::Empty => SizeHint::with_exact(0),
            Self::Http1(receiver) => receiver.size_hint(),
            Self::Http2(incoming) => incoming.size_hint(),
        }
    }
}

/// A channel for an HTTP/1.1 body of `length` bytes (`None`: chunked).
pub(crate) fn channel(length: Option<u64>) -> (BodySender, BodyReceiver) {
    let shared = Arc::new(Mutex::new(Shared::default()));
    (BodySender { shared: shared.clone() }, BodyReceiver { shared, left: length })
}

#[derive(Default)]
struct Shared {
    /// Read and not yet taken.
    frame: Option<io::Result<Bytes>>,
    /// The body ended (after `frame`, if any).
    ended: bool,
    /// The receiver waits for a frame.
    wanted: bool,
    /// The receiver was dropped: nothing more is wanted.
    abandoned: bool,
    receiver: Option<Waker>,
    sender: Option<Waker>,
}

fn lock(shared: &Mutex<Shared>) -> MutexGuard<'_, Shared> {
    shared.lock().unwrap_or_else(PoisonError::into_inner)
}

fn wake(waker: &mut Option<Waker>) {
    if let Some(waker) = waker.take() {
        waker.wake();
    }
}

/// The proxy's side: the body's frames as the server reads them.
pub(crate) struct BodyReceiver {
    shared: Arc<Mutex<Shared>>,
    /// Bytes still to come, when the length is known.
    left: Option<u64>,
}

impl BodyReceiver {
    fn poll_frame(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, BodyError>>> {
        let mut shared = lock(&self.shared);
        if let Some(frame) = shared.frame.take() {
            return Poll::Ready(Some(match frame {
                Ok(data) => {
                    if let Some(left) = &mut self.left {
                        *left = left.saturating_sub(data.len() as u64);
                    }
                    Ok(Frame::data(data))
                }
                Err(e) => Err(e.into()),
            }));
        }
        if shared.ended {
            return Poll::Ready(None);
        }
        shared.wanted = true;
        if !shared.receiver.as_ref().is_some_and(|waker| waker.will_wake(cx.waker())) {
            shared.receiver = Some(cx.waker().clone());
        }
        wake(&mut shared.sender);
        Poll::Pending
    }

    fn is_end_stream(&self) -> bool {
        let shared = lock(&self.shared);
        shared.ended && shared.frame.is_none()
    }

    fn size_hint(&self) -> SizeHint {
        match self.left {
            Some(left) => SizeHint::with_exact(left),
            None => SizeHint::default(),
        }
    }
}

impl Drop for BodyReceiver {
    fn drop(&mut self) {
        let mut shared = lock(&self.shared);
        shared.abandoned = true;
        wake(&mut shared.sender);
    }
}

/// The server's side: where it hands over what it read.
pub(crate) struct BodySender {
    shared: Arc<Mutex<Shared>>,
}

impl BodySender {
    /// Ready with `true` once the receiver waits for a frame (and none is waiting for
    /// it), with `false` once the receiver is gone.
    pub fn poll_wanted(&self, cx: &mut Context<'_>) -> Poll<bool> {
        let mut shared = lock(&self.shared);
        if shared.abandoned {
            return Poll::Ready(false);
        }
        if shared.wanted && shared.frame.is_none() && !shared.ended {
            return Poll::Ready(true);
        }
        if !shared.sender.as_ref().is_some_and(|waker| waker.will_wake(cx.waker())) {
            shared.sender = Some(cx.waker().clone());
        }
        Poll::Pending
    }

    /// Hands over `data`; `last` when the body ends with it.
    pub fn send(&self, data: Bytes, last: bool) {
        self.hand_over(Some(Ok(data)), last);
    }

    /// Ends the body.
    pub fn end(&self) {
        self.hand_over(None, true);
    }

    /// Ends the body with `error`.
    pub fn fail(&self, error: io::Error) {
        self.hand_over(Some(Err(error)), true);
    }

    fn hand_over(&self, frame: Option<io::Result<Bytes>>, last: bool) {
        let mut shared = lock(&self.shared);
        if frame.is_some() {
            shared.frame = frame;
        }
        shared.ended |= last;
        shared.wanted = false;
        wake(&mut shared.receiver);
    }
}

impl Drop for BodySender {
    fn drop(&mut self) {
        let ended = lock(&self.shared).ended;
        if !ended {
            self.fail(io::Error::new(io::ErrorKind::UnexpectedEof, "the client's connection closed"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    #[tokio::test]
    async fn frames_are_read_only_when_asked_for_and_end_with_the_body() {
        let (sender, receiver) = channel(Some(5));
        let mut body = ClientBody::Http1(receiver);
        assert_eq!(body.size_hint().exact(), Some(5));
        let waker = Waker::noop();
        let mut cx = Context::from_waker(waker);
        assert!(sender.poll_wanted(&mut cx).is_pending(), "nothing asked yet");
        let reading = tokio::spawn(async move {
            let mut got = Vec::new();
            while let Some(frame) = body.frame().await {
                got.extend_from_slice(&frame.unwrap().into_data().unwrap());
            }
            (got, body.is_end_stream())
        });
        std::future::poll_fn(|cx| sender.poll_wanted(cx).map(|wanted| assert!(wanted))).await;
        sender.send(Bytes::from_static(b"hel"), false);
        std::future::poll_fn(|cx| sender.poll_wanted(cx).map(|wanted| assert!(wanted))).await;
        sender.send(Bytes::from_static(b"lo"), true);
        assert_eq!(reading.await.unwrap(), (b"hello".to_vec(), true));
        assert!(sender.poll_wanted(&mut cx).is_ready(), "the receiver is gone");
    }

    #[tokio::test]
    async fn a_sender_gone_before_the_end_is_an_error_and_a_failure_says_what_went_wrong() {
        let (sender, receiver) = channel(None);
        drop(sender);
        let mut body = ClientBody::Http1(receiver);
        let error = body.frame().await.unwrap().unwrap_err();
        assert_eq!(error.downcast_ref::<io::Error>().unwrap().kind(), io::ErrorKind::UnexpectedEof);

        let (sender, receiver) = channel(None);
        sender.fail(io::Error::new(io::ErrorKind::TimedOut, "stalled"));
        let mut body = ClientBody::Http1(receiver);
        let error = body.frame().await.unwrap().unwrap_err();
        assert_eq!(error.downcast_ref::<io::Error>().unwrap().kind(), io::ErrorKind::TimedOut);
        assert!(body.frame().await.is_none());
        assert!(ClientBody::Empty.is_end_stream());
    }
}
