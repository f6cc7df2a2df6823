//! `NodeActor`: one per process. It keeps the registry of local users and groups (and
//! their actors), routes deliveries to them, and keeps this node's lease in the directory
//! alive so other nodes know it is up, giving it back when the node stops.

use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use confab_cluster::Directory;

use super::registry::Registry;
use super::user::Deliver;
use crate::engineio::Sid;
use crate::socketio::Socket;

/// The process-wide actor of a node.
#[derive(Debug)]
pub struct NodeActor {
    node_id: String,
    directory: Arc<dyn Directory>,
    /// How long the lease lives without a refresh; refreshed every third of it.
    lease_ttl: Duration,
    /// Set by [`Leave`]: no lease refresh may follow the release.
    leaving: bool,
    registry: Registry,
}

impl NodeActor {
    /// An actor for `node_id` holding a lease of `lease_ttl` in `directory`.
    pub fn new(node_id: String, directory: Arc<dyn Directory>, lease_ttl: Duration) -> Self {
        Self {
            node_id,
            directory,
            lease_ttl,
            leaving: false,
            registry: Registry::default(),
        }
    }

    fn refresh_lease(&mut self, ctx: &mut Context<Self>) {
        if self.leaving {
            return;
        }
        let directory = self.directory.clone();
        let node_id = self.node_id.clone();
        let ttl = self.lease_ttl;
        ctx.spawn(
            async move {
                if let Err(error) = directory.refresh_node_lease(&node_id, ttl).await {
                    metrics::counter!("confab_directory_errors_total", "op" => "refresh_lease")
                        .increment(1);
                    tracing::warn!(%error, "could not refresh the node lease");
                }
            }
            .into_actor(self),
        );
    }
}

impl Actor for NodeActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(65_536);
        self.refresh_lease(ctx);
        ctx.run_interval(self.lease_ttl / 3, Self::refresh_lease);
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

/// A user's socket connected here; answers whether it is the user's first on this node.
#[derive(Debug, Message)]
#[rtype(result = "bool")]
pub struct UserConnected {
    /// The user.
    pub user_id: String,
    /// The socket.
    pub socket: Socket,
    /// The groups the user is a member of.
    pub groups: Vec<String>,
}

impl Handler<UserConnected> for NodeActor {
    type Result = bool;

    fn handle(&mut self, connected: UserConnected, _: &mut Self::Context) -> bool {
        self.registry
            .add_socket(&connected.user_id, connected.socket, connected.groups)
    }
}

/// A user's socket disconnected; answers whether it was the user's last on this node.
#[derive(Debug, Message)]
#[rtype(result = "bool")]
pub struct SocketGone {
    /// The user.
    pub user_id: String,
    /// The socket's id.
    pub socket_id: Sid,
}

impl Handler<SocketGone> for NodeActor {
    type Result = bool;

    fn handle(&mut self, gone: SocketGone, _: &mut Self::Context) -> bool {
        self.registry.remove_socket(&gone.user_id, &gone.socket_id)
    }
}

/// Deliver to every connection of these users on this node.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct DeliverToUsers {
    /// The recipients.
    pub users: Vec<String>,
    /// What to deliver.
    pub deliver: Deliver,
}

impl Handler<DeliverToUsers> for NodeActor {
    type Result = ();

    fn handle(&mut self, message: DeliverToUsers, _: &mut Self::Context) {
        for user in &message.users {
            if let Some(actor) = self.registry.user(user)
                && actor.try_send(message.deliver.clone()).is_err()
            {
                metrics::counter!("confab_fanout_dropped_total").increment(1);
            }
        }
    }
}

/// Deliver to every online member of a group on this node.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct DeliverToGroup {
    /// The group.
    pub group_id: String,
    /// What to deliver.
    pub deliver: Deliver,
}

impl Handler<DeliverToGroup> for NodeActor {
    type Result = ();

    fn handle(&mut self, message: DeliverToGroup, _: &mut Self::Context) {
        if let Some(actor) = self.registry.group(&message.group_id)
            && actor.try_send(message.deliver).is_err()
        {
            metrics::counter!("confab_fanout_dropped_total").increment(1);
        }
    }
}

/// A user joined (`member`) or left a group; takes effect at once for online users.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct MembershipChanged {
    /// The group.
    pub group_id: String,
    /// The user.
    pub user_id: String,
    /// Whether the user is now a member.
    pub member: bool,
}

impl Handler<MembershipChanged> for NodeActor {
    type Result = ();

    fn handle(&mut self, change: MembershipChanged, _: &mut Self::Context) {
        self.registry
            .set_membership(&change.group_id, &change.user_id, change.member);
    }
}

/// Which of these users have a connection on this node.
#[derive(Debug, Message)]
#[rtype(result = "Vec<bool>")]
pub struct OnlineHere {
    /// The users asked about.
    pub users: Vec<String>,
}

impl Handler<OnlineHere> for NodeActor {
    type Result = Vec<bool>;

    fn handle(&mut self, query: OnlineHere, _: &mut Self::Context) -> Vec<bool> {
        query
            .users
            .iter()
            .map(|user| self.registry.is_online(user))
            .collect()
    }
}
