//! `UserActor`: one per user with connections on this node. It holds the user's sockets
//! (every device) and delivers to all of them; it stops when its last socket goes (the
//! `NodeActor`, which counts sockets too, has already forgotten it by then).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use confab_protocol::chat::events;
use confab_protocol::engineio::Frame;
use confab_protocol::socketio::Event;

use crate::auth::SessionEnd;
use crate::engineio::Sid;
use crate::socketio::Socket;

/// All of one user's connections on this node.
#[derive(Debug, Default)]
pub struct UserActor {
    sockets: HashMap<Sid, Socket>,
}

impl Actor for UserActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(4096);
    }
}

/// A socket of this user connected here.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct AddSocket {
    /// The socket.
    pub socket: Socket,
}

impl Handler<AddSocket> for UserActor {
    type Result = ();

    fn handle(&mut self, add: AddSocket, _: &mut Self::Context) {
        self.sockets.insert(add.socket.id().clone(), add.socket);
    }
}

/// A socket of this user disconnected.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct RemoveSocket {
    /// The socket's id.
    pub id: Sid,
}

impl Handler<RemoveSocket> for UserActor {
    type Result = ();

    fn handle(&mut self, remove: RemoveSocket, ctx: &mut Self::Context) {
        self.sockets.remove(&remove.id);
        if self.sockets.is_empty() {
            ctx.stop();
        }
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
