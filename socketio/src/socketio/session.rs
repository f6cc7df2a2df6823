//! `SocketIoSession`: the Socket.IO layer of one Engine.IO session. It decodes packets,
//! connects the client to namespaces (see [`super::connect`]), dispatches events, matches
//! acks to the emits waiting for them, and sends what sockets emit.
//!
//! Like the reference server, a packet that makes no sense in the session's state (a
//! second CONNECT, a CONNECT_ERROR from the client, anything for a namespace the client
//! has not joined) closes the Engine.IO session, as does a packet that cannot be decoded;
//! a few oddities the reference decoder lets through are ignored (see [`super::lenient`]).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use actix::{AsyncContext, Context, SpawnHandle};
use confab_protocol::engineio::Frame;
use confab_protocol::socketio::{
    Ack, Decoder, Event, Namespace as NamespaceName, Packet, PacketData,
};
use tokio::sync::oneshot;

use super::lenient::ignored_packet_namespace;
use super::socket::Socket;
use super::{DisconnectReason, SocketIo};
use crate::engineio::{CloseReason, ConnectionActor, Message, Session, SessionHandler, Sid};

/// What sockets and other server code ask a session to do.
pub enum SioCommand {
    /// Send these encoded frames.
    Send(Arc<[Frame]>),
    /// Send `event` in `namespace` with a fresh ack id; the ack goes to `reply`.
    EmitWithAck {
        /// The namespace.
        namespace: NamespaceName,
        /// The event (its ack id is assigned by the session).
        event: Event,
        /// Where the client's ack goes.
        reply: oneshot::Sender<Ack>,
    },
    /// Disconnect the socket of `namespace`.
    Disconnect(NamespaceName),
    /// After `delay`, if `socket` is still the socket of `namespace`, send it `farewell`
    /// and disconnect it. The timer lives with the session: it goes when the session goes.
    DisconnectAfter {
        /// The namespace.
        namespace: NamespaceName,
        /// The socket meant (a later socket of the namespace is left alone).
        socket: Sid,
        /// How long from now.
        delay: Duration,
        /// The event sent right before the DISCONNECT, saying why.
        farewell: Event,
    },
    /// Close the Engine.IO session.
    CloseTransport,
}

impl std::fmt::Debug for SioCommand {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Send(_) => "Send",
            Self::EmitWithAck { .. } => "EmitWithAck",
            Self::Disconnect(_) => "Disconnect",
            Self::DisconnectAfter { .. } => "DisconnectAfter",
            Self::CloseTransport => "CloseTransport",
        })
    }
}

/// The Socket.IO state of one Engine.IO session.
pub struct SocketIoSession {
    pub(super) io: Arc<SocketIo>,
    decoder: Decoder,
    /// The connected sockets, by namespace name.
    pub(super) sockets: HashMap<String, Socket>,
    /// Emits waiting for the client's ack, by namespace and ack id (ids are drawn from a
    /// counter per namespace, so only the pair is unique).
    pending_acks: HashMap<(String, u64), oneshot::Sender<Ack>>,
    /// Closes the session if no namespace is joined in time; cancelled by the first join.
    pub(super) connect_timeout: Option<SpawnHandle>,
}

impl std::fmt::Debug for SocketIoSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SocketIoSession")
            .field("namespaces", &self.sockets.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

type Ctx = Context<ConnectionActor<SocketIoSession>>;

impl SocketIoSession {
    pub(super) fn new(io: Arc<SocketIo>) -> Self {
        let decoder = Decoder::new(io.config.max_attachments);
        Self {
            io,
            decoder,
            sockets: HashMap::new(),
            pending_acks: HashMap::new(),
            connect_timeout: None,
        }
    }

    pub(super) fn send_packet(session: &mut Session<'_, Self>, packet: &Packet) {
        for frame in packet.to_frames() {
            session.send(frame);
        }
    }

    fn handle_packet(&mut self, session: &mut Session<'_, Self>, packet: Packet) {
        let Packet { namespace, data } = packet;
        let connected = self.sockets.contains_key(namespace.as_str());
        match data {
            PacketData::Connect(auth) if !connected => self.connect(session, namespace, auth),
            // A second CONNECT, a CONNECT_ERROR (only servers send it), or anything for a
            // namespace not joined: the reference closes the connection.
            PacketData::Connect(_) | PacketData::ConnectError(_) => {
                session.close(CloseReason::ProtocolError);
            }
            _ if !connected => session.close(CloseReason::ProtocolError),
            PacketData::Disconnect => {
                self.leave(session, &namespace, DisconnectReason::ClientDisconnect);
            }
            PacketData::Event(event) => {
                if let Some(socket) = self.sockets.get(namespace.as_str()) {
                    let handler = socket.namespace().handler.clone();
                    handler.on_event(socket, event);
                }
            }
            PacketData::Ack(ack) => {
                let key = (namespace.as_str().to_owned(), ack.id);
                if let Some(reply) = self.pending_acks.remove(&key) {
                    let _ = reply.send(ack);
                }
            }
        }
    }

    /// Takes the socket of `namespace` out of it, if there is one. The Engine.IO session
    /// stays open (as in the reference), even when it was the last namespace; with
    /// `close_without_namespace`, only for the connect timeout: a session no namespace is
    /// connected on holds resources for nothing, as one that never connected would.
    fn leave(
        &mut self,
        session: &mut Session<'_, Self>,
        namespace: &NamespaceName,
        reason: DisconnectReason,
    ) {
        let Some(socket) = self.sockets.remove(namespace.as_str()) else {
            return;
        };
        self.pending_acks
            .retain(|(name, _), _| name != namespace.as_str());
        socket.namespace().remove(socket.id());
        let handler = socket.namespace().handler.clone();
        handler.on_disconnect(&socket, reason);
        if self.sockets.is_empty() && self.io.config.close_without_namespace {
            self.close_unless_connected_in_time(session);
        }
    }

    /// Sends a DISCONNECT to the socket of `namespace`, if there is one, and takes it out.
    fn disconnect(&mut self, session: &mut Session<'_, Self>, namespace: &NamespaceName) {
        if self.sockets.contains_key(namespace.as_str()) {
            let packet = Packet::new(namespace.clone(), PacketData::Disconnect);
            Self::send_packet(session, &packet);
            self.leave(session, namespace, DisconnectReason::ServerDisconnect);
        }
    }

    /// Closes the session if no namespace is connected on it after the connect timeout.
    fn close_unless_connected_in_time(&mut self, session: &mut Session<'_, Self>) {
        if let Some(timer) = self.connect_timeout.take() {
            session.context().cancel_future(timer);
        }
        let timeout = self.io.config.connect_timeout;
        let timer = session.run_later(timeout, |handler, session| {
            if handler.sockets.is_empty() {
                session.close(CloseReason::ServerClose);
            }
        });
        self.connect_timeout = Some(timer);
    }

    fn emit_with_ack(
        &mut self,
        session: &mut Session<'_, Self>,
        namespace: NamespaceName,
        event: Event,
        reply: oneshot::Sender<Ack>,
    ) {
        // Not connected there (any more): dropping `reply` tells the emitter.
        let Some(socket) = self.sockets.get(namespace.as_str()) else {
            return;
        };
        // Forget emits whose waiter gave up, so unanswered acks do not pile up.
        self.pending_acks.retain(|_, waiting| !waiting.is_closed());
        let id = socket.namespace().next_ack_id();
        self.pending_acks
            .insert((namespace.as_str().to_owned(), id), reply);
        let packet = Packet::new(namespace, PacketData::Event(event.with_ack(id)));
        Self::send_packet(session, &packet);
    }
}

impl SessionHandler for SocketIoSession {
    type Command = SioCommand;

    fn on_open(&mut self, session: &mut Session<'_, Self>) {
        self.close_unless_connected_in_time(session);
    }

    fn on_message(&mut self, session: &mut Session<'_, Self>, message: Message) {
        let decoded = match &message {
            Message::Text(text) => self.decoder.decode_text(text),
            Message::Binary(data) => self.decoder.decode_binary(data.clone()),
        };
        match decoded {
            Ok(Some(packet)) => self.handle_packet(session, packet),
            Ok(None) => {}
            Err(error) => {
                let ignored = match &message {
                    Message::Text(text) => ignored_packet_namespace(text, &error)
                        .is_some_and(|namespace| self.sockets.contains_key(&namespace)),
                    Message::Binary(_) => false,
                };
                if !ignored {
                    tracing::debug!(%error, sid = %session.sid(), "malformed socket.io packet");
                    session.close(CloseReason::ProtocolError);
                }
            }
        }
    }

    fn on_command(&mut self, session: &mut Session<'_, Self>, command: SioCommand) {
        match command {
            SioCommand::Send(frames) => {
                for frame in frames.iter() {
                    session.send(frame.clone());
                }
            }
            SioCommand::EmitWithAck {
                namespace,
                event,
                reply,
            } => self.emit_with_ack(session, namespace, event, reply),
            SioCommand::Disconnect(namespace) => self.disconnect(session, &namespace),
            SioCommand::DisconnectAfter {
                namespace,
                socket,
                delay,
                farewell,
            } => {
                session.run_later(delay, move |handler, session| {
                    let current = handler.sockets.get(namespace.as_str());
                    if current.is_some_and(|current| *current.id() == socket) {
                        let packet = Packet::new(namespace.clone(), PacketData::Event(farewell));
                        Self::send_packet(session, &packet);
                        handler.disconnect(session, &namespace);
                    }
                });
            }
            SioCommand::CloseTransport => session.close(CloseReason::ServerClose),
        }
    }

    fn on_close(&mut self, _reason: CloseReason, _ctx: &mut Ctx) {
        self.pending_acks.clear();
        for (_, socket) in self.sockets.drain() {
            let namespace = socket.namespace().clone();
            let rooms = namespace.remove(socket.id());
            if let Some(pid) = socket.pid() {
                namespace.save_for_recovery(pid.to_owned(), socket.id().clone(), rooms);
            }
            let handler = namespace.handler.clone();
            handler.on_disconnect(&socket, DisconnectReason::TransportClose);
        }
    }
}
