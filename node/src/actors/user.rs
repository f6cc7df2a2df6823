//! `UserActor`: one per user with connections on this node, and the one owner of everything
//! about that user here: the user's sockets (every device), which of the user's groups are
//! routed to them ([`loads`]), which sockets are not routed yet, and the order of the
//! user's presence announcements ([`turns`]).
//!
//! It tells the `NodeActor` (through [`NodeLinks`], so that it is tested alone) which
//! groups to route to it or no longer ([`RoutesChanged`]); the node keeps only the
//! actor's address and counts each group's local members, to know when to subscribe to a
//! group's bus subject. Once the user has no socket left and no turn open, the actor
//! says so ([`Vacant`]) and the node retires it, unless a socket was handed to it since.

mod loads;
mod turns;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use confab_protocol::chat::events;
use confab_protocol::engineio::Frame;
use confab_protocol::socketio::Event;
use tokio::sync::oneshot;

use self::loads::{Loads, reconcile_key};
pub use self::turns::Turn;
use self::turns::{TurnEnded, Turns};
use crate::auth::SessionEnd;
use crate::engineio::Sid;
use crate::socketio::Socket;

/// Where a user actor tells the node what changed.
#[derive(Debug, Clone)]
pub struct NodeLinks {
    /// Group routes gained or lost.
    pub routes: Recipient<RoutesChanged>,
    /// The actor has nothing left to do.
    pub vacant: Recipient<Vacant>,
}

/// All of one user's connections on this node.
#[derive(Debug)]
pub struct UserActor {
    user_id: String,
    sockets: HashMap<Sid, Socket>,
    /// The groups routed to the user here.
    groups: HashSet<String>,
    loads: Loads,
    /// The user's sockets not routed yet (their groups are loading or their subscriptions
    /// under way), each with the `sync`s waiting for it.
    unrouted: HashMap<Sid, Vec<oneshot::Sender<()>>>,
    turns: Turns,
    /// The number the node gave the last socket it handed over ([`AddSocket::number`]).
    last_added: u64,
    node: NodeLinks,
}

impl UserActor {
    /// The actor of `user_id`, reporting to `node`.
    pub fn new(user_id: String, node: NodeLinks) -> Self {
        Self {
            user_id,
            sockets: HashMap::new(),
            groups: HashSet::new(),
            loads: Loads::default(),
            unrouted: HashMap::new(),
            turns: Turns::default(),
            last_added: 0,
            node,
        }
    }

    /// What tells the node to route `join` to this user and no longer `leave` (nothing if
    /// neither has any group).
    fn routes_changed(
        &self,
        ctx: &Context<Self>,
        join: Vec<String>,
        leave: Vec<String>,
    ) -> Option<RoutesChanged> {
        (!join.is_empty() || !leave.is_empty()).then(|| RoutesChanged {
            user_id: self.user_id.clone(),
            user: ctx.address().recipient(),
            join,
            leave,
        })
    }

    /// Tells the node to route `join` to this user and no longer `leave`.
    fn reroute(&self, ctx: &Context<Self>, join: Vec<String>, leave: Vec<String>) {
        if let Some(change) = self.routes_changed(ctx, join, leave) {
            self.node.routes.do_send(change);
        }
    }

    /// The socket `id` is routed: answers the `sync`s waiting for it.
    fn routed(&mut self, id: &Sid) {
        for waiter in self.unrouted.remove(id).into_iter().flatten() {
            let _ = waiter.send(());
        }
    }
}

impl Actor for UserActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(4096);
    }
}

/// A socket of this user connected here; answers whether it is the user's first here, and
/// its turn among the user's presence announcements.
#[derive(Debug, Message)]
#[rtype(result = "Added")]
pub struct AddSocket {
    /// The socket.
    pub socket: Socket,
    /// A number the node gives each socket it hands to a user actor, rising.
    pub number: u64,
}

/// What [`AddSocket`] answers.
#[derive(Debug, MessageResponse)]
pub struct Added {
    /// Whether the user had no other socket here.
    pub first: bool,
    /// The socket's presence turn.
    pub turn: Turn,
    /// The user's actor, where the socket's groups go once read ([`GroupsLoaded`]).
    pub user: Addr<UserActor>,
}

impl Handler<AddSocket> for UserActor {
    type Result = Added;

    fn handle(&mut self, add: AddSocket, ctx: &mut Self::Context) -> Added {
        let first = self.sockets.is_empty();
        if first {
            metrics::gauge!("confab_users_online").increment(1.0);
        }
        self.last_added = add.number;
        let id = add.socket.id().clone();
        self.sockets.insert(id.clone(), add.socket);
        self.unrouted.insert(id.clone(), Vec::new());
        self.loads.start(id);
        Added {
            first,
            turn: self.turns.queue(ctx.address().recipient()),
            user: ctx.address(),
        }
    }
}

/// A socket of this user disconnected; answers whether it was the user's last here, and
/// its turn among the user's presence announcements.
#[derive(Debug, Message)]
#[rtype(result = "Removed")]
pub struct RemoveSocket {
    /// The socket's id.
    pub id: Sid,
}

/// What [`RemoveSocket`] answers.
#[derive(Debug, MessageResponse)]
pub struct Removed {
    /// Whether the user has no socket left here.
    pub last: bool,
    /// The disconnection's presence turn.
    pub turn: Turn,
}

impl Handler<RemoveSocket> for UserActor {
    type Result = Removed;

    fn handle(&mut self, remove: RemoveSocket, ctx: &mut Self::Context) -> Removed {
        let known = self.sockets.remove(&remove.id).is_some();
        self.loads.forget(&remove.id);
        // Its waiting `sync`s are answered: the socket is gone.
        self.unrouted.remove(&remove.id);
        let last = known && self.sockets.is_empty();
        if last {
            metrics::gauge!("confab_users_online").decrement(1.0);
            let leave = self.groups.drain().collect();
            self.reroute(ctx, Vec::new(), leave);
        }
        Removed {
            last,
            turn: self.turns.queue(ctx.address().recipient()),
        }
    }
}

impl Handler<TurnEnded> for UserActor {
    type Result = ();

    fn handle(&mut self, _: TurnEnded, _: &mut Self::Context) {
        if self.sockets.is_empty() && self.turns.idle() {
            self.node.vacant.do_send(Vacant {
                user_id: self.user_id.clone(),
                last_added: self.last_added,
            });
        }
    }
}

/// A user's actor has no socket and no open turn: the node retires it unless it handed it
/// a socket after the one numbered `last_added`.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct Vacant {
    /// The user.
    pub user_id: String,
    /// The number of the last socket the actor was handed.
    pub last_added: u64,
}

/// Stops a vacant actor.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct Retire;

impl Handler<Retire> for UserActor {
    type Result = ();

    fn handle(&mut self, _: Retire, ctx: &mut Self::Context) {
        ctx.stop();
    }
}

/// The node is to route `join` to the user and no longer `leave`; answered once the
/// joined groups' messages reach the node (their bus subscriptions are in place).
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct RoutesChanged {
    /// The user.
    pub user_id: String,
    /// Where the groups' deliveries go.
    pub user: Recipient<Deliver>,
    /// Groups to route to the user.
    pub join: Vec<String>,
    /// Groups to route no longer.
    pub leave: Vec<String>,
}

/// The groups of a socket of the user, read from the database when it connected (empty if
/// they could not be read): routed but for the changes that arrived meanwhile. Answers
/// once the socket is routed (a client that syncs after that misses nothing in between).
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct GroupsLoaded {
    /// The socket whose groups these are.
    pub socket_id: Sid,
    /// The groups the user is a member of.
    pub groups: Vec<String>,
}

impl Handler<GroupsLoaded> for UserActor {
    type Result = ResponseActFuture<Self, ()>;

    fn handle(&mut self, loaded: GroupsLoaded, ctx: &mut Self::Context) -> Self::Result {
        let join: Vec<String> = self
            .loads
            .finish(&loaded.socket_id, loaded.groups)
            .into_iter()
            .filter(|group| self.groups.insert(group.clone()))
            .collect();
        // Answered once the joined groups' messages reach this node.
        let request = self
            .routes_changed(ctx, join, Vec::new())
            .map(|change| self.node.routes.send(change));
        let socket_id = loaded.socket_id;
        Box::pin(
            async move {
                if let Some(request) = request {
                    let _ = request.await;
                }
            }
            .into_actor(self)
            .map(move |(), actor, _| actor.routed(&socket_id)),
        )
    }
}

/// Answers once the user's socket is routed (its [`GroupsLoaded`] answered), at once if it
/// is or is gone.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct SocketRouted {
    /// The socket.
    pub socket_id: Sid,
}

impl Handler<SocketRouted> for UserActor {
    type Result = ResponseFuture<()>;

    fn handle(&mut self, asked: SocketRouted, _: &mut Self::Context) -> Self::Result {
        let waiting = self.unrouted.get_mut(&asked.socket_id).map(|waiters| {
            // Syncs that gave up waiting leave: what waits is bounded by the syncs of one
            // socket within that time, which its rate limit caps.
            waiters.retain(|waiter| !waiter.is_closed());
            let (routed, answer) = oneshot::channel();
            waiters.push(routed);
            answer
        });
        Box::pin(async move {
            if let Some(answer) = waiting {
                let _ = answer.await;
            }
        })
    }
}

/// The user joined or left a group: takes effect at once while the user is online here.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct SetMembership {
    /// The group.
    pub group_id: String,
    /// Whether the user is a member now.
    pub member: bool,
}

impl Handler<SetMembership> for UserActor {
    type Result = ();

    fn handle(&mut self, set: SetMembership, ctx: &mut Self::Context) {
        self.loads.note(&set.group_id, set.member);
        if self.sockets.is_empty() {
            return;
        }
        if set.member && self.groups.insert(set.group_id.clone()) {
            self.reroute(ctx, vec![set.group_id], Vec::new());
        } else if !set.member && self.groups.remove(&set.group_id) {
            self.reroute(ctx, Vec::new(), vec![set.group_id]);
        }
    }
}

/// The user's memberships are about to be read again ([`Reconciled`] follows).
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct StartReconcile;

impl Handler<StartReconcile> for UserActor {
    type Result = ();

    fn handle(&mut self, _: StartReconcile, _: &mut Self::Context) {
        self.loads.start(reconcile_key());
    }
}

/// The user's groups as read again since [`StartReconcile`] (`None`: the read failed):
/// routed so, but for the changes that arrived meanwhile.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct Reconciled {
    /// The groups read.
    pub groups: Option<Vec<String>>,
}

impl Handler<Reconciled> for UserActor {
    type Result = ();

    fn handle(&mut self, read: Reconciled, ctx: &mut Self::Context) {
        let key = reconcile_key();
        let (Some(read), false) = (read.groups, self.sockets.is_empty()) else {
            self.loads.forget(&key);
            return;
        };
        let Some((join, leave)) = self.loads.finish_reconcile(&key, read, &self.groups) else {
            return;
        };
        let repaired = join.len() + leave.len();
        if repaired == 0 {
            return;
        }
        tracing::info!(user = %self.user_id, repaired, "membership routes repaired from the database");
        metrics::counter!("confab_membership_repairs_total").increment(repaired as u64);
        for group in &leave {
            self.groups.remove(group);
            self.loads.note(group, false);
        }
        self.groups.extend(join.iter().cloned());
        self.reroute(ctx, join, leave);
    }
}

/// Encoded frames for every connection of the user, except `except` (the socket that sent
/// the message, which has its ack instead).
#[derive(Debug, Clone, Message)]
#[rtype(result = "()")]
pub struct Deliver {
    /// The frames, shared by every recipient.
    pub frames: Arc<[Frame]>,
    /// A socket to leave out.
    pub except: Option<Sid>,
    /// When the message was committed, for the delivery latency histogram (`None` for
    /// what is not a stored message).
    pub committed_at: Option<Instant>,
}

impl Handler<Deliver> for UserActor {
    type Result = ();

    fn handle(&mut self, deliver: Deliver, _: &mut Self::Context) {
        for (id, socket) in &self.sockets {
            if deliver.except.as_ref() == Some(id) {
                continue;
            }
            if socket.send_frames(deliver.frames.clone())
                && let Some(committed_at) = deliver.committed_at
            {
                metrics::counter!("confab_messages_delivered_total").increment(1);
                metrics::histogram!("confab_delivery_latency_seconds")
                    .record(committed_at.elapsed().as_secs_f64());
            }
        }
    }
}

/// Some of the user's sessions ended: each socket of one is told why (`session:expired`)
/// and disconnected, so that its client does not reconnect with the same token.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct CloseSessions {
    /// The sessions, with why they ended.
    pub sessions: Vec<(String, SessionEnd)>,
}

impl Handler<CloseSessions> for UserActor {
    type Result = ();

    fn handle(&mut self, close: CloseSessions, _: &mut Self::Context) {
        for socket in self.sockets.values() {
            let session = socket.data()["session"].as_str();
            if let Some((_, end)) = close
                .sessions
                .iter()
                .find(|(id, _)| Some(id.as_str()) == session)
            {
                socket.disconnect_after(Duration::ZERO, farewell(*end));
            }
        }
    }
}

/// The last event a socket of an ended session gets.
pub fn farewell(end: SessionEnd) -> Event {
    Event::new(
        events::SESSION_EXPIRED,
        vec![serde_json::json!({"code": end.code(), "message": end.message()})],
    )
}
