//! Every Redis key and NATS subject Confab uses, built in one place.
//!
//! Names are part of the wire contract between nodes (two releases run side by side during a
//! rolling update), so nothing else in the workspace assembles them by hand.
//!
//! Layout for the default prefix `confab`:
//!
//! | name | kind | what |
//! |---|---|---|
//! | `{confab}:node:<node>` | Redis string, TTL | the node's lease: alive while it exists |
//! | `{confab}:nodes` | Redis set | index of nodes that took a lease, pruned when read |
//! | `{confab}:user:<user>` | Redis sorted set | a user's nodes; score = entry expiry (Unix ms) |
//! | `{confab:<bucket>}:user:<user>` | Redis sorted set | the same, on a Redis Cluster ([`Keys::sharded`]) |
//! | `confab.node.<node>` | NATS subject | messages for one node |
//! | `confab.group.<group>` | NATS subject | messages for every node with members of a group |
//! | `confab.poll.<node>` | NATS subject | polling requests forwarded to the session's node |
//!
//! The Redis prefix is wrapped in a hash tag (`{confab}`): on one Redis (or Sentinel) every
//! directory key then sits in one slot, and the Lua scripts touch a user's entries and the
//! leases of the nodes they point at together. On a Redis Cluster that would put the whole
//! directory on one master, so there the users' entries are spread over
//! [`USER_BUCKETS`] hash tags (`{confab:<bucket>}`, the bucket a hash of the user id):
//! the buckets' slots spread over every master, a script call touches the users of one
//! bucket, and the leases stay together under `{confab}`, read once per round of lookups.
//! Every node of a deployment must use the same layout: it follows from the Redis URL
//! (`redis-cluster://`). Ids go into Redis keys unchanged (keys are binary-safe); in NATS subjects every
//! byte that could change the subject's meaning (`.`, `*`, `>`, whitespace, `%`, non-ASCII) is
//! percent-encoded, so a group named `>` cannot subscribe to everything.

use crate::error::KeysError;

/// The prefix used when none is configured.
pub const DEFAULT_PREFIX: &str = "confab";

/// How many hash tags the users' entries are spread over on a Redis Cluster: many more
/// than any cluster has masters, so that each master holds a share of them.
pub const USER_BUCKETS: u16 = 1024;

/// Builds the names of Confab's Redis keys and NATS subjects under one prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Keys {
    /// Validated: dot-separated tokens of ASCII letters, digits, `-` and `_`.
    prefix: String,
    /// Whether the users' entries are spread over [`USER_BUCKETS`] hash tags.
    sharded: bool,
}

impl Default for Keys {
    fn default() -> Self {
        Self {
            prefix: DEFAULT_PREFIX.to_owned(),
            sharded: false,
        }
    }
}

impl Keys {
    /// Names under `prefix`: one or more dot-separated tokens of ASCII letters, digits, `-`
    /// and `_` (so it is valid both inside a Redis hash tag and as NATS subject tokens).
    pub fn new(prefix: &str) -> Result<Self, KeysError> {
        let valid_token = |token: &str| {
            !token.is_empty()
                && token
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        };
        if prefix.split('.').all(valid_token) {
            Ok(Self {
                prefix: prefix.to_owned(),
                sharded: false,
            })
        } else {
            Err(KeysError::InvalidPrefix(prefix.to_owned()))
        }
    }

    /// The same names, with the users' entries spread over [`USER_BUCKETS`] hash tags (for
    /// a Redis Cluster; see the module's documentation).
    #[must_use]
    pub fn sharded(self) -> Self {
        Self {
            sharded: true,
            ..self
        }
    }

    /// Whether the users' entries are spread over hash tags.
    pub fn is_sharded(&self) -> bool {
        self.sharded
    }

    /// The prefix every name starts with.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The bucket of `user`'s entry: what the users of one script call share. Always 0
    /// unless [`Keys::sharded`].
    pub fn user_bucket(&self, user: &str) -> u16 {
        if self.sharded {
            fred::util::redis_keyslot(user.as_bytes()) % USER_BUCKETS
        } else {
            0
        }
    }

    /// The lease key of `node`: it exists while the node is alive.
    pub fn node_lease(&self, node: &str) -> String {
        let mut key = self.node_lease_prefix();
        key.push_str(node);
        key
    }

    /// What every lease key starts with; the Lua scripts append a node id to it.
    pub fn node_lease_prefix(&self) -> String {
        format!("{{{}}}:node:", self.prefix)
    }

    /// The set indexing the nodes that took a lease (so live nodes can be listed without
    /// scanning the keyspace).
    pub fn node_index(&self) -> String {
        format!("{{{}}}:nodes", self.prefix)
    }

    /// The sorted set of nodes `user` is online on (member = node id, score = expiry in Unix
    /// milliseconds).
    pub fn user_nodes(&self, user: &str) -> String {
        if self.sharded {
            format!("{{{}:{}}}:user:{user}", self.prefix, self.user_bucket(user))
        } else {
            format!("{{{}}}:user:{user}", self.prefix)
        }
    }

    /// The subject a node listens on for messages addressed to it.
    pub fn node_subject(&self, node: &str) -> String {
        format!("{}.node.{}", self.prefix, subject_token(node))
    }

    /// The subject that carries a group's messages to every node with members online.
    pub fn group_subject(&self, group: &str) -> String {
        format!("{}.group.{}", self.prefix, subject_token(group))
    }

    /// The subject every node listens on for the change notices that keep its caches
    /// correct: the nodes a user is online on, and blocks between users.
    pub fn changes_subject(&self) -> String {
        format!("{}.changes", self.prefix)
    }

    /// The subject a node answers requests on for Engine.IO polling sessions it owns, so a
    /// polling request can land on any node (no sticky sessions).
    pub fn poll_request_subject(&self, node: &str) -> String {
        format!("{}.poll.{}", self.prefix, subject_token(node))
    }
}

/// The reply subject of the `seq`-th request made through the in-process bus.
pub(crate) fn local_inbox(seq: u64) -> String {
    format!("_INBOX.local.{seq}")
}

/// `id` as one NATS subject token: bytes outside a conservative set are percent-encoded,
/// which keeps the mapping injective. The empty id becomes `%`, which no encoding produces.
fn subject_token(id: &str) -> String {
    if id.is_empty() {
        return "%".to_owned();
    }
    let mut token = String::with_capacity(id.len());
    for byte in id.bytes() {
        if byte.is_ascii_alphanumeric() || b"-_:@=+".contains(&byte) {
            token.push(char::from(byte));
        } else {
            token.push_str(&format!("%{byte:02X}"));
        }
    }
    token
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_prefix_names() {
        let keys = Keys::default();
        assert_eq!(keys.node_lease("n1"), "{confab}:node:n1");
        assert_eq!(keys.node_index(), "{confab}:nodes");
        assert_eq!(keys.user_nodes("u1"), "{confab}:user:u1");
        assert_eq!(keys.node_subject("n1"), "confab.node.n1");
        assert_eq!(keys.group_subject("g1"), "confab.group.g1");
        assert_eq!(keys.poll_request_subject("n1"), "confab.poll.n1");
        assert_eq!(keys.changes_subject(), "confab.changes");
    }

    #[test]
    fn custom_prefix_is_used_everywhere() -> Result<(), KeysError> {
        let keys = Keys::new("prod.eu-1")?;
        assert_eq!(keys.node_lease("n"), "{prod.eu-1}:node:n");
        assert_eq!(keys.user_nodes("u"), "{prod.eu-1}:user:u");
        assert_eq!(keys.group_subject("g"), "prod.eu-1.group.g");
        assert!(keys.node_lease("n").starts_with(&keys.node_lease_prefix()));
        Ok(())
    }

    #[test]
    fn sharded_names_spread_users_over_buckets_and_keep_the_leases_together() {
        let keys = Keys::default().sharded();
        assert_eq!(keys.node_lease("n1"), "{confab}:node:n1");
        assert_eq!(keys.node_index(), "{confab}:nodes");
        let bucket = keys.user_bucket("u1");
        assert_eq!(
            keys.user_nodes("u1"),
            format!("{{confab:{bucket}}}:user:u1")
        );
        // Stable: every node computes the same bucket for a user.
        assert_eq!(Keys::default().sharded().user_bucket("u1"), bucket);
        let buckets: std::collections::HashSet<u16> = (0..2000)
            .map(|i| keys.user_bucket(&format!("user-{i}")))
            .collect();
        assert!(buckets.iter().all(|bucket| *bucket < USER_BUCKETS));
        assert!(
            buckets.len() > 700,
            "{} buckets for 2,000 users",
            buckets.len()
        );
        // Unsharded, every user is in bucket 0 and keeps the one-slot names.
        assert_eq!(Keys::default().user_bucket("u1"), 0);
    }

    #[test]
    fn prefixes_that_would_break_names_are_rejected() {
        for bad in [
            "", ".", "a.", ".a", "a..b", "a b", "a*", ">", "{a}", "a:b", "é",
        ] {
            assert!(Keys::new(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn subject_tokens_cannot_contain_wildcards_or_separators() {
        let keys = Keys::default();
        assert_eq!(keys.group_subject(">"), "confab.group.%3E");
        assert_eq!(keys.group_subject("a.b"), "confab.group.a%2Eb");
        assert_eq!(keys.group_subject("a b*"), "confab.group.a%20b%2A");
        assert_eq!(keys.node_subject(""), "confab.node.%");
        // Encoding is injective: a literal "%2E" is not confused with ".".
        assert_ne!(keys.group_subject("%2E"), keys.group_subject("."));
        // UUIDs and numeric ids pass unchanged.
        let uuid = "0190b6c4-7f3e-7a1b-9c2d-3e4f5a6b7c8d";
        assert_eq!(keys.node_subject(uuid), format!("confab.node.{uuid}"));
    }
}
