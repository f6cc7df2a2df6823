//! The user directory: which nodes are alive, and which nodes each user is online on.
//!
//! A node takes a lease with a TTL and heartbeats it; it registers each online user under a
//! TTL as well and re-registers them all on every heartbeat ([`Directory::refresh_node_users`]),
//! so the directory heals itself after its store lost everything, and a crashed node's
//! entries vanish on their own. A lookup never returns a node whose lease has lapsed, and
//! removes such entries as it meets them.
//!
//! Two implementations, both always compiled: [`RedisDirectory`] for a cluster and
//! [`LocalDirectory`] for standalone mode. They pass the same behavioural test suite.

mod local;
mod redis;
mod shards;

use std::collections::HashMap;
use std::fmt::Debug;
use std::time::Duration;

use async_trait::async_trait;

use crate::error::DirectoryError;

pub use local::LocalDirectory;
pub use redis::RedisDirectory;

/// Where users are online, by node. Moves ids only; what a node does with them is its own
/// business.
#[async_trait]
pub trait Directory: Send + Sync + Debug {
    /// Takes or extends `node`'s lease for `ttl`. Heartbeat it well within the TTL.
    async fn refresh_node_lease(&self, node: &str, ttl: Duration) -> Result<(), DirectoryError>;

    /// Gives up `node`'s lease at once (drain): lookups stop returning the node immediately.
    async fn release_node_lease(&self, node: &str) -> Result<(), DirectoryError>;

    /// The nodes holding a lease right now, in no particular order.
    async fn live_nodes(&self) -> Result<Vec<String>, DirectoryError>;

    /// Whether `node` holds a lease right now.
    async fn is_node_alive(&self, node: &str) -> Result<bool, DirectoryError>;

    /// Records that `user` is online on `node` for `ttl` (the user may also be online on
    /// other nodes: multi-device).
    async fn register_user(
        &self,
        user: &str,
        node: &str,
        ttl: Duration,
    ) -> Result<(), DirectoryError>;

    /// Records that `user` is no longer online on `node`; entries on other nodes stay.
    async fn unregister_user(&self, user: &str, node: &str) -> Result<(), DirectoryError>;

    /// Registers every one of `users` on `node` for `ttl`, in bulk. A node calls it on each
    /// heartbeat with all its online users, which also restores them after the directory's
    /// store came back empty.
    async fn refresh_node_users(
        &self,
        node: &str,
        users: &[&str],
        ttl: Duration,
    ) -> Result<(), DirectoryError>;

    /// The live nodes each of `users` is online on, in one round trip. Users online nowhere
    /// are absent from the map. Entries that expired or point at a node without a lease are
    /// ignored and removed.
    async fn lookup_users(
        &self,
        users: &[&str],
    ) -> Result<HashMap<String, Vec<String>>, DirectoryError>;

    /// Checks that the directory's store answers (readiness).
    async fn ping(&self) -> Result<(), DirectoryError>;
}

/// `ttl` in whole milliseconds, at least one.
fn ttl_millis(ttl: Duration) -> Result<u64, DirectoryError> {
    match u64::try_from(ttl.as_millis()) {
        Ok(0) | Err(_) => Err(DirectoryError::InvalidTtl(ttl)),
        Ok(millis) => Ok(millis),
    }
}
