//! The node's registry of local users and groups, owned by the `NodeActor`: which users
//! have sockets here (and how many), which groups have online members here, and the
//! actors serving them. Kept apart from the actor so the bookkeeping reads plainly.
//!
//! It also notes when a group gains its first local member or loses its last one, which is
//! when the `NodeActor` subscribes to or leaves the group's bus subject.
//!
//! A connection's groups are read from the database after it connects and arrive later
//! ([`Registry::groups_loaded`]); a membership change that reaches the node meanwhile may
//! be newer than what was read, so it wins over it ([`Loads`]): a member removed while
//! their groups were loading is not put back.
//!
//! Now and then every local user's memberships are read again and the routing set to
//! match ([`Registry::start_reconcile`], [`Registry::reconciled`]): a change this node was
//! never told of (its forward failed with Redis or NATS down) or a load that failed at
//! connect is so repaired within one round. Changes arriving during the read win over it,
//! as during a load.

use std::collections::{HashMap, HashSet};

use actix::{Actor, Addr};
use tokio::sync::oneshot;

use super::group::{GroupActor, JoinGroup, LeaveGroup};
use super::user::{AddSocket, RemoveSocket, UserActor};
use crate::engineio::Sid;
use crate::socketio::Socket;

#[derive(Debug)]
struct LocalUser {
    actor: Addr<UserActor>,
    sockets: HashSet<Sid>,
    groups: HashSet<String>,
    loads: Loads,
    /// The user's sockets not routed yet (their groups are loading or their subscriptions
    /// under way), each with the `sync`s waiting for it.
    unrouted: HashMap<Sid, Vec<oneshot::Sender<()>>>,
}

/// The user's group loads in flight (by socket), and the membership changes applied since
/// the first of them started.
#[derive(Debug, Default)]
struct Loads {
    loading: HashSet<Sid>,
    changed: HashMap<String, bool>,
}

impl Loads {
    /// The groups of `socket` are being read.
    fn start(&mut self, socket: Sid) {
        self.loading.insert(socket);
    }

    /// A membership change was applied: remembered while a load is in flight.
    fn note(&mut self, group_id: &str, member: bool) {
        if !self.loading.is_empty() {
            self.changed.insert(group_id.to_owned(), member);
        }
    }

    /// The groups of `socket` were read as `groups`; returns those to join: all but the ones
    /// the user left meanwhile (those joined meanwhile are joined already), and none if the
    /// socket is gone (what it read may predate changes no longer remembered).
    fn finish(&mut self, socket: &Sid, groups: Vec<String>) -> Vec<String> {
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
    fn finish_reconcile(
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
    fn forget(&mut self, socket: &Sid) {
        self.loading.remove(socket);
        if self.loading.is_empty() {
            self.changed.clear();
        }
    }
}

/// A group with members online here: its actor (which holds who they are) and how many
/// they are. The users' own `groups` are the record of who routes what; this only counts,
/// to know when the group gains its first or loses its last local member.
#[derive(Debug)]
struct LocalGroup {
    actor: Addr<GroupActor>,
    members: usize,
}

/// A group gained its first local member (`present`) or lost its last one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct GroupChange {
    /// The group.
    pub(super) group_id: String,
    /// Whether it now has local members.
    pub(super) present: bool,
}

/// Local users and groups.
#[derive(Debug, Default)]
pub(super) struct Registry {
    users: HashMap<String, LocalUser>,
    groups: HashMap<String, LocalGroup>,
    /// Groups that appeared or vanished since the owner last asked.
    group_changes: Vec<GroupChange>,
}

impl Registry {
    /// Adds a socket of `user_id` (its groups follow: [`Registry::groups_loaded`]); true if
    /// it is the user's first here.
    pub(super) fn add_socket(&mut self, user_id: &str, socket: Socket) -> bool {
        let first = !self.users.contains_key(user_id);
        if first {
            metrics::gauge!("confab_users_online").increment(1.0);
        }
        let user = self
            .users
            .entry(user_id.to_owned())
            .or_insert_with(|| LocalUser {
                actor: UserActor::default().start(),
                sockets: HashSet::new(),
                groups: HashSet::new(),
                loads: Loads::default(),
                unrouted: HashMap::new(),
            });
        user.sockets.insert(socket.id().clone());
        user.unrouted.insert(socket.id().clone(), Vec::new());
        user.loads.start(socket.id().clone());
        user.actor.do_send(AddSocket { socket });
        first
    }

    /// Removes a socket; true if it was the user's last here.
    pub(super) fn remove_socket(&mut self, user_id: &str, id: &Sid) -> bool {
        let Some(user) = self.users.get_mut(user_id) else {
            return false;
        };
        if !user.sockets.remove(id) {
            return false;
        }
        user.loads.forget(id);
        // Its waiting `sync`s are answered: the socket is gone.
        user.unrouted.remove(id);
        user.actor.do_send(RemoveSocket { id: id.clone() });
        if !user.sockets.is_empty() {
            return false;
        }
        if let Some(user) = self.users.remove(user_id) {
            metrics::gauge!("confab_users_online").decrement(1.0);
            for group in user.groups {
                self.leave(&group, user_id);
            }
        }
        true
    }

    /// Routes `group_id` to the online user `user_id` (nothing if it is already).
    fn join(&mut self, group_id: &str, user_id: &str, actor: &Addr<UserActor>) {
        let Some(user) = self.users.get_mut(user_id) else {
            return;
        };
        if !user.groups.insert(group_id.to_owned()) {
            return;
        }
        if !self.groups.contains_key(group_id) {
            self.group_changes.push(GroupChange {
                group_id: group_id.to_owned(),
                present: true,
            });
        }
        let group = self
            .groups
            .entry(group_id.to_owned())
            .or_insert_with(|| LocalGroup {
                actor: GroupActor::default().start(),
                members: 0,
            });
        group.members += 1;
        group.actor.do_send(JoinGroup {
            user_id: user_id.to_owned(),
            user: actor.clone().recipient(),
        });
    }

    /// Stops routing `group_id` to `user_id`, whose `groups` no longer have it.
    fn leave(&mut self, group_id: &str, user_id: &str) {
        let Some(group) = self.groups.get_mut(group_id) else {
            return;
        };
        group.members = group.members.saturating_sub(1);
        group.actor.do_send(LeaveGroup {
            user_id: user_id.to_owned(),
        });
        if group.members == 0 {
            self.groups.remove(group_id);
            self.group_changes.push(GroupChange {
                group_id: group_id.to_owned(),
                present: false,
            });
        }
    }

    /// The groups of the user's socket `socket` were read as `groups` (see the module's
    /// documentation); returns the groups joined.
    pub(super) fn groups_loaded(
        &mut self,
        user_id: &str,
        socket: &Sid,
        groups: Vec<String>,
    ) -> Vec<String> {
        let Some(user) = self.users.get_mut(user_id) else {
            return Vec::new();
        };
        let join = user.loads.finish(socket, groups);
        let actor = user.actor.clone();
        for group_id in &join {
            self.join(group_id, user_id, &actor);
        }
        join
    }

    /// Resolves once the user's `socket` is routed: at once if it is (or is not here).
    pub(super) fn when_routed(
        &mut self,
        user_id: &str,
        socket: &Sid,
    ) -> impl Future<Output = ()> + use<> {
        let waiting = self
            .users
            .get_mut(user_id)
            .and_then(|user| user.unrouted.get_mut(socket))
            .map(|waiters| {
                // Syncs that gave up waiting (ROUTING_WAIT) leave: what waits is bounded
                // by the syncs of one socket within that time, which its rate limit caps.
                waiters.retain(|waiter| !waiter.is_closed());
                let (routed, answer) = oneshot::channel();
                waiters.push(routed);
                answer
            });
        async move {
            if let Some(answer) = waiting {
                let _ = answer.await;
            }
        }
    }

    /// The user's `socket` is routed: its groups are loaded and their subscriptions in
    /// place. Answers the `sync`s waiting for it.
    pub(super) fn routed(&mut self, user_id: &str, socket: &Sid) {
        let waiters = self
            .users
            .get_mut(user_id)
            .and_then(|user| user.unrouted.remove(socket));
        for waiter in waiters.into_iter().flatten() {
            let _ = waiter.send(());
        }
    }

    /// A user joined or left a group: takes effect at once if the user is online here.
    pub(super) fn set_membership(&mut self, group_id: &str, user_id: &str, member: bool) {
        if let Some(user) = self.users.get_mut(user_id) {
            user.loads.note(group_id, member);
        }
        if member {
            if let Some(actor) = self.users.get(user_id).map(|user| user.actor.clone()) {
                self.join(group_id, user_id, &actor);
            }
        } else if self
            .users
            .get_mut(user_id)
            .is_some_and(|user| user.groups.remove(group_id))
        {
            self.leave(group_id, user_id);
        }
    }

    /// Starts a reconciliation: every local user's memberships are about to be read.
    /// Returns the users.
    pub(super) fn start_reconcile(&mut self) -> Vec<String> {
        for user in self.users.values_mut() {
            user.loads.start(reconcile_key());
        }
        self.user_ids()
    }

    /// The memberships read since [`Registry::start_reconcile`] (`None`: the read failed):
    /// routes every user that was there then as the database says, but for the changes
    /// that reached the node meanwhile. Returns how many routes it changed.
    pub(super) fn reconciled(&mut self, read: Option<HashMap<String, Vec<String>>>) -> usize {
        let key = reconcile_key();
        let Some(mut read) = read else {
            for user in self.users.values_mut() {
                user.loads.forget(&key);
            }
            return 0;
        };
        let mut changed = 0;
        for user_id in self.user_ids() {
            let found = self.users.get_mut(&user_id).and_then(|user| {
                let groups = read.remove(&user_id).unwrap_or_default();
                let (join, leave) = user.loads.finish_reconcile(&key, groups, &user.groups)?;
                Some((join, leave, user.actor.clone()))
            });
            let Some((join, leave, actor)) = found else {
                continue;
            };
            changed += join.len() + leave.len();
            for group_id in leave {
                self.set_membership(&group_id, &user_id, false);
            }
            for group_id in join {
                self.join(&group_id, &user_id, &actor);
            }
        }
        changed
    }

    /// The actor of a local user.
    pub(super) fn user(&self, user_id: &str) -> Option<&Addr<UserActor>> {
        self.users.get(user_id).map(|user| &user.actor)
    }

    /// The actor of a group with local members.
    pub(super) fn group(&self, group_id: &str) -> Option<&Addr<GroupActor>> {
        self.groups.get(group_id).map(|group| &group.actor)
    }

    /// Whether the user has a socket here.
    pub(super) fn is_online(&self, user_id: &str) -> bool {
        self.users.contains_key(user_id)
    }

    /// Every user with a socket here.
    pub(super) fn user_ids(&self) -> Vec<String> {
        self.users.keys().cloned().collect()
    }

    /// Every group with a member online here.
    pub(super) fn group_ids(&self) -> impl Iterator<Item = &str> {
        self.groups.keys().map(String::as_str)
    }

    /// The groups that gained their first or lost their last local member since the last
    /// call, in order.
    pub(super) fn take_group_changes(&mut self) -> Vec<GroupChange> {
        std::mem::take(&mut self.group_changes)
    }
}

/// The key of a reconciliation among a user's loads (no socket has it: socket ids are
/// random URL-safe base64).
fn reconcile_key() -> Sid {
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
