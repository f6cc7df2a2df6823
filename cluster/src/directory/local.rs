//! The directory in process memory, for standalone mode (one node, no Redis).
//!
//! It keeps the same rules as Redis — leases and entries expire, lookups ignore and remove
//! entries of dead nodes — so the node runs the same code either way and the same test suite
//! covers both. Expired entries are swept on each lease heartbeat, as Redis's own key expiry
//! would, so memory does not grow with users who left without unregistering.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;
use tokio::time::Instant;

use super::{Directory, ttl_millis};
use crate::error::DirectoryError;

/// The in-process [`Directory`]. Clones share the same entries.
#[derive(Debug, Clone, Default)]
pub struct LocalDirectory {
    state: Arc<Mutex<State>>,
}

#[derive(Debug, Default)]
struct State {
    /// Node → when its lease lapses.
    leases: HashMap<String, Instant>,
    /// User → node → when the entry lapses.
    users: HashMap<String, HashMap<String, Instant>>,
}

impl State {
    fn is_alive(&self, node: &str, now: Instant) -> bool {
        self.leases.get(node).is_some_and(|until| *until > now)
    }

    /// Drops lapsed leases and entries, and users left with none (what Redis's key expiry
    /// does). Entries of a node without a lease are left to lookups, as in Redis.
    fn sweep(&mut self, now: Instant) {
        self.leases.retain(|_, until| *until > now);
        self.users.retain(|_, nodes| {
            nodes.retain(|_, until| *until > now);
            !nodes.is_empty()
        });
    }
}

impl LocalDirectory {
    /// An empty directory.
    pub fn new() -> Self {
        Self::default()
    }

    /// The state; a panic elsewhere while holding the lock cannot leave it half-updated in a
    /// way that matters here (every update is a single map operation), so poisoning is ignored.
    fn state(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// `now + ttl`, validated like Redis would.
fn deadline(ttl: Duration) -> Result<Instant, DirectoryError> {
    let millis = ttl_millis(ttl)?;
    Ok(Instant::now() + Duration::from_millis(millis))
}

#[async_trait]
impl Directory for LocalDirectory {
    async fn refresh_node_lease(&self, node: &str, ttl: Duration) -> Result<(), DirectoryError> {
        let until = deadline(ttl)?;
        let mut state = self.state();
        state.sweep(Instant::now());
        state.leases.insert(node.to_owned(), until);
        Ok(())
    }

    async fn release_node_lease(&self, node: &str) -> Result<(), DirectoryError> {
        self.state().leases.remove(node);
        Ok(())
    }

    async fn live_nodes(&self) -> Result<Vec<String>, DirectoryError> {
        let now = Instant::now();
        let mut state = self.state();
        state.leases.retain(|_, until| *until > now);
        Ok(state.leases.keys().cloned().collect())
    }

    async fn is_node_alive(&self, node: &str) -> Result<bool, DirectoryError> {
        Ok(self.state().is_alive(node, Instant::now()))
    }

    async fn register_user(
        &self,
        user: &str,
        node: &str,
        ttl: Duration,
    ) -> Result<(), DirectoryError> {
        self.refresh_node_users(node, &[user], ttl).await
    }

    async fn unregister_user(&self, user: &str, node: &str) -> Result<(), DirectoryError> {
        let mut state = self.state();
        if let Some(nodes) = state.users.get_mut(user) {
            nodes.remove(node);
            if nodes.is_empty() {
                state.users.remove(user);
            }
        }
        Ok(())
    }

    async fn refresh_node_users(
        &self,
        node: &str,
        users: &[&str],
        ttl: Duration,
    ) -> Result<(), DirectoryError> {
        let until = deadline(ttl)?;
        let mut state = self.state();
        for user in users {
            state
                .users
                .entry((*user).to_owned())
                .or_default()
                .insert(node.to_owned(), until);
        }
        Ok(())
    }

    async fn lookup_users(
        &self,
        users: &[&str],
    ) -> Result<HashMap<String, Vec<String>>, DirectoryError> {
        let now = Instant::now();
        let mut state = self.state();
        let mut found = HashMap::new();
        for user in users {
            let Some(mut nodes) = state.users.remove(*user) else {
                continue;
            };
            nodes.retain(|node, until| *until > now && state.is_alive(node, now));
            if !nodes.is_empty() {
                found.insert((*user).to_owned(), nodes.keys().cloned().collect());
                state.users.insert((*user).to_owned(), nodes);
            }
        }
        Ok(found)
    }

    async fn ping(&self) -> Result<(), DirectoryError> {
        Ok(())
    }
}
