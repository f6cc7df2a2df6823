//! A user's group loads on this node: a connection's groups are read from the database
//! after it connects and arrive later; a membership change that reaches the user's actor
//! meanwhile may be newer than what was read, so it wins over it: a member removed while
//! their groups were loading is not put back.
//!
//! Now and then every local user's memberships are read again (a reconciliation), and
//! the routing set to match: a change this node was never told of (its forward failed
//! with Redis or NATS down) or a load that failed at connect is so repaired within one
//! round. Changes arriving during the read win over it, as during a load.

use std::collections::{HashMap, HashSet};

use crate::engineio::Sid;

/// The user's group loads in flight (by socket), and the membership changes applied since
/// the first of them started.
#[derive(Debug, Default)]
pub(super) struct Loads {
    loading: HashSet<Sid>,
    changed: HashMap<String, bool>,
}

impl Loads {
    /// The groups of `socket` are being read.
    pub(super) fn start(&mut self, socket: Sid) {
        self.loading.insert(socket);
    }

    /// A membership change was applied: remembered while a load is in flight.
    pub(super) fn note(&mut self, group_id: &str, member: bool) {
        if !self.loading.is_empty() {
            self.changed.insert(group_id.to_owned(), member);
        }
    }

    /// The groups of `socket` were read as `groups`; returns those to join: all but the ones
    /// the user left meanwhile (those joined meanwhile are joined already), and none if the
    /// socket is gone (what it read may predate changes no longer remembered).
    pub(super) fn finish(&mut self, socket: &Sid, groups: Vec<String>) -> Vec<String> {
        if !self.loading.contains(socket) {
            return Vec::new();
        }
        let join = groups
            .into_iter()
            .filter(|group| self.changed.get(group) != Some(&false))
            .collect();
        self.forget(socket);
        join
    }

    /// The user's groups were read again as `read` (a reconciliation under `key`) while
    /// they are routed in `current`: the groups to join and to leave, leaving alone those
    /// changed meanwhile; `None` if the read was not started for this user.
    pub(super) fn finish_reconcile(
        &mut self,
        key: &Sid,
        read: Vec<String>,
        current: &HashSet<String>,
    ) -> Option<(Vec<String>, Vec<String>)> {
        if !self.loading.contains(key) {
            return None;
        }
        let read: HashSet<String> = read.into_iter().collect();
        let join = read
            .iter()
            .filter(|group| !current.contains(*group) && self.changed.get(*group) != Some(&false))
            .cloned()
            .collect();
        let leave = current
            .iter()
            .filter(|group| !read.contains(*group) && self.changed.get(*group) != Some(&true))
            .cloned()
            .collect();
        self.forget(key);
        Some((join, leave))
    }

    /// `socket` has no load in flight any more.
    pub(super) fn forget(&mut self, socket: &Sid) {
        self.loading.remove(socket);
        if self.loading.is_empty() {
            self.changed.clear();
        }
    }
}

/// The key of a reconciliation among a user's loads (no socket has it: socket ids are
/// random URL-safe base64).
pub(super) fn reconcile_key() -> Sid {
    Sid::from("~reconcile")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn groups(names: &[&str]) -> Vec<String> {
        names.iter().map(|name| (*name).to_owned()).collect()
    }

    #[test]
    fn changes_during_a_load_win_over_what_it_read() {
        let (first, second) = (Sid::generate(), Sid::generate());
        let mut loads = Loads::default();
        loads.note("before", false);
        loads.start(first.clone());
        loads.start(second.clone());
        loads.note("left", false);
        loads.note("rejoined", false);
        loads.note("rejoined", true);
        // Read before the changes were made: the snapshot still has "left".
        let read = groups(&["kept", "left", "rejoined", "before"]);
        assert_eq!(
            loads.finish(&first, read.clone()),
            groups(&["kept", "rejoined", "before"])
        );
        // Still remembered for the other socket's load...
        assert_eq!(
            loads.finish(&second, read.clone()),
            groups(&["kept", "rejoined", "before"])
        );
        // ...and forgotten once no load is in flight.
        loads.note("left", false);
        let third = Sid::generate();
        loads.start(third.clone());
        assert_eq!(loads.finish(&third, read.clone()), read);
    }

    #[test]
    fn a_reconciliation_routes_as_read_but_for_the_changes_made_meanwhile() {
        let key = reconcile_key();
        let mut loads = Loads::default();
        loads.start(key.clone());
        loads.note("joined-meanwhile", true);
        loads.note("left-meanwhile", false);
        let current: HashSet<String> = groups(&["kept", "stale", "joined-meanwhile"])
            .into_iter()
            .collect();
        // Read before the changes: it still has "left-meanwhile", not "joined-meanwhile".
        let read = groups(&["kept", "missed", "left-meanwhile"]);
        let (join, leave) = loads.finish_reconcile(&key, read, &current).unwrap();
        assert_eq!(join, groups(&["missed"]));
        assert_eq!(leave, groups(&["stale"]));
        assert!(loads.loading.is_empty() && loads.changed.is_empty());
        // A user that connected after the read started is left to its own load.
        assert!(
            loads
                .finish_reconcile(&key, groups(&["x"]), &current)
                .is_none()
        );
    }

    #[test]
    fn a_socket_gone_before_its_load_ends_no_longer_holds_the_changes() {
        let socket = Sid::generate();
        let mut loads = Loads::default();
        loads.start(socket.clone());
        loads.note("left", false);
        loads.forget(&socket);
        assert!(loads.changed.is_empty() && loads.loading.is_empty());
        // Its load, arriving after, joins nothing: it may predate the change just forgotten.
        assert_eq!(
            loads.finish(&socket, groups(&["left"])),
            Vec::<String>::new()
        );
    }
}
