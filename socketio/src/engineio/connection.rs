//! `ConnectionActor`: one Engine.IO session, whatever carries it.
//!
//! The actor owns the session's transport (a polling buffer with at most one pending GET,
//! or a WebSocket writer), the heartbeat, an upgrade in progress, and the upper layer's
//! [`SessionHandler`]. Outgoing frames are bounded: a client that stops reading is closed
//! as a slow consumer instead of growing the server's memory.
//!
//! The long-polling requests are handled in [`polling`], the WebSocket events and the
//! upgrade from polling in [`upgrade`].

mod polling;
mod upgrade;

use std::sync::Arc;

use actix::prelude::*;
use actix_http::ws::CloseCode;
use bytes::Bytes;
use confab_protocol::engineio::{Frame, Packet};

use super::websocket::WsWriter;
use super::{EngineConfig, Message, SessionHandler, Sid};
use upgrade::Probe;

pub(super) use polling::{Poll, PollData, PollError};
pub(super) use upgrade::{StartProbe, WsEvent, WsEventKind};

/// Takes a closed session out of the engine's registry, with the payload its next GET
/// gets (none forgets an earlier one).
pub(super) type Unregister = Arc<dyn Fn(&Sid, Option<Bytes>) + Send + Sync>;

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
    /// The client sent a WebSocket message over the configured maximum payload.
    MessageTooLarge,
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
            Self::MessageTooLarge => "message too large",
            Self::SlowConsumer => "slow consumer",
            Self::ServerClose => "server close",
        }
    }

    /// The WebSocket close code sent for this reason. Like the reference server, only an
    /// oversized message gets one (1009); every other close frame has no status code.
    fn websocket_code(self) -> Option<CloseCode> {
        match self {
            Self::MessageTooLarge => Some(CloseCode::Size),
            _ => None,
        }
    }

    /// What a pending polling GET is answered with: `noop` when the client itself closed
    /// (its close packet needs no answer), else the `close` packet.
    fn polling_goodbye(self) -> Packet {
        match self {
            Self::ClientClose => Packet::Noop,
            _ => Packet::Close,
        }
    }
}

/// The current transport of a session.
enum Transport {
    Polling {
        buffer: Vec<Frame>,
        pending: Option<polling::PollReply>,
    },
    WebSocket(WsWriter),
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
    /// Takes the session out of the engine's registry, leaving what its next GET gets, if
    /// anything.
    unregister: Unregister,
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
        unregister: Unregister,
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
            self.stop_unless_upgrading(ctx);
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
            Transport::WebSocket(writer) => writer.send(frame).is_ok(),
            Transport::Polling { buffer, pending } => {
                buffer.push(frame);
                if let Some(reply) = pending.take() {
                    polling::flush(buffer, reply);
                }
                buffer.len() <= limit
                    && (buffer.len() == 1
                        || buffer
                            .iter()
                            .map(|frame| frame.as_bytes().len())
                            .sum::<usize>()
                            <= self.config.max_buffered_bytes)
            }
        };
        if !sent {
            self.config.metrics.slow_consumer_disconnects.increment(1);
            self.close(CloseReason::SlowConsumer, ctx);
        }
    }

    fn send_packet(&mut self, packet: &Packet, ctx: &mut Context<Self>) {
        self.send_frame(packet.to_frame(), ctx);
    }

    fn is_polling(&self) -> bool {
        matches!(self.transport, Transport::Polling { .. })
    }

    /// Closes the session once: tells the handler, ends the transport, leaves the registry.
    fn close(&mut self, reason: CloseReason, ctx: &mut Context<Self>) {
        if self.closed.is_some() {
            return;
        }
        self.closed = Some(reason);
        tracing::debug!(sid = %self.sid, reason = reason.as_str(), "session closed");
        let mut farewell = None;
        match &mut self.transport {
            Transport::WebSocket(writer) => writer.close(reason.websocket_code()),
            Transport::Polling { buffer, pending } => {
                buffer.clear();
                match pending.take() {
                    Some(reply) => {
                        buffer.push(reason.polling_goodbye().to_frame());
                        polling::flush(buffer, reply);
                    }
                    // Like the reference, a server close with no GET pending (a client
                    // pauses polling while it upgrades) is told to the next GET.
                    None if reason == CloseReason::ServerClose => {
                        farewell = Some(polling::farewell_payload());
                    }
                    None => {}
                }
            }
        }
        (self.unregister)(&self.sid, farewell);
        // A client that got `3probe` pauses polling and goes on only on the probe: as with
        // the reference, when the server closes the session the probe stays until the
        // client sends `5`, and the close is told there. Any other probe is closed: the
        // client keeps polling and hears it there (or broke the session itself).
        if let Some(mut probe) = self
            .probe
            .take_if(|probe| !probe.probed || reason != CloseReason::ServerClose)
        {
            probe.writer.close(None);
        }
        if let Some(mut handler) = self.handler.take() {
            handler.on_close(reason, ctx);
            self.stop_unless_upgrading(ctx);
        }
    }

    /// Stops the closed session's actor, unless a probe is kept for the client to move to
    /// (then [`upgrade`] stops it once the probe is done with).
    fn stop_unless_upgrading(&mut self, ctx: &mut Context<Self>) {
        if self.probe.is_none() {
            ctx.stop();
        }
    }

    /// Starts the session's actor. Its first ping is timed from now, the handshake, not
    /// from when the actor first runs: a client that waits pingInterval + pingTimeout after
    /// the handshake finds the session closed, as with the reference server.
    pub(super) fn open(mut self) -> Addr<Self> {
        Self::create(|ctx| {
            self.schedule_ping(ctx);
            self
        })
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
            // The reference server honours a close packet only over polling; over a
            // WebSocket the client closes the socket itself.
            Packet::Close if self.is_polling() => self.close(CloseReason::ClientClose, ctx),
            // Engine.IO v4 servers ping, clients only answer: a ping is a protocol error.
            Packet::Ping(_) => self.close(CloseReason::ProtocolError, ctx),
            // Meaningless on an established transport; the reference ignores them too.
            Packet::Close | Packet::Noop | Packet::Open(_) | Packet::Upgrade => {}
        }
    }
}

impl<H: SessionHandler> Actor for ConnectionActor<H> {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(self.config.max_buffered_frames);
        self.with_handler(ctx, |handler, session| handler.on_open(session));
    }

    fn stopped(&mut self, ctx: &mut Self::Context) {
        // Stopped from outside (the system shutting down): still clean up.
        self.close(CloseReason::ServerClose, ctx);
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

/// Closes the session because of what the client did on another request (a polling POST
/// the session cannot accept).
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub(super) struct Abort(pub(super) CloseReason);

impl<H: SessionHandler> Handler<Abort> for ConnectionActor<H> {
    type Result = ();

    fn handle(&mut self, Abort(reason): Abort, ctx: &mut Self::Context) {
        self.close(reason, ctx);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_an_oversized_message_closes_a_websocket_with_a_status_code() {
        assert_eq!(
            CloseReason::MessageTooLarge.websocket_code(),
            Some(CloseCode::Size)
        );
        for reason in [
            CloseReason::ClientClose,
            CloseReason::TransportClose,
            CloseReason::PingTimeout,
            CloseReason::ProtocolError,
            CloseReason::SlowConsumer,
            CloseReason::ServerClose,
        ] {
            assert_eq!(reason.websocket_code(), None, "{reason:?}");
        }
    }

    #[test]
    fn a_pending_poll_gets_noop_when_the_client_closed_and_close_otherwise() {
        assert_eq!(CloseReason::ClientClose.polling_goodbye(), Packet::Noop);
        assert_eq!(CloseReason::PingTimeout.polling_goodbye(), Packet::Close);
        assert_eq!(CloseReason::ProtocolError.polling_goodbye(), Packet::Close);
    }
}
