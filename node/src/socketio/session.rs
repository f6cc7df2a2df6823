//! `SocketIoSession`: the Socket.IO layer of one Engine.IO session. It decodes packets,
//! connects the client to namespaces (running each namespace's `authorize`), dispatches
//! events, matches acks to the emits waiting for them, and sends what sockets emit.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use actix::{AsyncContext, Context, SpawnHandle};
use confab_protocol::engineio::Frame;
use confab_protocol::socketio::{
    Ack, ConnectError, Decoder, Event, Namespace as NamespaceName, Packet, PacketData,
};
use serde_json::{Map, Value, json};
use tokio::sync::oneshot;

use super::namespace::Namespace;
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
    /// Close the Engine.IO session.
    CloseTransport,
}

impl std::fmt::Debug for SioCommand {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Send(_) => "Send",
            Self::EmitWithAck { .. } => "EmitWithAck",
            Self::Disconnect(_) => "Disconnect",
            Self::CloseTransport => "CloseTransport",
        })
    }
}

/// The Socket.IO state of one Engine.IO session.
pub struct SocketIoSession {
    io: Arc<SocketIo>,
    decoder: Decoder,
    sockets: HashMap<String, Socket>,
    /// Emits waiting for the client's ack, by ack id.
    pending_acks: HashMap<u64, oneshot::Sender<Ack>>,
    next_ack_id: u64,
    connect_timeout: Option<SpawnHandle>,
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
            next_ack_id: 0,
            connect_timeout: None,
        }
    }

    fn send_packet(session: &mut Session<'_, Self>, packet: &Packet) {
        for frame in packet.to_frames() {
            session.send(frame);
        }
    }

    fn handle_packet(&mut self, session: &mut Session<'_, Self>, packet: Packet) {
        let Packet { namespace, data } = packet;
        match data {
            PacketData::Connect(auth) => self.connect(session, namespace, auth),
            PacketData::Disconnect => {
                if let Some(socket) = self.sockets.remove(namespace.as_str()) {
                    socket.namespace().remove(socket.id());
                    let handler = socket.namespace().handler.clone();
                    handler.on_disconnect(&socket, DisconnectReason::ClientDisconnect);
                }
            }
            PacketData::Event(event) => {
                if let Some(socket) = self.sockets.get(namespace.as_str()) {
                    let handler = socket.namespace().handler.clone();
                    handler.on_event(socket, event);
                }
            }
            PacketData::Ack(ack) => {
                if let Some(reply) = self.pending_acks.remove(&ack.id) {
                    let _ = reply.send(ack);
                }
            }
            // Only servers send CONNECT_ERROR.
            PacketData::ConnectError(_) => session.close(CloseReason::ProtocolError),
        }
    }

    fn connect(
        &mut self,
        session: &mut Session<'_, Self>,
        name: NamespaceName,
        auth: Option<Map<String, Value>>,
    ) {
        let refuse = |session: &mut Session<'_, Self>, error: ConnectError| {
            Self::send_packet(
                session,
                &Packet::new(name.clone(), PacketData::ConnectError(error)),
            );
        };
        let Some(namespace) = self.io.of(name.as_str()).cloned() else {
            return refuse(
                session,
                ConnectError {
                    message: "Invalid namespace".to_owned(),
                    data: None,
                },
            );
        };
        if self.sockets.contains_key(name.as_str()) {
            return;
        }
        let data = match namespace.handler.authorize(auth.as_ref()) {
            Ok(data) => data,
            Err(error) => return refuse(session, error),
        };
        let restored = restore(&namespace, auth.as_ref());
        let (id, rooms, missed) = match restored {
            Some(restored) => (restored.sid, restored.rooms, restored.missed),
            None => (Sid::generate(), HashSet::new(), Vec::new()),
        };
        let pid = namespace.recovers().then(|| Sid::generate().to_string());
        let socket = Socket::new(
            id.clone(),
            pid.clone(),
            namespace.clone(),
            session.address(),
            data,
        );
        namespace.add(socket.clone(), rooms);
        self.sockets
            .insert(name.as_str().to_owned(), socket.clone());
        if let Some(timer) = self.connect_timeout.take() {
            session.context().cancel_future(timer);
        }
        for event in missed {
            Self::send_packet(
                session,
                &Packet::new(name.clone(), PacketData::Event(event)),
            );
        }
        let mut reply = Map::new();
        reply.insert("sid".to_owned(), json!(id.as_str()));
        if let Some(pid) = pid {
            reply.insert("pid".to_owned(), json!(pid));
        }
        Self::send_packet(
            session,
            &Packet::new(name, PacketData::Connect(Some(reply))),
        );
        let handler = namespace.handler.clone();
        handler.on_connect(&socket);
    }
}

/// The recovered state for a CONNECT carrying `pid` and `offset`, if the namespace has it.
fn restore(
    namespace: &Namespace,
    auth: Option<&Map<String, Value>>,
) -> Option<super::recovery::Restored> {
    let auth = auth?;
    let pid = auth.get("pid")?.as_str()?;
    let offset = auth.get("offset")?.as_str()?;
    namespace.restore(pid, offset)
}

impl SessionHandler for SocketIoSession {
    type Command = SioCommand;

    fn on_open(&mut self, session: &mut Session<'_, Self>) {
        let timeout = self.io.config.connect_timeout;
        let timer = session.run_later(timeout, |handler, session| {
            if handler.sockets.is_empty() {
                session.close(CloseReason::ServerClose);
            }
        });
        self.connect_timeout = Some(timer);
    }

    fn on_message(&mut self, session: &mut Session<'_, Self>, message: Message) {
        let decoded = match message {
            Message::Text(text) => self.decoder.decode_text(&text),
            Message::Binary(data) => self.decoder.decode_binary(data),
        };
        match decoded {
            Ok(Some(packet)) => self.handle_packet(session, packet),
            Ok(None) => {}
            Err(error) => {
                tracing::debug!(%error, sid = %session.sid(), "malformed socket.io packet");
                session.close(CloseReason::ProtocolError);
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
            } => {
                // Forget emits whose waiter gave up, so unanswered acks do not pile up.
                self.pending_acks.retain(|_, waiting| !waiting.is_closed());
                let id = self.next_ack_id;
                self.next_ack_id += 1;
                self.pending_acks.insert(id, reply);
                let packet = Packet::new(namespace, PacketData::Event(event.with_ack(id)));
                Self::send_packet(session, &packet);
            }
            SioCommand::Disconnect(namespace) => {
                if let Some(socket) = self.sockets.remove(namespace.as_str()) {
                    socket.namespace().remove(socket.id());
                    Self::send_packet(session, &Packet::new(namespace, PacketData::Disconnect));
                    let handler = socket.namespace().handler.clone();
                    handler.on_disconnect(&socket, DisconnectReason::ServerDisconnect);
                }
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
