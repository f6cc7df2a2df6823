//! `NodeActor`: one per process. It keeps the registry of local users and groups (and
//! their actors), routes deliveries to them, and is this node's link to the cluster: it
//! holds the node's lease in the directory, registers the users online here, and relays
//! deliveries to and from the other nodes over the bus (see [`bridge`]).
//!
//! A delivery to users goes to the local ones at once, then to one envelope per other
//! node that has any of them; which nodes those are, the route cache says ([`routes`]),
//! and one directory lookup for the users it does not know. A delivery to a group goes to the
//! local members at once and is published once on the group's subject, which only nodes
//! with online members of the group subscribe to. The bus is at most once: what it loses,
//! clients repair with `sync`. Standalone mode runs the same code on the in-process
//! directory and bus.

mod bridge;
mod routes;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use confab_cluster::{Bus, Directory, DirectoryError, Keys};
use confab_protocol::cluster::Delivery;

use self::bridge::Subscriptions;
use self::routes::Routes;
use super::registry::Registry;
use super::user::{
    self, Added, CloseSessions, Deliver, NodeLinks, Reconciled, Removed, RoutesChanged,
    SetMembership, SocketRouted, Vacant,
};
use crate::chat::blocks::Blocks;
use crate::engineio::Sid;
use crate::pending::Pending;
use crate::sessions::EndSessions;
use crate::socketio::Socket;
use crate::telemetry;

/// Most users re-registered by one directory call of the heartbeat.
const REFRESH_SLICE: usize = 1000;

/// Who this node is in the cluster and how often it says so.
#[derive(Debug, Clone)]
pub struct NodeSettings {
    /// This node's id: its lease, its directory entries and its bus subject.
    pub node_id: String,
    /// How long the lease and the users' entries live without a heartbeat; the heartbeat
    /// runs every third of it.
    pub lease_ttl: Duration,
    /// The names of keys and subjects.
    pub keys: Keys,
    /// How long the route cache keeps a user's nodes (zero: it keeps nothing).
    pub route_ttl: Duration,
}

/// The process-wide actor of a node.
#[derive(Debug)]
pub struct NodeActor {
    node_id: Arc<str>,
    lease_ttl: Duration,
    keys: Keys,
    directory: Arc<dyn Directory>,
    bus: Arc<dyn Bus>,
    /// Set by [`Leave`]: no lease refresh may follow the release.
    leaving: bool,
    registry: Registry,
    /// The bus subjects this node listens on: its own, the routes subject, and its local
    /// groups'.
    subscriptions: Subscriptions,
    /// Which nodes recently addressed users are online on.
    routes: Routes,
    /// Who blocked whom, as the chat cached it: forgotten on the other nodes' notices.
    blocks: Arc<Blocks>,
    /// The relaying tasks still running (a stopping node waits for them).
    pending: Pending,
}

impl NodeActor {
    /// The actor of the node `settings` describe, on `directory` and `bus`; its relaying
    /// tasks are counted in `pending`; it forgets in `blocks` what other nodes say changed.
    pub fn new(
        settings: NodeSettings,
        directory: Arc<dyn Directory>,
        bus: Arc<dyn Bus>,
        pending: Pending,
        blocks: Arc<Blocks>,
    ) -> Self {
        Self {
            node_id: settings.node_id.into(),
            lease_ttl: settings.lease_ttl,
            keys: settings.keys,
            directory,
            bus,
            leaving: false,
            registry: Registry::default(),
            subscriptions: Subscriptions::default(),
            routes: Routes::new(settings.route_ttl),
            blocks,
            pending,
        }
    }

    /// Refreshes the lease and every local user's entry (which also restores them after the
    /// directory came back empty), and retries subscriptions that failed.
    fn heartbeat(&mut self, ctx: &mut Context<Self>) {
        if self.leaving {
            return;
        }
        let directory = self.directory.clone();
        let node_id = self.node_id.clone();
        let ttl = self.lease_ttl;
        let users = self.registry.online_user_ids();
        let refreshed = users.clone();
        let refresh = async move {
            if let Err(error) = directory.refresh_node_lease(&node_id, ttl).await {
                directory_failed("refresh_lease", &error);
            }
            let users: Vec<&str> = users.iter().map(String::as_str).collect();
            // In slices, so that no single script call blocks Redis for long.
            for slice in users.chunks(REFRESH_SLICE) {
                if let Err(error) = directory.refresh_node_users(&node_id, slice, ttl).await {
                    directory_failed("refresh_users", &error);
                }
            }
        };
        // A user who left while the refresh ran was registered again by it: remove them.
        ctx.spawn(
            refresh
                .into_actor(self)
                .map(move |(), actor, _| actor.forget_departed(refreshed)),
        );
        self.resubscribe(ctx);
    }

    /// Unregisters those of `users` (refreshed by a heartbeat) who are no longer here.
    fn forget_departed(&self, users: Vec<String>) {
        let departed: Vec<String> = users
            .into_iter()
            .filter(|user| !self.registry.is_online(user))
            .collect();
        if departed.is_empty() {
            return;
        }
        let (directory, node_id) = (self.directory.clone(), self.node_id.clone());
        let notice = self.change_notice();
        self.pending.spawn(async move {
            for user in departed {
                if let Err(error) = directory.unregister_user(&user, &node_id).await {
                    directory_failed("unregister_user", &error);
                }
                notice.send(route_changed(&user)).await;
            }
        });
    }

    /// A user joined or left a group: the user's actor, if the user has one here, routes it.
    fn set_membership(&self, group_id: &str, user_id: &str, member: bool) {
        if let Some(user) = self.registry.user(user_id) {
            user.do_send(SetMembership {
                group_id: group_id.to_owned(),
                member,
            });
        }
    }

    /// Hands `deliver` to every local connection of `users`.
    fn deliver_here_to_users(&self, users: &[String], deliver: &Deliver) {
        for user in users {
            if let Some(actor) = self.registry.user(user)
                && actor.try_send(deliver.clone()).is_err()
            {
                metrics::counter!("confab_fanout_dropped_total").increment(1);
            }
        }
    }

    /// Hands `deliver` to the local members of `group_id`.
    fn deliver_here_to_group(&self, group_id: &str, deliver: Deliver) {
        if let Some(actor) = self.registry.group(group_id)
            && actor.try_send(deliver).is_err()
        {
            metrics::counter!("confab_fanout_dropped_total").increment(1);
        }
    }
}

/// The notice that `user` was registered here or unregistered.
fn route_changed(user: &str) -> Delivery {
    Delivery::RouteChanged {
        user: user.to_owned(),
    }
}

/// Counts and logs a failed directory operation; the caller carries on (at most once).
pub(crate) fn directory_failed(op: &'static str, error: &DirectoryError) {
    // On a Redis Cluster, which master it was bound for (empty on one Redis).
    let shard = error.shard().unwrap_or_default().to_owned();
    metrics::counter!("confab_directory_errors_total", "op" => op, "shard" => shard).increment(1);
    tracing::warn!(%error, op, "directory operation failed");
}

impl Actor for NodeActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(65_536);
        self.heartbeat(ctx);
        ctx.run_interval(self.lease_ttl / 3, Self::heartbeat);
    }
}

/// The node is stopping: give the lease back and stop the actor.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct Leave;

impl Handler<Leave> for NodeActor {
    type Result = ResponseActFuture<Self, ()>;

    fn handle(&mut self, _: Leave, _: &mut Self::Context) -> Self::Result {
        self.leaving = true;
        let directory = self.directory.clone();
        let node_id = self.node_id.clone();
        Box::pin(
            async move {
                if let Err(error) = directory.release_node_lease(&node_id).await {
                    tracing::warn!(%error, "could not release the node lease; it will expire");
                }
            }
            .into_actor(self)
            .map(|(), _, ctx| ctx.stop()),
        )
    }
}

/// Answers once the actor has handled every message sent to it before this one (so that
/// the relaying they started is counted in its pending work).
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct Settle;

impl Handler<Settle> for NodeActor {
    type Result = ();

    fn handle(&mut self, _: Settle, _: &mut Self::Context) {}
}

/// A user's socket connected here: handed to the user's actor. Answers what it said
/// (`None` if it could not be reached), once the user is registered in the directory if
/// this is their first socket here.
#[derive(Debug, Message)]
#[rtype(result = "Option<Added>")]
pub struct UserConnected {
    /// The user.
    pub user_id: String,
    /// The socket.
    pub socket: Socket,
}

impl Handler<UserConnected> for NodeActor {
    type Result = ResponseFuture<Option<Added>>;

    fn handle(&mut self, connected: UserConnected, ctx: &mut Self::Context) -> Self::Result {
        let node = ctx.address();
        let added = self
            .registry
            .add_socket(&connected.user_id, connected.socket, || NodeLinks {
                routes: node.clone().recipient(),
                vacant: node.recipient(),
            });
        let directory = self.directory.clone();
        let (node_id, ttl, notice) = (self.node_id.clone(), self.lease_ttl, self.change_notice());
        Box::pin(async move {
            let added = added.await.ok()?;
            if added.first {
                if let Err(error) = directory
                    .register_user(&connected.user_id, &node_id, ttl)
                    .await
                {
                    directory_failed("register_user", &error);
                }
                // Also when the directory failed: the heartbeat registers them later, and
                // the caches must not keep what they knew before.
                notice.send(route_changed(&connected.user_id)).await;
            }
            Some(added)
        })
    }
}

/// A user's socket disconnected: taken from the user's actor. Answers what it said
/// (`None` if the user has no actor here), once the user's entry for this node left the
/// directory if this was their last socket here; not their last if another socket was
/// handed to the actor meanwhile.
#[derive(Debug, Message)]
#[rtype(result = "Option<Removed>")]
pub struct SocketGone {
    /// The user.
    pub user_id: String,
    /// The socket's id.
    pub socket_id: Sid,
}

impl Handler<SocketGone> for NodeActor {
    type Result = ResponseActFuture<Self, Option<Removed>>;

    fn handle(&mut self, gone: SocketGone, _: &mut Self::Context) -> Self::Result {
        let Some((removed, last_added)) =
            self.registry.remove_socket(&gone.user_id, &gone.socket_id)
        else {
            return Box::pin(fut::ready(None));
        };
        Box::pin(removed.into_actor(self).then(move |removed, actor, _| {
            let mut removed = removed.ok();
            // A socket handed to the actor after this one left keeps the user online
            // here: neither unregistered (which could land after that socket's
            // registration) nor announced offline.
            if let Some(removed) = removed.as_mut() {
                removed.last =
                    removed.last && actor.registry.went_offline(&gone.user_id, last_added);
            }
            let last = removed.as_ref().is_some_and(|removed| removed.last);
            let directory = actor.directory.clone();
            let (node_id, notice) = (actor.node_id.clone(), actor.change_notice());
            async move {
                if last {
                    if let Err(error) = directory.unregister_user(&gone.user_id, &node_id).await {
                        directory_failed("unregister_user", &error);
                    }
                    notice.send(route_changed(&gone.user_id)).await;
                }
                removed
            }
            .into_actor(actor)
        }))
    }
}

impl Handler<Vacant> for NodeActor {
    type Result = ();

    fn handle(&mut self, vacant: Vacant, _: &mut Self::Context) {
        self.registry.vacant(&vacant.user_id, vacant.last_added);
    }
}

impl Handler<RoutesChanged> for NodeActor {
    type Result = ResponseFuture<()>;

    fn handle(&mut self, change: RoutesChanged, ctx: &mut Self::Context) -> Self::Result {
        let joined = self.registry.reroute(change);
        self.follow_group_changes(ctx);
        let subjects: Vec<String> = joined
            .iter()
            .map(|group| self.keys.group_subject(group))
            .collect();
        Box::pin(self.when_subscribed(subjects))
    }
}

/// Deliver to every connection of these users, on every node.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct DeliverToUsers {
    /// The recipients.
    pub users: Vec<String>,
    /// What to deliver.
    pub deliver: Deliver,
    /// The span that sent it, whose trace continues on the other nodes.
    pub span: tracing::Span,
}

impl Handler<DeliverToUsers> for NodeActor {
    type Result = ();

    fn handle(&mut self, message: DeliverToUsers, ctx: &mut Self::Context) {
        self.deliver_here_to_users(&message.users, &message.deliver);
        let trace = telemetry::trace_headers(&message.span);
        self.forward_to_users(message.users, &message.deliver, trace, ctx);
    }
}

/// Deliver to every online member of a group, on every node.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct DeliverToGroup {
    /// The group.
    pub group_id: String,
    /// What to deliver.
    pub deliver: Deliver,
    /// The span that sent it, whose trace continues on the other nodes.
    pub span: tracing::Span,
}

impl Handler<DeliverToGroup> for NodeActor {
    type Result = ();

    fn handle(&mut self, message: DeliverToGroup, _: &mut Self::Context) {
        let trace = telemetry::trace_headers(&message.span);
        self.forward_to_group(&message.group_id, &message.deliver, trace);
        self.deliver_here_to_group(&message.group_id, message.deliver);
    }
}

/// Users joined or left a group in one change (a creation, an addition, a removal, a
/// dissolution); takes effect at once for online users, on every node they are online on.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct MembershipChanged {
    /// The group.
    pub group_id: String,
    /// Each user whose membership changed, and whether they are a member now.
    pub users: Vec<(String, bool)>,
}

impl Handler<MembershipChanged> for NodeActor {
    type Result = ();

    fn handle(&mut self, change: MembershipChanged, _: &mut Self::Context) {
        for (user_id, member) in &change.users {
            self.set_membership(&change.group_id, user_id, *member);
        }
        self.forward_membership(change);
    }
}

/// Answers once a socket of the user is routed (its groups loaded and their bus
/// subscriptions in place), at once if it is or is gone. Ask it right after the socket's
/// [`UserConnected`] was sent.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct WhenRouted {
    /// The user.
    pub user_id: String,
    /// The socket.
    pub socket_id: Sid,
}

impl Handler<WhenRouted> for NodeActor {
    type Result = ResponseFuture<()>;

    fn handle(&mut self, asked: WhenRouted, _: &mut Self::Context) -> Self::Result {
        let asked = self.registry.user(&asked.user_id).map(|user| {
            user.send(SocketRouted {
                socket_id: asked.socket_id,
            })
        });
        Box::pin(async move {
            if let Some(asked) = asked {
                let _ = asked.await;
            }
        })
    }
}

/// One of two users blocked or unblocked the other (this node has forgotten the pair
/// already): tell the other nodes.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct TellBlocksChanged {
    /// One user.
    pub a: String,
    /// The other.
    pub b: String,
}

impl Handler<TellBlocksChanged> for NodeActor {
    type Result = ();

    fn handle(&mut self, changed: TellBlocksChanged, _: &mut Self::Context) {
        let notice = self.change_notice();
        let change = Delivery::BlocksChanged {
            a: changed.a,
            b: changed.b,
        };
        self.pending.spawn(async move { notice.send(change).await });
    }
}

/// Starts re-reading the memberships of the users online here; answers who they are.
/// [`MembershipsRead`] must follow.
#[derive(Debug, Message)]
#[rtype(result = "Vec<String>")]
pub struct StartReconcile;

impl Handler<StartReconcile> for NodeActor {
    type Result = Vec<String>;

    fn handle(&mut self, _: StartReconcile, _: &mut Self::Context) -> Vec<String> {
        // Only the users with a socket: an actor that stays for its presence turns is not
        // read, and must not take the (empty) answer for its user if they come back.
        for (_, user) in self.registry.online_users() {
            user.do_send(user::StartReconcile);
        }
        self.registry.online_user_ids()
    }
}

/// The memberships of the users [`StartReconcile`] named, by user (`None` if they could
/// not be read): each user's actor routes them so, but for the changes that reached it
/// meanwhile (an actor that was not asked ignores it).
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct MembershipsRead {
    /// Each user's groups.
    pub groups: Option<HashMap<String, Vec<String>>>,
}

impl Handler<MembershipsRead> for NodeActor {
    type Result = ();

    fn handle(&mut self, mut read: MembershipsRead, _: &mut Self::Context) {
        for (user_id, user) in self.registry.users() {
            let groups = read
                .groups
                .as_mut()
                .map(|groups| groups.remove(user_id).unwrap_or_default());
            user.do_send(Reconciled { groups });
        }
    }
}

/// Which of these users are online on any node (from the directory; if it cannot be
/// reached, on this node).
#[derive(Debug, Message)]
#[rtype(result = "Vec<bool>")]
pub struct OnlineAnywhere {
    /// The users asked about.
    pub users: Vec<String>,
}

impl Handler<OnlineAnywhere> for NodeActor {
    type Result = ResponseFuture<Vec<bool>>;

    fn handle(&mut self, query: OnlineAnywhere, _: &mut Self::Context) -> Self::Result {
        let here: Vec<bool> = query
            .users
            .iter()
            .map(|user| self.registry.is_online(user))
            .collect();
        let directory = self.directory.clone();
        Box::pin(async move {
            let users: Vec<&str> = query.users.iter().map(String::as_str).collect();
            match directory.lookup_users(&users).await {
                Ok(found) => users
                    .iter()
                    .zip(here)
                    .map(|(user, here)| here || found.contains_key(*user))
                    .collect(),
                Err(error) => {
                    directory_failed("lookup_users", &error);
                    here
                }
            }
        })
    }
}

impl Handler<EndSessions> for NodeActor {
    type Result = ();

    fn handle(&mut self, ended: EndSessions, _: &mut Self::Context) {
        for (user, sessions) in ended.by_user {
            if let Some(actor) = self.registry.user(&user) {
                actor.do_send(CloseSessions { sessions });
            }
        }
    }
}
