//! A group of tasks that shutdown can wait for and then cut: the router's client
//! connections, and the tunnels of upgraded ones.

use std::future::Future;

use tokio::sync::watch;

/// Tasks spawned together, counted while they run.
#[derive(Clone)]
pub(crate) struct TaskGroup {
    /// How many tasks run.
    running: watch::Sender<usize>,
    /// Becomes `true` when every task must end.
    cut: watch::Sender<bool>,
}

impl Default for TaskGroup {
    fn default() -> Self {
        Self { running: watch::channel(0).0, cut: watch::channel(false).0 }
    }
}

impl TaskGroup {
    /// Runs `task` on a task of its own until it ends or the group is cut.
    pub fn spawn(&self, task: impl Future<Output = ()> + Send + 'static) {
        let mut cut = self.cut.subscribe();
        let running = self.running.clone();
        running.send_modify(|n| *n += 1);
        tokio::spawn(async move {
            tokio::select! {
                biased;
                () = task => {}
                _ = cut.wait_for(|cut| *cut) => {}
            }
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
        self.cut.send_replace(true);
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
