//! The node's registry of local users and groups, owned by the `NodeActor`: the actors
//! serving the users with sockets here (each `UserActor` owns its user's sockets and
//! routes), and the groups with members online here, with their actors and how many such
//! members they have. Kept apart from the actor so the bookkeeping reads plainly.
//!
//! It also notes when a group gains its first local member or loses its last one, which is
//! when the `NodeActor` subscribes to or leaves the group's bus subject.

use std::collections::HashMap;

use actix::dev::Request;
use actix::{Actor, Addr};

use super::group::{GroupActor, JoinGroup, LeaveGroup};
use super::user::{AddSocket, NodeLinks, RemoveSocket, Retire, RoutesChanged, UserActor};
use crate::engineio::Sid;
use crate::socketio::Socket;

/// A user's actor here.
#[derive(Debug)]
struct LocalUser {
    actor: Addr<UserActor>,
    /// The number of the last socket handed to it.
    last_added: u64,
    /// Whether the user has a socket here, as the actor last answered (it may stay a while
    /// after the last one, until its presence turns end).
    online: bool,
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
    /// The number of the last socket handed to a user's actor.
    added: u64,
}

impl Registry {
    /// Hands a socket of `user_id` to the user's actor (started on `links` if the user has
    /// none here); the answer says whether it is the user's first.
    pub(super) fn add_socket(
        &mut self,
        user_id: &str,
        socket: Socket,
        links: impl FnOnce() -> NodeLinks,
    ) -> Request<UserActor, AddSocket> {
        self.added += 1;
        let user = self
            .users
            .entry(user_id.to_owned())
            .or_insert_with(|| LocalUser {
                actor: UserActor::new(user_id.to_owned(), links()).start(),
                last_added: 0,
                online: true,
            });
        user.last_added = self.added;
        user.online = true;
        user.actor.send(AddSocket {
            socket,
            number: self.added,
        })
    }

    /// Takes a socket from the user's actor (none if the user has none here); the answer
    /// says whether it was the user's last. The number goes to [`Registry::went_offline`].
    pub(super) fn remove_socket(
        &self,
        user_id: &str,
        id: &Sid,
    ) -> Option<(Request<UserActor, RemoveSocket>, u64)> {
        let user = self.users.get(user_id)?;
        let removed = user.actor.send(RemoveSocket { id: id.clone() });
        Some((removed, user.last_added))
    }

    /// The user's actor answered a removal asked when its last socket was numbered
    /// `last_added` that the user has no socket left: offline here, unless a socket was
    /// handed to it since. Returns whether the user is offline here.
    pub(super) fn went_offline(&mut self, user_id: &str, last_added: u64) -> bool {
        match self.users.get_mut(user_id) {
            Some(user) if user.last_added == last_added => {
                user.online = false;
                true
            }
            Some(_) => false,
            None => true,
        }
    }

    /// The user's actor has nothing left to do since the socket numbered `last_added`:
    /// retired, unless a socket was handed to it since.
    pub(super) fn vacant(&mut self, user_id: &str, last_added: u64) {
        if self
            .users
            .get(user_id)
            .is_some_and(|user| user.last_added == last_added)
            && let Some(user) = self.users.remove(user_id)
        {
            user.actor.do_send(Retire);
        }
    }

    /// Routes the groups of `change` to its user or no longer; returns the groups joined.
    pub(super) fn reroute(&mut self, change: RoutesChanged) -> Vec<String> {
        for group_id in &change.leave {
            self.leave(group_id, &change.user_id);
        }
        for group_id in &change.join {
            self.join(group_id, &change);
        }
        change.join
    }

    /// Routes `group_id` to the user of `change`.
    fn join(&mut self, group_id: &str, change: &RoutesChanged) {
        let group = self.groups.entry(group_id.to_owned()).or_insert_with(|| {
            self.group_changes.push(GroupChange {
                group_id: group_id.to_owned(),
                present: true,
            });
            LocalGroup {
                actor: GroupActor::default().start(),
                members: 0,
            }
        });
        group.members += 1;
        group.actor.do_send(JoinGroup {
            user_id: change.user_id.clone(),
            user: change.user.clone(),
        });
    }

    /// Stops routing `group_id` to `user_id`.
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

    /// The actor of a local user.
    pub(super) fn user(&self, user_id: &str) -> Option<&Addr<UserActor>> {
        self.users.get(user_id).map(|user| &user.actor)
    }

    /// Every local user's actor.
    pub(super) fn users(&self) -> impl Iterator<Item = (&str, &Addr<UserActor>)> {
        self.users
            .iter()
            .map(|(user_id, user)| (user_id.as_str(), &user.actor))
    }

    /// The actors of the users with a socket here.
    pub(super) fn online_users(&self) -> impl Iterator<Item = (&str, &Addr<UserActor>)> {
        self.users
            .iter()
            .filter(|(_, user)| user.online)
            .map(|(user_id, user)| (user_id.as_str(), &user.actor))
    }

    /// The actor of a group with local members.
    pub(super) fn group(&self, group_id: &str) -> Option<&Addr<GroupActor>> {
        self.groups.get(group_id).map(|group| &group.actor)
    }

    /// Whether the user has a socket here.
    pub(super) fn is_online(&self, user_id: &str) -> bool {
        self.users.get(user_id).is_some_and(|user| user.online)
    }

    /// Every user with a socket here.
    pub(super) fn online_user_ids(&self) -> Vec<String> {
        self.online_users()
            .map(|(user_id, _)| user_id.to_owned())
            .collect()
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
