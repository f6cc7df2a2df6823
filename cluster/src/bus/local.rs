//! The bus in process memory, for standalone mode (one node, no NATS).
//!
//! Exact subjects only (no wildcards; Confab never needs them). Each subscription has a
//! bounded queue; a subscriber that falls behind loses messages instead of growing memory,
//! which is what NATS does to a slow consumer. Requests work as in NATS: the request carries
//! a private reply subject and fails at once when nobody listens on its subject.

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::task::{Context, Poll};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use futures_util::Stream;
use tokio::sync::mpsc;

use super::{Bus, BusMessage, ConnectionState, Headers, Subscription};
use crate::error::BusError;
use crate::keys;

/// The in-process [`Bus`]. Clones share the same subjects, so handing a clone to each part of
/// the node connects them.
#[derive(Debug, Clone)]
pub struct LocalBus {
    inner: Arc<Inner>,
}

/// Subject → (subscription id, queue) of every live subscription.
type SubjectTable = HashMap<String, Vec<(u64, mpsc::Sender<BusMessage>)>>;

#[derive(Debug)]
struct Inner {
    subjects: Mutex<SubjectTable>,
    /// Source of subscription ids and reply subjects.
    next_id: AtomicU64,
    capacity: usize,
}

impl Default for LocalBus {
    fn default() -> Self {
        Self::with_capacity(Self::DEFAULT_CAPACITY)
    }
}

impl LocalBus {
    /// Messages a subscription may have queued before new ones are dropped, by default.
    pub const DEFAULT_CAPACITY: usize = 4096;

    /// A bus whose subscriptions queue up to [`Self::DEFAULT_CAPACITY`] messages.
    pub fn new() -> Self {
        Self::default()
    }

    /// A bus whose subscriptions queue up to `capacity` messages (at least one).
    pub fn with_capacity(capacity: usize) -> Self {
        Self {
            inner: Arc::new(Inner {
                subjects: Mutex::default(),
                next_id: AtomicU64::new(0),
                capacity: capacity.max(1),
            }),
        }
    }

    /// Hands `message` to every subscriber of its subject; returns how many there were.
    fn deliver(&self, message: BusMessage) -> usize {
        let subjects = self.inner.subjects();
        let Some(subscribers) = subjects.get(&message.subject) else {
            return 0;
        };
        for (id, queue) in subscribers {
            if let Err(mpsc::error::TrySendError::Full(_)) = queue.try_send(message.clone()) {
                tracing::warn!(
                    subject = %message.subject,
                    subscription = id,
                    "slow subscriber: message dropped"
                );
            }
        }
        subscribers.len()
    }
}

impl Inner {
    /// The subject table; every update is a single map operation, so a poisoned lock still
    /// holds a consistent table.
    fn subjects(&self) -> MutexGuard<'_, SubjectTable> {
        self.subjects
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn unsubscribe(&self, subject: &str, id: u64) {
        let mut subjects = self.subjects();
        if let Some(subscribers) = subjects.get_mut(subject) {
            subscribers.retain(|(other, _)| *other != id);
            if subscribers.is_empty() {
                subjects.remove(subject);
            }
        }
    }
}

/// The receiving end of one subscription; unsubscribes when dropped.
struct Receiver {
    queue: mpsc::Receiver<BusMessage>,
    bus: Weak<Inner>,
    subject: String,
    id: u64,
}

impl Stream for Receiver {
    type Item = BusMessage;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<BusMessage>> {
        self.queue.poll_recv(cx)
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        if let Some(bus) = self.bus.upgrade() {
            bus.unsubscribe(&self.subject, self.id);
        }
    }
}

#[async_trait]
impl Bus for LocalBus {
    async fn publish(
        &self,
        subject: &str,
        payload: Bytes,
        headers: Headers,
    ) -> Result<(), BusError> {
        self.deliver(BusMessage {
            subject: subject.to_owned(),
            payload,
            headers,
            reply: None,
        });
        Ok(())
    }

    async fn subscribe(&self, subject: &str) -> Result<Subscription, BusError> {
        let id = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
        let (sender, queue) = mpsc::channel(self.inner.capacity);
        self.inner
            .subjects()
            .entry(subject.to_owned())
            .or_default()
            .push((id, sender));
        let receiver = Receiver {
            queue,
            bus: Arc::downgrade(&self.inner),
            subject: subject.to_owned(),
            id,
        };
        Ok(Subscription::new(subject, receiver))
    }

    async fn request(
        &self,
        subject: &str,
        payload: Bytes,
        headers: Headers,
        timeout: Duration,
    ) -> Result<Bytes, BusError> {
        let inbox = keys::local_inbox(self.inner.next_id.fetch_add(1, Ordering::Relaxed));
        let mut answers = self.subscribe(&inbox).await?;
        let request = BusMessage {
            subject: subject.to_owned(),
            payload,
            headers,
            reply: Some(inbox),
        };
        if self.deliver(request) == 0 {
            return Err(BusError::NoResponders {
                subject: subject.to_owned(),
            });
        }
        match tokio::time::timeout(timeout, answers.next_message()).await {
            Ok(Some(answer)) => Ok(answer.payload),
            // The inbox subscription is ours and alive, so it cannot end; treat it as silence.
            Ok(None) | Err(_) => Err(BusError::Timeout {
                operation: "request",
                subject: subject.to_owned(),
                after: timeout,
            }),
        }
    }

    async fn respond(
        &self,
        reply_to: &str,
        payload: Bytes,
        headers: Headers,
    ) -> Result<(), BusError> {
        self.publish(reply_to, payload, headers).await
    }

    async fn flush(&self) -> Result<(), BusError> {
        Ok(())
    }

    async fn ping(&self) -> Result<(), BusError> {
        Ok(())
    }

    fn state(&self) -> ConnectionState {
        ConnectionState::Connected
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn dropping_a_subscription_unsubscribes() -> Result<(), BusError> {
        let bus = LocalBus::new();
        let first = bus.subscribe("s").await?;
        let second = bus.subscribe("s").await?;
        assert_eq!(bus.inner.subjects()["s"].len(), 2);
        drop(first);
        assert_eq!(bus.inner.subjects()["s"].len(), 1);
        drop(second);
        assert!(bus.inner.subjects().is_empty());
        Ok(())
    }

    #[tokio::test]
    async fn a_full_subscriber_loses_messages_instead_of_growing() -> Result<(), BusError> {
        let bus = LocalBus::with_capacity(2);
        let mut slow = bus.subscribe("s").await?;
        for n in 0..5u8 {
            bus.publish("s", Bytes::from(vec![n]), Headers::new())
                .await?;
        }
        // Dropping the bus closes the queue: what is left in it is what was kept.
        drop(bus);
        let mut received = Vec::new();
        while let Some(message) = slow.next_message().await {
            received.push(message.payload[0]);
        }
        assert_eq!(received, [0, 1]);
        Ok(())
    }
}
