//! A cache kept correct by change notices: what a node read from the directory or the
//! database, kept for a while, and forgotten as soon as a notice says it changed.
//!
//! A read that was under way when any entry was forgotten is used by its caller but not
//! kept: it may predate the change ([`NoticedCache::fill`] compares the epoch the read
//! started at). Each entry also has an age limit, which bounds what a lost notice costs.
//! The cache holds at most its bound of entries; past it, it drops what has expired, then
//! everything.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::Hash;
use std::time::{Duration, Instant};

/// Entries read from elsewhere, forgotten on notice or with age.
#[derive(Debug)]
pub struct NoticedCache<K, V> {
    entries: HashMap<K, (V, Instant)>,
    max_entries: usize,
    /// Counts the entries forgotten: a read fills the cache only if none was forgotten
    /// since it started.
    epoch: u64,
}

impl<K: Hash + Eq, V> NoticedCache<K, V> {
    /// An empty cache of at most `max_entries`.
    pub fn new(max_entries: usize) -> Self {
        Self {
            entries: HashMap::new(),
            max_entries,
            epoch: 0,
        }
    }

    /// The current epoch, to give back to [`NoticedCache::fill`] with what a read found.
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// The live entry of `key`.
    pub fn get<Q: Hash + Eq + ?Sized>(&self, key: &Q) -> Option<&V>
    where
        K: Borrow<Q>,
    {
        self.entries
            .get(key)
            .filter(|(_, expires)| *expires > Instant::now())
            .map(|(value, _)| value)
    }

    /// Keeps `value` for `key` for `ttl`, as read by a read started at `epoch` — unless an
    /// entry was forgotten since (or `ttl` is zero).
    pub fn fill(&mut self, epoch: u64, key: K, value: V, ttl: Duration) {
        if epoch != self.epoch || ttl.is_zero() {
            return;
        }
        let now = Instant::now();
        if self.entries.len() >= self.max_entries && !self.entries.contains_key(&key) {
            self.entries.retain(|_, (_, expires)| *expires > now);
            if self.entries.len() >= self.max_entries {
                self.entries.clear();
            }
        }
        self.entries.insert(key, (value, now + ttl));
    }

    /// A notice said `key` changed: read it again next time.
    pub fn forget<Q: Hash + Eq + ?Sized>(&mut self, key: &Q)
    where
        K: Borrow<Q>,
    {
        self.entries.remove(key);
        self.epoch += 1;
    }

    /// How many entries the cache holds.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether it holds none.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINUTE: Duration = Duration::from_secs(60);

    #[test]
    fn a_read_is_kept_until_a_notice_forgets_it() {
        let mut cache = NoticedCache::new(10);
        cache.fill(cache.epoch(), "bob", 2, MINUTE);
        assert_eq!(cache.get(&"bob"), Some(&2));
        cache.forget(&"bob");
        assert_eq!(cache.get(&"bob"), None);
    }

    #[test]
    fn a_read_that_overlapped_a_notice_is_not_kept() {
        let mut cache = NoticedCache::new(10);
        let epoch = cache.epoch();
        cache.forget(&"bob");
        cache.fill(epoch, "bob", 2, MINUTE);
        assert!(cache.is_empty());
    }

    #[test]
    fn expired_and_zero_ttl_entries_are_not_answered() {
        let mut cache = NoticedCache::new(10);
        cache.fill(0, "now", 1, Duration::ZERO);
        cache.fill(0, "soon", 1, Duration::from_nanos(1));
        assert_eq!((cache.get(&"now"), cache.get(&"soon")), (None, None));
    }

    #[test]
    fn the_cache_never_holds_more_than_its_bound() {
        let mut cache = NoticedCache::new(3);
        for n in 0..3 {
            cache.fill(0, n, n, MINUTE);
        }
        cache.fill(0, 3, 3, MINUTE);
        assert!(cache.len() <= 3);
        assert_eq!(cache.get(&3), Some(&3));
    }
}
