//! The errors of the cluster seams: one enum per area, third-party errors wrapped as they are.
//!
//! Callers mostly need to know "the infrastructure is unavailable right now" (retry, report
//! not-ready) versus "this request was wrong"; the variants keep that distinction visible.

use std::time::Duration;

/// A name prefix that cannot be used for keys and subjects.
#[derive(Debug, thiserror::Error)]
pub enum KeysError {
    /// The prefix is empty or contains characters that would change the names' meaning.
    #[error(
        "invalid key prefix {0:?}: use dot-separated tokens of ASCII letters, digits, '-' and '_'"
    )]
    InvalidPrefix(String),
}

/// A failed [`Directory`](crate::Directory) operation.
#[derive(Debug, Clone, thiserror::Error)]
pub enum DirectoryError {
    /// Redis could not be reached in time or answered with an error.
    #[error("redis: {0}")]
    Redis(#[from] fred::error::Error),
    /// One shard of a Redis Cluster could not be reached in time or answered with an
    /// error: the users whose entries it holds could not be looked up or registered.
    #[error("redis shard {server} (slot {slot}): {source}")]
    Shard {
        /// The master serving the slot, as the client last knew it (`unknown` if it did
        /// not know).
        server: String,
        /// The hash slot of the keys involved.
        slot: u16,
        /// What failed.
        source: fred::error::Error,
    },
    /// A TTL below one millisecond (Redis rejects a zero expiry).
    #[error("invalid TTL {0:?}: it must be at least one millisecond")]
    InvalidTtl(Duration),
    /// The directory's lookups stopped: its runtime is shutting down.
    #[error("the directory has stopped")]
    Stopped,
    /// The TLS settings for Redis could not be used.
    #[error("redis TLS: {0}")]
    Tls(#[from] crate::security::TlsFileError),
}

impl DirectoryError {
    /// The Redis Cluster master a failure is bound to (`host:port`), if it is one shard's.
    pub fn shard(&self) -> Option<&str> {
        match self {
            Self::Shard { server, .. } => Some(server),
            _ => None,
        }
    }
}

/// A failed [`Bus`](crate::Bus) operation.
#[derive(Debug, thiserror::Error)]
pub enum BusError {
    /// The server address list could not be parsed.
    /// (The address itself is left out: it may carry credentials.)
    #[error("invalid NATS server address: {reason}")]
    InvalidUrl {
        /// Why it was rejected.
        reason: String,
    },
    /// A header name or value that NATS cannot carry.
    #[error("invalid header {name:?}")]
    InvalidHeader {
        /// The offending header's name.
        name: String,
    },
    /// Nobody is subscribed to the subject of a request.
    #[error("no responder is listening on {subject}")]
    NoResponders {
        /// The request's subject.
        subject: String,
    },
    /// The operation did not complete in time.
    #[error("{operation} on {subject} timed out after {after:?}")]
    Timeout {
        /// What was attempted (`"request"`, `"publish"`, `"ping"`).
        operation: &'static str,
        /// The subject involved.
        subject: String,
        /// The time allowed.
        after: Duration,
    },
    /// The bus is not connected to its server at the moment (it keeps reconnecting).
    #[error("not connected to the NATS server")]
    Disconnected,
    /// Connecting to NATS failed.
    #[error("nats connect: {0}")]
    Connect(#[from] async_nats::ConnectError),
    /// Publishing failed.
    #[error("nats publish: {0}")]
    Publish(#[from] async_nats::PublishError),
    /// Subscribing failed.
    #[error("nats subscribe: {0}")]
    Subscribe(#[from] async_nats::SubscribeError),
    /// A request failed for a reason other than a timeout or missing responders.
    #[error("nats request: {0}")]
    Request(#[from] async_nats::RequestError),
    /// Flushing the connection failed.
    #[error("nats flush: {0}")]
    Flush(#[from] async_nats::client::FlushError),
    /// The security settings for NATS could not be used (both a token and an NKey, an
    /// unreadable certificate).
    #[error("nats security: {reason}")]
    Security {
        /// Why.
        reason: String,
    },
}
