//! `Socket`: one client's connection to one namespace, as application code sees it.
//! Cheap to clone and `Send`; everything it does goes to the session's actor.

use std::sync::Arc;
use std::time::Duration;

use actix::Addr;
use confab_protocol::engineio::Frame;
use confab_protocol::socketio::{Ack, Event, Packet, PacketData, ack_frame};
use serde::Serialize;
use serde_json::Value;
use tokio::sync::oneshot;

use super::namespace::Namespace;
use super::session::{SioCommand, SocketIoSession};
use crate::engineio::{Command, ConnectionActor, Sid};

/// Why an emit with ack got no answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AckError {
    /// No answer within the timeout.
    #[error("the client did not acknowledge in time")]
    Timeout,
    /// The socket disconnected first.
    #[error("the socket disconnected before acknowledging")]
    Disconnected,
}

#[derive(Debug)]
struct SocketInner {
    id: Sid,
    session_id: Sid,
    pid: Option<String>,
    namespace: Arc<Namespace>,
    session: Addr<ConnectionActor<SocketIoSession>>,
    data: Value,
}

/// A client's socket in one namespace.
#[derive(Debug, Clone)]
pub struct Socket {
    inner: Arc<SocketInner>,
}

impl Socket {
    pub(super) fn new(
        id: Sid,
        session_id: Sid,
        pid: Option<String>,
        namespace: Arc<Namespace>,
        session: Addr<ConnectionActor<SocketIoSession>>,
        data: Value,
    ) -> Self {
        Self {
            inner: Arc::new(SocketInner {
                id,
                session_id,
                pid,
                namespace,
                session,
                data,
            }),
        }
    }

    /// The socket id the client sees as `socket.id`.
    pub fn id(&self) -> &Sid {
        &self.inner.id
    }

    /// The Engine.IO session the socket belongs to: the same for every socket a client
    /// connects (and reconnects) over one transport session.
    pub fn session_id(&self) -> &Sid {
        &self.inner.session_id
    }

    pub(super) fn pid(&self) -> Option<&str> {
        self.inner.pid.as_deref()
    }

    /// What the namespace's `authorize` returned for this socket.
    pub fn data(&self) -> &Value {
        &self.inner.data
    }

    /// The namespace the socket is in.
    pub fn namespace(&self) -> &Arc<Namespace> {
        &self.inner.namespace
    }

    pub(super) fn session(&self) -> &Addr<ConnectionActor<SocketIoSession>> {
        &self.inner.session
    }

    fn command(&self, command: SioCommand) -> bool {
        let sent = self.inner.session.try_send(Command(command)).is_ok();
        if !sent {
            self.namespace()
                .metrics
                .socket_commands_dropped
                .increment(1);
        }
        sent
    }

    /// Sends pre-encoded frames (see [`Socket::encode`]); false if the session could not
    /// take them (gone, or its mailbox is full).
    pub fn send_frames(&self, frames: Arc<[Frame]>) -> bool {
        self.command(SioCommand::Send(frames))
    }

    /// Encodes `event` for this socket's namespace, to send to one or many sockets (as is:
    /// pre-encoded frames get no recovery offset).
    pub fn encode(&self, event: Event) -> Arc<[Frame]> {
        Packet::new(self.namespace().name().clone(), PacketData::Event(event))
            .to_frames()
            .into()
    }

    /// Sends an event; false if its session could not take it (gone, or its mailbox is
    /// full). With connection-state recovery on, an event without ack id is sent like the
    /// reference does: as a broadcast to the room named by the socket's id, so that it
    /// gets a recovery offset (its last argument) and is replayed after a reconnection.
    pub fn emit(&self, event: Event) -> bool {
        if self.namespace().recovers() && event.ack.is_none() {
            return self.namespace().emit_to(self.id(), event);
        }
        self.send_frames(self.encode(event))
    }

    /// Answers the client's event `id`.
    pub fn ack(&self, id: u64, args: Vec<Value>) -> bool {
        self.ack_with(Ack::new(id, args))
    }

    /// Answers the client's event `id` with one argument, serialised straight from
    /// `payload` (no JSON tree built first).
    pub fn ack_one<T: Serialize + ?Sized>(&self, id: u64, payload: &T) -> bool {
        let frame = ack_frame(self.namespace().name(), id, payload);
        self.send_frames(Arc::from([frame]))
    }

    /// Answers with a prepared ack (possibly carrying binary attachments).
    pub fn ack_with(&self, ack: Ack) -> bool {
        let packet = Packet::new(self.namespace().name().clone(), PacketData::Ack(ack));
        self.send_frames(packet.to_frames().into())
    }

    /// Sends an event and waits for the client's ack, up to `timeout`.
    pub async fn emit_with_ack(&self, event: Event, timeout: Duration) -> Result<Ack, AckError> {
        let (reply, answer) = oneshot::channel();
        let namespace = self.namespace().name().clone();
        if !self.command(SioCommand::EmitWithAck {
            namespace,
            event,
            reply,
        }) {
            return Err(AckError::Disconnected);
        }
        match tokio::time::timeout(timeout, answer).await {
            Ok(Ok(ack)) => Ok(ack),
            Ok(Err(_)) => Err(AckError::Disconnected),
            Err(_) => Err(AckError::Timeout),
        }
    }

    /// Puts the socket in `room`.
    pub fn join(&self, room: &str) {
        self.namespace().join(self.id(), room);
    }

    /// Takes the socket out of `room`.
    pub fn leave(&self, room: &str) {
        self.namespace().leave(self.id(), room);
    }

    /// Sends `event` to every other socket in `room`.
    pub fn broadcast_to(&self, room: &str, event: Event) -> usize {
        self.namespace()
            .broadcast(Some(room), Some(self.id()), event)
    }

    /// Disconnects the socket from its namespace (a Socket.IO DISCONNECT: the client does
    /// not reconnect by itself).
    pub fn disconnect(&self) -> bool {
        self.command(SioCommand::Disconnect(self.namespace().name().clone()))
    }

    /// After `delay`, sends `farewell` and disconnects the socket (as [`Socket::disconnect`]),
    /// unless it has gone meanwhile; false if its session could not take the order.
    pub fn disconnect_after(&self, delay: Duration, farewell: Event) -> bool {
        self.command(SioCommand::DisconnectAfter {
            namespace: self.namespace().name().clone(),
            socket: self.id().clone(),
            delay,
            farewell,
        })
    }

    /// Closes the whole Engine.IO session (the client reconnects by itself).
    pub fn close_transport(&self) -> bool {
        self.command(SioCommand::CloseTransport)
    }
}
