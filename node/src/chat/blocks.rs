//! Who blocked whom, as the ephemeral events need it: `typing` and `receipt` must not
//! reach a user who blocked the sender (or whom the sender blocked), and asking the
//! database for every one of them was a round trip per event.
//!
//! A node keeps what it read in a [`NoticedCache`]: a block or unblock on any node is
//! told to every node (`Delivery::BlocksChanged` on the changes subject), which forgets
//! that pair. A notice lost while NATS was down is covered by the entry's age
//! (`CONFAB_BLOCK_CACHE_SECS`). Messages never use the cache: the store checks blocks in
//! the transaction that stores them.

use std::sync::Mutex;
use std::time::Duration;

use sea_orm::{DatabaseConnection, DbErr};

use crate::cache::NoticedCache;
use crate::store::membership;

/// Most pairs a node keeps.
const MAX_PAIRS: usize = 100_000;

/// The pairs of users a node read, blocked or not.
#[derive(Debug)]
pub struct Blocks {
    cache: Mutex<NoticedCache<(String, String), bool>>,
    ttl: Duration,
}

/// A pair in one order, whoever asks.
fn pair(a: &str, b: &str) -> (String, String) {
    if a <= b {
        (a.to_owned(), b.to_owned())
    } else {
        (b.to_owned(), a.to_owned())
    }
}

impl Blocks {
    /// Pairs kept for `ttl` (zero: every question goes to the database).
    pub fn new(ttl: Duration) -> Self {
        Self {
            cache: Mutex::new(NoticedCache::new(MAX_PAIRS)),
            ttl,
        }
    }

    /// Whether either of `a` and `b` has blocked the other.
    pub async fn between(&self, db: &DatabaseConnection, a: &str, b: &str) -> Result<bool, DbErr> {
        let key = pair(a, b);
        let epoch = {
            let cache = self
                .cache
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            if let Some(blocked) = cache.get(&key) {
                return Ok(*blocked);
            }
            cache.epoch()
        };
        let blocked = membership::blocked_between(db, a, b).await?;
        let mut cache = self
            .cache
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        cache.fill(epoch, key, blocked, self.ttl);
        Ok(blocked)
    }

    /// One of `a` and `b` blocked or unblocked the other: ask the database next time.
    pub fn forget(&self, a: &str, b: &str) {
        let mut cache = self
            .cache
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        cache.forget(&pair(a, b));
    }
}
