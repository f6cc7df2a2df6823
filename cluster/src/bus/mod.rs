//! The bus between nodes: publish/subscribe on exact subjects, and request/reply.
//!
//! It moves opaque payloads (`confab-protocol` owns their encoding and its version tag) plus a
//! small map of string headers, which is where trace context travels. Delivery is at most
//! once, as in core NATS: a message published while nobody listens, or while the connection
//! is down, may be lost. Confab stays correct because every message is stored before it is
//! acknowledged, and clients resynchronise from their cursors.
//!
//! Two implementations, both always compiled: [`NatsBus`] for a cluster and [`LocalBus`] for
//! standalone mode. Subject names come from [`Keys`](crate::Keys).

mod local;
mod nats;

use std::collections::BTreeMap;
use std::fmt::{self, Debug};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use futures_util::{Stream, StreamExt};

use crate::error::BusError;

pub use local::LocalBus;
pub use nats::NatsBus;

/// String headers carried with a message (one value per name).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Headers(BTreeMap<String, String>);

impl Headers {
    /// No headers.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets `name` to `value`, returning the previous value.
    pub fn insert(&mut self, name: impl Into<String>, value: impl Into<String>) -> Option<String> {
        self.0.insert(name.into(), value.into())
    }

    /// The value of `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    /// Every header, sorted by name.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0
            .iter()
            .map(|(name, value)| (name.as_str(), value.as_str()))
    }

    /// How many headers there are.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl<N: Into<String>, V: Into<String>> FromIterator<(N, V)> for Headers {
    fn from_iter<I: IntoIterator<Item = (N, V)>>(iter: I) -> Self {
        Self(
            iter.into_iter()
                .map(|(name, value)| (name.into(), value.into()))
                .collect(),
        )
    }
}

/// A message received from the bus.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BusMessage {
    /// The subject it was published on.
    pub subject: String,
    /// The payload, as published.
    pub payload: Bytes,
    /// The headers, as published.
    pub headers: Headers,
    /// Where to send the answer, when the message is a request (see [`Bus::respond`]).
    pub reply: Option<String>,
}

/// The messages published on one subject, from the moment of subscribing until dropped
/// (dropping it unsubscribes).
pub struct Subscription {
    subject: String,
    messages: Pin<Box<dyn Stream<Item = BusMessage> + Send>>,
}

impl Subscription {
    pub(crate) fn new(
        subject: impl Into<String>,
        messages: impl Stream<Item = BusMessage> + Send + 'static,
    ) -> Self {
        Self {
            subject: subject.into(),
            messages: Box::pin(messages),
        }
    }

    /// The subject subscribed to.
    pub fn subject(&self) -> &str {
        &self.subject
    }

    /// The next message; `None` once the bus was closed for good.
    pub async fn next_message(&mut self) -> Option<BusMessage> {
        self.messages.next().await
    }
}

impl Debug for Subscription {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Subscription")
            .field("subject", &self.subject)
            .finish_non_exhaustive()
    }
}

impl Stream for Subscription {
    type Item = BusMessage;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<BusMessage>> {
        self.messages.as_mut().poll_next(cx)
    }
}

/// The connection to the bus's server, as far as the client knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectionState {
    /// Connected: messages flow.
    Connected,
    /// Not connected yet since the bus was created.
    Connecting,
    /// The connection dropped; reconnecting in the background.
    Disconnected,
}

/// Publish/subscribe and request/reply between nodes.
#[async_trait]
pub trait Bus: Send + Sync + Debug {
    /// Publishes `payload` with `headers` on `subject`, to whoever is subscribed right now.
    async fn publish(
        &self,
        subject: &str,
        payload: Bytes,
        headers: Headers,
    ) -> Result<(), BusError>;

    /// Receives every message published on `subject` from now on.
    async fn subscribe(&self, subject: &str) -> Result<Subscription, BusError>;

    /// Sends a request on `subject` and waits up to `timeout` for the first answer's payload.
    /// Fails with [`BusError::NoResponders`] when nobody listens on `subject`, and with
    /// [`BusError::Timeout`] when nobody answered in time.
    async fn request(
        &self,
        subject: &str,
        payload: Bytes,
        headers: Headers,
        timeout: Duration,
    ) -> Result<Bytes, BusError>;

    /// Answers a request received as a [`BusMessage`] whose `reply` is `reply_to`.
    async fn respond(
        &self,
        reply_to: &str,
        payload: Bytes,
        headers: Headers,
    ) -> Result<(), BusError>;

    /// Waits until what was published so far has been handed to the server (drain).
    async fn flush(&self) -> Result<(), BusError>;

    /// A round trip through the server (readiness). Also guarantees that the server has
    /// seen this client's earlier subscriptions.
    async fn ping(&self) -> Result<(), BusError>;

    /// The connection's state right now, without waiting.
    fn state(&self) -> ConnectionState;
}
