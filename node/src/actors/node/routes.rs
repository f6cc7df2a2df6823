//! The node's route cache: which other nodes each recently addressed user is online on,
//! so that a message to a user costs no directory call while the cache knows them.
//!
//! It is kept correct by the directory's change notifications (a [`NoticedCache`]): a
//! node that registers a user (their first socket there) or unregisters one (their last)
//! says so on the changes subject once the directory has the change, and every node
//! forgets that user's entry. The next message to them looks them up again.
//!
//! What a notification cannot cover, the entry's age does: a notification lost while NATS
//! was down, or a directory that came back empty and lets the heartbeats fill it again.
//! An entry lives for the cache's TTL, and an entry saying that a user is online nowhere
//! for at most a second (so that a user whose entry the directory lost and got back
//! without a notification is reached again within one). The cache holds at most
//! [`MAX_ENTRIES`] users; past that, it drops what has expired, then everything.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use crate::cache::NoticedCache;

/// Most users the cache holds.
const MAX_ENTRIES: usize = 100_000;

/// Longest an entry saying "online nowhere" lives.
const OFFLINE_TTL: Duration = Duration::from_secs(1);

/// Users' nodes as the directory last said (this node included, if it is one of them).
#[derive(Debug)]
pub(super) struct Routes {
    cache: NoticedCache<String, Arc<[String]>>,
    ttl: Duration,
}

/// What the cache says about the users of one delivery.
#[derive(Debug, Default)]
pub(super) struct Known {
    /// The users the cache knows, with their nodes.
    pub(super) found: Vec<(String, Arc<[String]>)>,
    /// The users to look up.
    pub(super) missing: Vec<String>,
}

impl Routes {
    /// A cache whose entries live for `ttl` (zero: nothing is kept).
    pub(super) fn new(ttl: Duration) -> Self {
        Self {
            cache: NoticedCache::new(MAX_ENTRIES),
            ttl,
        }
    }

    /// The current epoch, to give back to [`Routes::fill`] with a lookup's answer.
    pub(super) fn epoch(&self) -> u64 {
        self.cache.epoch()
    }

    /// Splits `users` into those with a live entry and those to look up.
    pub(super) fn known(&self, users: Vec<String>) -> Known {
        let mut known = Known::default();
        for user in users {
            match self.cache.get(user.as_str()) {
                Some(nodes) => {
                    let nodes = nodes.clone();
                    known.found.push((user, nodes));
                }
                None => known.missing.push(user),
            }
        }
        known
    }

    /// Keeps what a lookup of `asked`, started at `epoch`, found (users absent from `found`
    /// are online nowhere) — unless an entry was forgotten since it started.
    pub(super) fn fill(
        &mut self,
        epoch: u64,
        asked: Vec<String>,
        found: &HashMap<String, Vec<String>>,
    ) {
        for user in asked {
            let nodes: Arc<[String]> = found.get(&user).cloned().unwrap_or_default().into();
            let ttl = if nodes.is_empty() {
                OFFLINE_TTL.min(self.ttl)
            } else {
                self.ttl
            };
            self.cache.fill(epoch, user, nodes, ttl);
        }
    }

    /// A user's nodes changed somewhere: look them up next time.
    pub(super) fn forget(&mut self, user: &str) {
        self.cache.forget(user);
    }

    /// How many users the cache holds.
    pub(super) fn len(&self) -> usize {
        self.cache.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn users(names: &[&str]) -> Vec<String> {
        names.iter().map(|name| (*name).to_owned()).collect()
    }

    fn found(entries: &[(&str, &[&str])]) -> HashMap<String, Vec<String>> {
        entries
            .iter()
            .map(|(user, nodes)| ((*user).to_owned(), users(nodes)))
            .collect()
    }

    #[test]
    fn a_lookup_fills_the_cache_for_online_and_offline_users() {
        let mut routes = Routes::new(Duration::from_secs(60));
        let known = routes.known(users(&["bob", "carol"]));
        assert_eq!(known.missing, users(&["bob", "carol"]));
        let epoch = routes.epoch();
        routes.fill(epoch, known.missing, &found(&[("bob", &["n2"])]));
        let known = routes.known(users(&["bob", "carol", "dave"]));
        assert_eq!(known.missing, users(&["dave"]));
        assert_eq!(known.found.len(), 2);
        assert_eq!(&*known.found[0].1, &users(&["n2"])[..]);
        assert!(known.found[1].1.is_empty(), "carol is online nowhere");
    }

    #[test]
    fn a_change_forgets_the_users_entry() {
        let mut routes = Routes::new(Duration::from_secs(60));
        routes.fill(0, users(&["bob"]), &found(&[("bob", &["n2"])]));
        routes.forget("bob");
        assert_eq!(routes.known(users(&["bob"])).missing, users(&["bob"]));
    }
}
