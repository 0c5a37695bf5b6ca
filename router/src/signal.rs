//! A level that only rises, watched by many tasks: how far a drain has come, or
//! whether a task group is cut. Every client connection's task checks it each time the
//! task runs, several times per request.
//!
//! A `tokio::sync::watch` channel would do, but its `wait_for` registers with the
//! channel's `Notify` again on every poll. A [`Watcher`] registers its task's waker once
//! (again only when the task's waker changes), so a poll costs an atomic load and a
//! waker comparison; raising the level wakes every registered watcher.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};

/// A level from 0 that only rises; clones share it.
#[derive(Clone, Default)]
pub(crate) struct Level {
    inner: Arc<Inner>,
}

#[derive(Default)]
struct Inner {
    level: AtomicU8,
    watchers: Mutex<Watchers>,
}

/// The wakers of the watchers that waited, by key.
#[derive(Default)]
struct Watchers {
    next_key: u64,
    wakers: BTreeMap<u64, Waker>,
}

impl Inner {
    fn watchers(&self) -> MutexGuard<'_, Watchers> {
        self.watchers.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Level {
    /// A level starting at `start`.
    pub fn new(start: u8) -> Self {
        let level = Self::default();
        level.inner.level.store(start, Ordering::SeqCst);
        level
    }

    /// The level now.
    pub fn get(&self) -> u8 {
        self.inner.level.load(Ordering::SeqCst)
    }

    /// Raises the level to `to` (never lowers it) and wakes every watcher if it rose;
    /// whether it rose.
    pub fn raise(&self, to: u8) -> bool {
        let rose = self.inner.level.fetch_max(to, Ordering::SeqCst) < to;
        if rose {
            for waker in self.inner.watchers().wakers.values() {
                waker.wake_by_ref();
            }
        }
        rose
    }

    /// A watcher of the level, for one task.
    pub fn watcher(&self) -> Watcher {
        Watcher { inner: self.inner.clone(), registered: None }
    }
}

/// One task's view of a [`Level`].
pub(crate) struct Watcher {
    inner: Arc<Inner>,
    /// The key and a copy of the waker registered, once the task waited.
    registered: Option<(u64, Waker)>,
}

impl Watcher {
    /// Ready once the level is at least `at`; until then the task is woken when the
    /// level rises.
    pub fn poll_reached(&mut self, cx: &mut Context<'_>, at: u8) -> Poll<()> {
        if self.inner.level.load(Ordering::SeqCst) >= at {
            return Poll::Ready(());
        }
        match &mut self.registered {
            Some((_, waker)) if waker.will_wake(cx.waker()) => return Poll::Pending,
            Some((key, waker)) => {
                *waker = cx.waker().clone();
                self.inner.watchers().wakers.insert(*key, waker.clone());
            }
            None => {
                let mut watchers = self.inner.watchers();
                let key = watchers.next_key;
                watchers.next_key += 1;
                watchers.wakers.insert(key, cx.waker().clone());
                self.registered = Some((key, cx.waker().clone()));
            }
        }
        // Raised while registering: `raise` stores before it wakes, so either it saw
        // this waker or this load sees its level.
        match self.inner.level.load(Ordering::SeqCst) >= at {
            true => Poll::Ready(()),
            false => Poll::Pending,
        }
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        if let Some((key, _)) = self.registered.take() {
            self.inner.watchers().wakers.remove(&key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::future::poll_fn;
    use std::time::Duration;

    #[test]
    fn a_level_rises_and_never_falls() {
        let level = Level::default();
        assert!(level.raise(1));
        assert!(!level.raise(1));
        assert!(level.raise(2));
        assert!(!level.raise(1));
        assert_eq!(level.get(), 2);
    }

    #[tokio::test]
    async fn raising_wakes_the_watchers_that_wait_for_it_and_only_those_finish() {
        let level = Level::default();
        let waiting = |at| {
            let mut watcher = level.watcher();
            tokio::spawn(async move { poll_fn(|cx| watcher.poll_reached(cx, at)).await })
        };
        let (first, second) = (waiting(1), waiting(2));
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!first.is_finished() && !second.is_finished());
        level.raise(1);
        tokio::time::timeout(Duration::from_secs(5), first).await.unwrap().unwrap();
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!second.is_finished());
        level.raise(2);
        tokio::time::timeout(Duration::from_secs(5), second).await.unwrap().unwrap();
        assert!(level.inner.watchers().wakers.is_empty(), "finished watchers are gone");
    }

    #[tokio::test]
    async fn a_watcher_of_a_level_already_reached_is_ready_at_once() {
        let level = Level::default();
        level.raise(3);
        let mut watcher = level.watcher();
        poll_fn(|cx| watcher.poll_reached(cx, 2)).await;
        assert!(watcher.registered.is_none());
    }
}
