//! `ConnectionActor`: one Engine.IO session, whatever carries it.
//!
//! The actor owns the session's transport (a polling buffer with at most one pending GET,
//! or a WebSocket writer), the heartbeat, an upgrade in progress, and the upper layer's
//! [`SessionHandler`]. Outgoing frames are bounded: a client that stops reading is closed
//! as a slow consumer instead of growing the server's memory.

use std::sync::Arc;

use actix::prelude::*;
use bytes::Bytes;
use confab_protocol::engineio::{self, Frame, Packet};
use tokio::sync::oneshot;

use super::websocket::WsWriter;
use super::{EngineConfig, Message, SessionHandler, Sid};

/// Why a session closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseReason {
    /// The client sent a `close` packet.
    ClientClose,
    /// The transport went away (socket closed, browser gone).
    TransportClose,
    /// No pong within the ping timeout.
    PingTimeout,
    /// The client sent something the protocol does not allow.
    ProtocolError,
    /// The client did not read fast enough.
    SlowConsumer,
    /// The server closed it.
    ServerClose,
}

impl CloseReason {
    /// A short name for logs and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ClientClose => "client close",
            Self::TransportClose => "transport close",
            Self::PingTimeout => "ping timeout",
            Self::ProtocolError => "parse error",
            Self::SlowConsumer => "slow consumer",
            Self::ServerClose => "server close",
        }
    }
}

/// Why a polling request failed; the HTTP layer turns it into a reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum PollError {
    /// A second GET while one was pending: the session is closed.
    Overlap,
    /// The session is closed, or is no longer polling.
    Gone,
}

/// The reply a GET waits for.
pub(super) type PollReply = oneshot::Sender<Result<Bytes, PollError>>;

/// The current transport of a session.
enum Transport {
    Polling {
        buffer: Vec<Frame>,
        pending: Option<PollReply>,
    },
    WebSocket(WsWriter),
}

/// A WebSocket that asked to take over a polling session and has not finished yet.
struct Probe {
    writer: WsWriter,
    id: u64,
    /// The client sent `2probe`: polling is being paused, GETs get `noop` at once.
    probed: bool,
    timeout: SpawnHandle,
}

/// The actor of one Engine.IO session.
pub struct ConnectionActor<H: SessionHandler> {
    sid: Sid,
    config: Arc<EngineConfig>,
    transport: Transport,
    /// Which WebSocket (by id) is the current transport; frames of others are ignored.
    transport_id: u64,
    probe: Option<Probe>,
    pong_deadline: Option<SpawnHandle>,
    /// Takes the session out of the engine's registry.
    unregister: Arc<dyn Fn(&Sid) + Send + Sync>,
    /// Set once closed; a close while the handler is being called is finished after it.
    closed: Option<CloseReason>,
    /// `None` only while the handler itself is being called.
    handler: Option<H>,
}

impl<H: SessionHandler> std::fmt::Debug for ConnectionActor<H> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnectionActor")
            .field("sid", &self.sid)
            .finish_non_exhaustive()
    }
}

/// What a handler can do with its session while it is being called.
pub struct Session<'a, H: SessionHandler> {
    actor: &'a mut ConnectionActor<H>,
    ctx: &'a mut Context<ConnectionActor<H>>,
}

impl<H: SessionHandler> std::fmt::Debug for Session<'_, H> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("sid", &self.actor.sid)
            .finish()
    }
}

impl<H: SessionHandler> Session<'_, H> {
    /// The Engine.IO session id.
    pub fn sid(&self) -> &Sid {
        &self.actor.sid
    }

    /// Sends one encoded frame (a `message` packet).
    pub fn send(&mut self, frame: Frame) {
        self.actor.send_frame(frame, self.ctx);
    }

    /// Closes the session (the transport, not a Socket.IO disconnect).
    pub fn close(&mut self, reason: CloseReason) {
        self.actor.close(reason, self.ctx);
    }

    /// The session's address, for work that answers later.
    pub fn address(&self) -> Addr<ConnectionActor<H>> {
        self.ctx.address()
    }

    /// The actor context, to start timers and futures that come back to this session.
    pub fn context(&mut self) -> &mut Context<ConnectionActor<H>> {
        self.ctx
    }

    /// Calls `later` with the handler and its session after `delay`, unless closed first.
    pub fn run_later(
        &mut self,
        delay: std::time::Duration,
        later: impl FnOnce(&mut H, &mut Session<'_, H>) + 'static,
    ) -> SpawnHandle {
        self.ctx.run_later(delay, move |actor, ctx| {
            if actor.closed.is_none() {
                actor.with_handler(ctx, later);
            }
        })
    }
}

impl<H: SessionHandler> ConnectionActor<H> {
    pub(super) fn new(
        sid: Sid,
        config: Arc<EngineConfig>,
        websocket: Option<(WsWriter, u64)>,
        unregister: Arc<dyn Fn(&Sid) + Send + Sync>,
        handler: H,
    ) -> Self {
        let (transport, transport_id) = match websocket {
            Some((writer, id)) => (Transport::WebSocket(writer), id),
            None => (
                Transport::Polling {
                    buffer: Vec::new(),
                    pending: None,
                },
                0,
            ),
        };
        Self {
            sid,
            config,
            transport,
            transport_id,
            probe: None,
            pong_deadline: None,
            unregister,
            closed: None,
            handler: Some(handler),
        }
    }

    /// Calls the handler with a [`Session`], then finishes a close it asked for.
    fn with_handler(
        &mut self,
        ctx: &mut Context<Self>,
        call: impl FnOnce(&mut H, &mut Session<'_, H>),
    ) {
        let Some(mut handler) = self.handler.take() else {
            return;
        };
        call(&mut handler, &mut Session { actor: self, ctx });
        if let Some(reason) = self.closed {
            handler.on_close(reason, ctx);
            ctx.stop();
        } else {
            self.handler = Some(handler);
        }
    }

    fn send_frame(&mut self, frame: Frame, ctx: &mut Context<Self>) {
        if self.closed.is_some() {
            return;
        }
        let limit = self.config.max_buffered_frames;
        let sent = match &mut self.transport {
            Transport::WebSocket(writer) => writer.send(&frame).is_ok(),
            Transport::Polling { buffer, pending } => {
                buffer.push(frame);
                if let Some(reply) = pending.take() {
                    flush(buffer, reply);
                }
                buffer.len() <= limit
            }
        };
        if !sent {
            metrics::counter!("confab_slow_consumer_disconnects_total").increment(1);
            self.close(CloseReason::SlowConsumer, ctx);
        }
    }

    fn send_packet(&mut self, packet: &Packet, ctx: &mut Context<Self>) {
        self.send_frame(packet.to_frame(), ctx);
    }

    /// Closes the session once: tells the handler, ends the transport, leaves the registry.
    fn close(&mut self, reason: CloseReason, ctx: &mut Context<Self>) {
        if self.closed.is_some() {
            return;
        }
        self.closed = Some(reason);
        tracing::debug!(sid = %self.sid, reason = reason.as_str(), "session closed");
        (self.unregister)(&self.sid);
        match &mut self.transport {
            Transport::WebSocket(writer) => writer.close(),
            Transport::Polling { buffer, pending } => {
                if let Some(reply) = pending.take() {
                    buffer.push(Packet::Close.to_frame());
                    flush(buffer, reply);
                }
            }
        }
        if let Some(mut probe) = self.probe.take() {
            probe.writer.close();
        }
        if let Some(mut handler) = self.handler.take() {
            handler.on_close(reason, ctx);
            ctx.stop();
        }
    }

    fn schedule_ping(&mut self, ctx: &mut Context<Self>) {
        ctx.run_later(self.config.ping_interval, |actor, ctx| {
            actor.send_packet(&Packet::Ping(String::new()), ctx);
            let deadline = ctx.run_later(actor.config.ping_timeout, |actor, ctx| {
                actor.close(CloseReason::PingTimeout, ctx);
            });
            actor.pong_deadline = Some(deadline);
        });
    }

    /// A packet from the current transport.
    fn receive(&mut self, packet: Packet, ctx: &mut Context<Self>) {
        match packet {
            Packet::Pong(_) => {
                if let Some(deadline) = self.pong_deadline.take() {
                    ctx.cancel_future(deadline);
                    self.schedule_ping(ctx);
                }
            }
            Packet::Message(text) => {
                self.with_handler(ctx, |handler, session| {
                    handler.on_message(session, Message::Text(text));
                });
            }
            Packet::Binary(data) => {
                self.with_handler(ctx, |handler, session| {
                    handler.on_message(session, Message::Binary(data));
                });
            }
            Packet::Close => self.close(CloseReason::ClientClose, ctx),
            Packet::Noop => {}
            // The client never sends these on an established transport.
            Packet::Open(_) | Packet::Ping(_) | Packet::Upgrade => {
                self.close(CloseReason::ProtocolError, ctx);
            }
        }
    }

    /// A packet from the WebSocket probing to take over this polling session.
    fn receive_probe(&mut self, packet: Packet, ctx: &mut Context<Self>) {
        let Some(probe) = self.probe.as_mut() else {
            return;
        };
        match packet {
            Packet::Ping(data) if data == "probe" => {
                if probe.writer.send(&Packet::Pong(data).to_frame()).is_err() {
                    self.drop_probe(ctx);
                    return;
                }
                probe.probed = true;
                // Release the pending GET so the client can pause polling.
                if let Transport::Polling { pending, .. } = &mut self.transport
                    && let Some(reply) = pending.take()
                {
                    let _ = reply.send(Ok(noop_payload()));
                }
            }
            Packet::Upgrade if probe.probed => self.finish_upgrade(ctx),
            _ => self.drop_probe(ctx),
        }
    }

    fn finish_upgrade(&mut self, ctx: &mut Context<Self>) {
        let Some(probe) = self.probe.take() else {
            return;
        };
        ctx.cancel_future(probe.timeout);
        let previous = std::mem::replace(&mut self.transport, Transport::WebSocket(probe.writer));
        self.transport_id = probe.id;
        if let Transport::Polling { buffer, pending } = previous {
            if let Some(reply) = pending {
                let _ = reply.send(Ok(noop_payload()));
            }
            for frame in buffer {
                self.send_frame(frame, ctx);
            }
        }
        tracing::debug!(sid = %self.sid, "upgraded to websocket");
    }

    fn drop_probe(&mut self, ctx: &mut Context<Self>) {
        if let Some(mut probe) = self.probe.take() {
            ctx.cancel_future(probe.timeout);
            probe.writer.close();
        }
    }
}

/// Answers a pending GET with everything buffered.
fn flush(buffer: &mut Vec<Frame>, reply: PollReply) {
    let mut body = Vec::new();
    engineio::encode_payload_into(buffer.iter(), &mut body);
    buffer.clear();
    let _ = reply.send(Ok(Bytes::from(body)));
}

fn noop_payload() -> Bytes {
    let mut body = Vec::new();
    Packet::Noop.encode_text_into(&mut body);
    Bytes::from(body)
}

impl<H: SessionHandler> Actor for ConnectionActor<H> {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(self.config.max_buffered_frames);
        self.schedule_ping(ctx);
        self.with_handler(ctx, |handler, session| handler.on_open(session));
    }

    fn stopped(&mut self, ctx: &mut Self::Context) {
        // Stopped from outside (the system shutting down): still clean up.
        self.close(CloseReason::ServerClose, ctx);
    }
}

/// A long-polling GET: answered at once if frames are waiting, else when one comes.
#[derive(Message)]
#[rtype(result = "()")]
pub(super) struct Poll {
    pub(super) reply: PollReply,
}

impl<H: SessionHandler> Handler<Poll> for ConnectionActor<H> {
    type Result = ();

    fn handle(&mut self, poll: Poll, ctx: &mut Self::Context) {
        let probing = self.probe.as_ref().is_some_and(|probe| probe.probed);
        let Transport::Polling { buffer, pending } = &mut self.transport else {
            let _ = poll.reply.send(Err(PollError::Gone));
            return;
        };
        if self.closed.is_some() {
            let _ = poll.reply.send(Err(PollError::Gone));
        } else if pending.is_some() {
            let _ = poll.reply.send(Err(PollError::Overlap));
            self.close(CloseReason::ProtocolError, ctx);
        } else if probing {
            let _ = poll.reply.send(Ok(noop_payload()));
        } else if buffer.is_empty() {
            *pending = Some(poll.reply);
        } else {
            flush(buffer, poll.reply);
        }
    }
}

/// The packets of a polling POST.
#[derive(Message)]
#[rtype(result = "Result<(), PollError>")]
pub(super) struct PollData {
    pub(super) packets: Vec<Packet>,
}

impl<H: SessionHandler> Handler<PollData> for ConnectionActor<H> {
    type Result = Result<(), PollError>;

    fn handle(&mut self, data: PollData, ctx: &mut Self::Context) -> Self::Result {
        if self.closed.is_some() || !matches!(self.transport, Transport::Polling { .. }) {
            return Err(PollError::Gone);
        }
        for packet in data.packets {
            self.receive(packet, ctx);
        }
        Ok(())
    }
}

/// What a WebSocket's reader saw.
#[derive(Message)]
#[rtype(result = "()")]
pub(super) struct WsEvent {
    /// Which WebSocket it came from.
    pub(super) id: u64,
    pub(super) kind: WsEventKind,
}

/// The events of a WebSocket reader.
pub(super) enum WsEventKind {
    /// A decoded Engine.IO packet.
    Packet(Packet),
    /// The client broke the protocol (bad frame, oversized message, bad packet).
    Invalid,
    /// The WebSocket is gone.
    Closed,
}

impl<H: SessionHandler> Handler<WsEvent> for ConnectionActor<H> {
    type Result = ();

    fn handle(&mut self, event: WsEvent, ctx: &mut Self::Context) {
        let is_current =
            matches!(self.transport, Transport::WebSocket(_)) && event.id == self.transport_id;
        let is_probe = self
            .probe
            .as_ref()
            .is_some_and(|probe| probe.id == event.id);
        match (event.kind, is_current, is_probe) {
            (WsEventKind::Packet(packet), true, _) => self.receive(packet, ctx),
            (WsEventKind::Packet(packet), false, true) => self.receive_probe(packet, ctx),
            (WsEventKind::Invalid, true, _) => self.close(CloseReason::ProtocolError, ctx),
            (WsEventKind::Closed, true, _) => self.close(CloseReason::TransportClose, ctx),
            (WsEventKind::Invalid | WsEventKind::Closed, false, true) => self.drop_probe(ctx),
            _ => {}
        }
    }
}

/// A WebSocket wants to take over this polling session; answers whether it may.
#[derive(Message)]
#[rtype(result = "bool")]
pub(super) struct StartProbe {
    pub(super) writer: WsWriter,
    pub(super) id: u64,
}

impl<H: SessionHandler> Handler<StartProbe> for ConnectionActor<H> {
    type Result = bool;

    fn handle(&mut self, mut start: StartProbe, ctx: &mut Self::Context) -> bool {
        let polling = matches!(self.transport, Transport::Polling { .. });
        if self.closed.is_some() || !polling || self.probe.is_some() {
            start.writer.close();
            return false;
        }
        let timeout = ctx.run_later(self.config.upgrade_timeout, |actor, ctx| {
            actor.drop_probe(ctx);
        });
        self.probe = Some(Probe {
            writer: start.writer,
            id: start.id,
            probed: false,
            timeout,
        });
        true
    }
}

/// Something for the session's handler, from elsewhere in the server.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Command<C: Send + 'static>(pub C);

impl<C: Send + 'static> std::fmt::Debug for Command<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Command(..)")
    }
}

impl<H: SessionHandler> Handler<Command<H::Command>> for ConnectionActor<H> {
    type Result = ();

    fn handle(&mut self, Command(command): Command<H::Command>, ctx: &mut Self::Context) {
        if self.closed.is_none() {
            self.with_handler(ctx, |handler, session| handler.on_command(session, command));
        }
    }
}

/// Closes the session from outside (drain, an operator, a test).
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct CloseSession;

impl<H: SessionHandler> Handler<CloseSession> for ConnectionActor<H> {
    type Result = ();

    fn handle(&mut self, _: CloseSession, ctx: &mut Self::Context) {
        self.close(CloseReason::ServerClose, ctx);
    }
}
