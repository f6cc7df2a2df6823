//! Background work a stopping node lets finish before it exits: what a closed connection
//! still has to tell others (its user's presence), and the node's relaying of it to the
//! other nodes. Without this, the last announcements of a draining node could be cut off
//! by its exit.

use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::sync::Notify;

/// A count of spawned tasks still running, and a way to wait until there are none.
#[derive(Debug, Clone, Default)]
pub struct Pending(Arc<Inner>);

#[derive(Debug, Default)]
struct Inner {
    running: AtomicUsize,
    idle: Notify,
}

/// Counts one task while alive (also when the task is dropped unfinished).
struct Running(Arc<Inner>);

impl Drop for Running {
    fn drop(&mut self) {
        if self.0.running.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.idle.notify_waiters();
        }
    }
}

impl Pending {
    /// Spawns `work` on the current arbiter, counted until it ends.
    pub fn spawn(&self, work: impl Future<Output = ()> + 'static) {
        self.0.running.fetch_add(1, Ordering::AcqRel);
        let running = Running(self.0.clone());
        actix::spawn(async move {
            work.await;
            drop(running);
        });
    }

    /// How many counted tasks are running.
    pub fn running(&self) -> usize {
        self.0.running.load(Ordering::Acquire)
    }

    /// Resolves once no counted task is running.
    pub async fn settled(&self) {
        loop {
            let mut idle = pin!(self.0.idle.notified());
            idle.as_mut().enable();
            if self.running() == 0 {
                return;
            }
            idle.await;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[actix_web::test]
    async fn settles_once_every_task_ended() {
        let pending = Pending::default();
        pending.settled().await;
        let (release, released) = tokio::sync::oneshot::channel::<()>();
        pending.spawn(async move {
            let _ = released.await;
        });
        pending.spawn(async {});
        assert!(pending.running() >= 1);
        let settled = tokio::time::timeout(Duration::from_millis(50), pending.settled()).await;
        assert!(settled.is_err(), "settled while a task still runs");
        release.send(()).unwrap();
        tokio::time::timeout(Duration::from_secs(5), pending.settled())
            .await
            .unwrap();
        assert_eq!(pending.running(), 0);
    }
}
