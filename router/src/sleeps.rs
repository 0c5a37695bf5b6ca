//! Timeouts that almost never fire, at a small cost per request: the header and body
//! read timeouts of HTTP/1.1 requests and the response timeout of every forwarded one.
//!
//! A fresh `tokio::time::Sleep` per request enters the runtime's timer wheel when first
//! polled and leaves it when dropped, two locked wheel operations per request for a
//! timer that is nearly always dropped long before its deadline. [`Sleeps`] keeps the sleeps of finished timeouts and hands
//! them to the next ones, still in the wheel at their old deadline. A [`Timeout`] whose
//! sleep wakes before its own deadline (the old one, or one moved later since) sets
//! the sleep to its deadline then, so a sleep moves in the wheel about once per timeout
//! period instead of twice per request. A sleep set further out than a new deadline is
//! moved at once. One [`Sleeps`] serves one kind of timeout, so that its deadlines
//! (now plus the same duration) mostly only grow.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{ready, Context, Poll};

use tokio::time::{Instant, Sleep};

/// How many sleeps are kept for reuse at most: beyond this many timeouts at once, the
/// sleeps of finished ones are dropped.
const MAX_KEPT: usize = 4096;

/// The sleeps of finished timeouts, for the next ones.
#[derive(Default)]
pub(crate) struct Sleeps {
    kept: Mutex<Vec<Pin<Box<Sleep>>>>,
}

impl Sleeps {
    /// A timeout that fires at `deadline`. Needs a tokio runtime with time enabled.
    pub fn until(self: &Arc<Self>, deadline: Instant) -> Timeout {
        let sleep = self.kept.lock().unwrap_or_else(PoisonError::into_inner).pop();
        Timeout { sleep, deadline, home: self.clone() }
    }

    fn keep(&self, sleep: Pin<Box<Sleep>>) {
        let mut kept = self.kept.lock().unwrap_or_else(PoisonError::into_inner);
        if kept.len() < MAX_KEPT {
            kept.push(sleep);
        }
    }
}

/// A future that is ready once its deadline has passed.
pub(crate) struct Timeout {
    /// Made on first poll when no kept sleep was there to take.
    sleep: Option<Pin<Box<Sleep>>>,
    deadline: Instant,
    home: Arc<Sleeps>,
}

impl Timeout {
    /// Moves the deadline; later costs nothing until the sleep wakes.
    pub fn set_deadline(&mut self, deadline: Instant) {
        self.deadline = deadline;
    }
}

impl Future for Timeout {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        let deadline = this.deadline;
        let sleep = this.sleep.get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
        if sleep.deadline() > deadline {
            sleep.as_mut().reset(deadline);
        }
        loop {
            ready!(sleep.as_mut().poll(cx));
            if Instant::now() >= deadline {
                return Poll::Ready(());
            }
            // Woke at an earlier deadline than this one.
            sleep.as_mut().reset(deadline);
        }
    }
}

impl Drop for Timeout {
    fn drop(&mut self) {
        if let Some(sleep) = self.sleep.take() {
            self.home.keep(sleep);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    const MS: Duration = Duration::from_millis(1);

    #[tokio::test(start_paused = true)]
    async fn a_timeout_fires_at_its_deadline_not_before() {
        let sleeps = Arc::new(Sleeps::default());
        let started = Instant::now();
        sleeps.until(started + 100 * MS).await;
        assert_eq!(started.elapsed().as_millis(), 100);
    }

    #[tokio::test(start_paused = true)]
    async fn a_kept_sleep_serves_the_next_timeout_whatever_its_old_deadline() {
        let sleeps = Arc::new(Sleeps::default());
        // Dropped after its first poll, still in the wheel at +100 ms.
        let mut first = sleeps.until(Instant::now() + 100 * MS);
        assert!(futures_poll(&mut first).is_pending());
        drop(first);
        assert_eq!(sleeps.kept.lock().unwrap().len(), 1);

        // A later deadline: the old sleep wakes at +100 ms, the timeout at +250 ms.
        let started = Instant::now();
        sleeps.until(started + 250 * MS).await;
        assert_eq!(started.elapsed().as_millis(), 250);

        // An earlier one than the kept sleep's (now in the past): fires on time.
        let mut long = sleeps.until(Instant::now() + 1000 * MS);
        assert!(futures_poll(&mut long).is_pending());
        drop(long);
        let started = Instant::now();
        sleeps.until(started + 10 * MS).await;
        assert_eq!(started.elapsed().as_millis(), 10);
        assert_eq!(sleeps.kept.lock().unwrap().len(), 1, "one sleep served every timeout");
    }

    #[tokio::test(start_paused = true)]
    async fn a_deadline_moved_later_is_waited_for() {
        let sleeps = Arc::new(Sleeps::default());
        let started = Instant::now();
        let mut timeout = sleeps.until(started + 50 * MS);
        assert!(futures_poll(&mut timeout).is_pending());
        timeout.set_deadline(started + 80 * MS);
        timeout.await;
        assert_eq!(started.elapsed().as_millis(), 80);
    }

    fn futures_poll(timeout: &mut Timeout) -> Poll<()> {
        let waker = std::task::Waker::noop();
        Pin::new(timeout).poll(&mut Context::from_waker(waker))
    }
}
