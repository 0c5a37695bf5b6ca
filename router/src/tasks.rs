//! A group of tasks that shutdown can wait for and then cut: the router's client
//! connections, and the tunnels of upgraded ones.

use std::future::{poll_fn, Future};
use std::task::Poll;

use tokio::sync::watch;

use crate::signal::Level;

/// Tasks spawned together, counted while they run.
#[derive(Clone)]
pub(crate) struct TaskGroup {
    /// How many tasks run.
    running: watch::Sender<usize>,
    /// Rises to 1 when every task must end (checked each time a task runs).
    cut: Level,
}

impl Default for TaskGroup {
    fn default() -> Self {
        Self { running: watch::channel(0).0, cut: Level::default() }
    }
}

impl TaskGroup {
    /// Runs `task` on a task of its own until it ends or the group is cut.
    pub fn spawn(&self, task: impl Future<Output = ()> + Send + 'static) {
        let mut cut = self.cut.watcher();
        let running = self.running.clone();
        running.send_modify(|n| *n += 1);
        tokio::spawn(async move {
            let mut task = std::pin::pin!(task);
            poll_fn(|cx| match task.as_mut().poll(cx) {
                Poll::Ready(()) => Poll::Ready(()),
                Poll::Pending => cut.poll_reached(cx, 1),
            })
            .await;
            running.send_modify(|n| *n -= 1);
        });
    }

    /// How many tasks run now.
    #[cfg(test)]
    pub fn running(&self) -> usize {
        *self.running.borrow()
    }

    /// Waits until no task runs.
    pub async fn idle(&self) {
        let _ = self.running.subscribe().wait_for(|n| *n == 0).await;
    }

    /// Ends every task, and every task spawned from now on.
    pub fn cut(&self) {
        self.cut.raise(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn counts_and_cuts() {
        let group = TaskGroup::default();
        let (done, finished) = tokio::sync::oneshot::channel::<()>();
        group.spawn(async move {
            let _ = finished.await;
        });
        group.spawn(std::future::pending());
        assert_eq!(group.running(), 2);
        done.send(()).unwrap();
        tokio::time::timeout(std::time::Duration::from_secs(5), async {
            while group.running() != 1 {
                tokio::task::yield_now().await;
            }
        })
        .await
        .unwrap();
        group.cut();
        tokio::time::timeout(std::time::Duration::from_secs(5), group.idle()).await.unwrap();
    }
}
