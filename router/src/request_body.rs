//! A client's request body on its way to a process, kept where a second attempt can
//! find it as long as the first attempt has not read from it. A connection that was
//! never made never reads the body, so a request whose first process is unreachable
//! can go to the next one, body and all. The slot also remembers whether the client's
//! side of the body failed (malformed chunks, more than the body limit, a client that
//! stopped sending), which makes the answer a 400, 413 or 408 rather than a 502, and
//! when the body last moved, from which the response timeout counts.
//!
//! Most requests have no body (a `GET`): theirs shares nothing between attempts, and
//! costs no allocation or lock.

use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use hyper::body::{Body, Frame, SizeHint};
use tokio::time::Instant;

use crate::client_body::{BodyError, ClientBody};
use crate::sleeps::Sleeps;

/// The client's body of one request, shared by its attempts.
pub(crate) struct BodySlot {
    /// None for a request without a body.
    shared: Option<Arc<Mutex<Shared>>>,
    /// When the request began: all a bodiless request's body ever did.
    began: Instant,
    /// The largest body passed on.
    limit: u64,
}

/// What the attempts share of a body: the body until one takes it, and what it saw.
struct Shared {
    body: Option<ClientBody>,
    /// What went wrong on the client's side, first fault first.
    fault: Option<BodyFault>,
    /// When the body last moved: the request began, a frame came or it ended.
    moved: Instant,
}

/// What went wrong on the client's side of a request body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BodyFault {
    /// It could not be read (bad chunk framing, or the client went away).
    Malformed,
    /// It grew past the router's body limit.
    TooLarge,
    /// The client sent nothing for the body read timeout.
    Stalled,
}

/// The error a [`RetryBody`] ends with when the client's body outgrows the limit.
#[derive(Debug, thiserror::Error)]
#[error("the request body is larger than the router's limit")]
struct BodyTooLarge;

fn lock(shared: &Mutex<Shared>) -> MutexGuard<'_, Shared> {
    shared.lock().unwrap_or_else(PoisonError::into_inner)
}

impl BodySlot {
    /// The slot of `body`, which may bring at most `limit` bytes.
    pub fn new(body: ClientBody, limit: u64) -> Self {
        let began = Instant::now();
        let shared = match body.is_end_stream() {
            true => None,
            false => Some(Arc::new(Mutex::new(Shared { body: Some(body), fault: None, moved: began }))),
        };
        Self { shared, began, limit }
    }

    /// The body for one attempt.
    pub fn attempt(&self) -> RetryBody {
        RetryBody { slot: self.shared.clone(), body: None, left: self.limit }
    }

    /// When the body last moved.
    fn moved(&self) -> Instant {
        self.shared.as_deref().map_or(self.began, |shared| lock(shared).moved)
    }

    /// Resolves once `timeout` has passed since the body last moved: the process had
    /// its time to answer. The timer is one of `sleeps`.
    pub async fn overdue(&self, timeout: Duration, sleeps: &Arc<Sleeps>) {
        let mut timer = sleeps.until(self.moved() + timeout);
        loop {
            (&mut timer).await;
            let deadline = self.moved() + timeout;
            if Instant::now() >= deadline {
                return;
            }
            timer.set_deadline(deadline);
        }
    }

    /// Whether no attempt has read the body yet.
    pub fn untouched(&self) -> bool {
        self.shared.as_deref().is_none_or(|shared| lock(shared).body.is_some())
    }

    /// What went wrong on the client's side, if anything.
    pub fn fault(&self) -> Option<BodyFault> {
        self.shared.as_deref().and_then(|shared| lock(shared).fault)
    }
}

/// Whether a body error is the client's connection timing out (see `http1`).
fn timed_out(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut cause = Some(error);
    while let Some(error) = cause {
        if error.downcast_ref::<std::io::Error>().is_some_and(|e| e.kind() == std::io::ErrorKind::TimedOut) {
            return true;
        }
        cause = error.source();
    }
    false
}

/// The body of one attempt: it takes the client's body out of the slot when first
/// read, and ends with an error when it grows past the limit.
pub(crate) struct RetryBody {
    /// None for a request without a body.
    slot: Option<Arc<Mutex<Shared>>>,
    /// The client's body, once this attempt took it.
    body: Option<ClientBody>,
    /// How many more bytes may come.
    left: u64,
}

impl RetryBody {
    /// A body with nothing in it, for requests made in tests.
    #[cfg(test)]
    pub(crate) fn empty() -> Self {
        Self { slot: None, body: None, left: 0 }
    }

    fn moved(&self) {
        if let Some(slot) = &self.slot {
            lock(slot).moved = Instant::now();
        }
    }

    fn record(&self, fault: BodyFault) {
        if let Some(slot) = &self.slot {
            lock(slot).fault.get_or_insert(fault);
        }
    }

    /// `f` of the client's body, wherever it is now; none once an attempt took it
    /// (or for a request without one).
    fn peek<T>(&self, f: impl FnOnce(Option<&ClientBody>) -> T) -> T {
        match (&self.body, &self.slot) {
            (Some(body), _) => f(Some(body)),
            (None, Some(slot)) => f(lock(slot).body.as_ref()),
            (None, None) => f(None),
        }
    }
}

impl Body for RetryBody {
    type Data = Bytes;
    type Error = BodyError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = self.get_mut();
        if this.body.is_none() {
            this.body = this.slot.as_deref().and_then(|slot| lock(slot).body.take());
        }
        let Some(body) = &mut this.body else { return Poll::Ready(None) };
        match std::task::ready!(Pin::new(body).poll_frame(cx)) {
            Some(Ok(frame)) => {
                let len = frame.data_ref().map_or(0, |data| data.len() as u64);
                match this.left.checked_sub(len) {
                    Some(left) => this.left = left,
                    None => {
                        this.record(BodyFault::TooLarge);
                        return Poll::Ready(Some(Err(Box::new(BodyTooLarge))));
                    }
                }
                this.moved();
                Poll::Ready(Some(Ok(frame)))
            }
            Some(Err(e)) => {
                this.record(match timed_out(&*e) {
                    true => BodyFault::Stalled,
                    false => BodyFault::Malformed,
                });
                Poll::Ready(Some(Err(e)))
            }
            None => {
                this.moved();
                Poll::Ready(None)
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.peek(|body| body.is_none_or(Body::is_end_stream))
    }

    fn size_hint(&self) -> SizeHint {
        self.peek(|body| body.map_or_else(|| SizeHint::with_exact(0), Body::size_hint))
    }
}
