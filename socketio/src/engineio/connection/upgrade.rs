//! The WebSocket side of a session: events from a WebSocket reader, and the upgrade of a
//! polling session to a WebSocket (`2probe` / `3probe`, then `5`).

use actix::prelude::*;
use confab_protocol::engineio::Packet;

use super::polling::noop_payload;
use super::{CloseReason, ConnectionActor, Transport};
use crate::engineio::SessionHandler;
use crate::engineio::websocket::WsWriter;

/// A WebSocket that asked to take over a polling session and has not finished yet.
pub(super) struct Probe {
    pub(super) writer: WsWriter,
    id: u64,
    /// The client sent `2probe`: polling is being paused, GETs get `noop` at once.
    pub(super) probed: bool,
    timeout: SpawnHandle,
}

impl<H: SessionHandler> ConnectionActor<H> {
    /// A packet from the WebSocket probing to take over this polling session.
    fn receive_probe(&mut self, packet: Packet, ctx: &mut Context<Self>) {
        let Some(probe) = self.probe.as_mut() else {
            return;
        };
        match packet {
            Packet::Ping(data) if data == "probe" => {
                if probe.writer.send(Packet::Pong(data).to_frame()).is_err() {
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
        let Some(mut probe) = self.probe.take() else {
            return;
        };
        ctx.cancel_future(probe.timeout);
        if let Some(reason) = self.closed {
            // Closed while the client moved here: it hears the close on its new transport,
            // and its next GET, if any, finds the session gone (as with the reference).
            probe.writer.close(reason.websocket_code());
            (self.unregister)(&self.sid, None);
            ctx.stop();
            return;
        }
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
            probe.writer.close(None);
        }
        if self.closed.is_some() {
            ctx.stop();
        }
    }
}

/// What a WebSocket's reader saw in one read, in order: handled in one go, so that
/// nothing the session receives meanwhile (a polling request) comes between packets the
/// client sent together (`2probe` and `5`).
#[derive(Message)]
#[rtype(result = "()")]
pub(in crate::engineio) struct WsEvent {
    /// Which WebSocket it came from.
    pub(in crate::engineio) id: u64,
    pub(in crate::engineio) kinds: Vec<WsEventKind>,
}

/// The events of a WebSocket reader.
pub(in crate::engineio) enum WsEventKind {
    /// A decoded Engine.IO packet.
    Packet(Packet),
    /// The client broke the protocol (bad frame, bad packet).
    Invalid,
    /// The client sent a message over the maximum payload.
    TooLarge,
    /// The WebSocket is gone.
    Closed,
}

impl<H: SessionHandler> Handler<WsEvent> for ConnectionActor<H> {
    type Result = ();

    fn handle(&mut self, event: WsEvent, ctx: &mut Self::Context) {
        for kind in event.kinds {
            // A closed session hears only the probe it keeps for the client to move to.
            if self.closed.is_some() && self.probe.is_none() {
                return;
            }
            self.ws_event(event.id, kind, ctx);
        }
    }
}

impl<H: SessionHandler> ConnectionActor<H> {
    fn ws_event(&mut self, id: u64, kind: WsEventKind, ctx: &mut Context<Self>) {
        let is_current = !self.is_polling() && id == self.transport_id;
        let is_probe = self.probe.as_ref().is_some_and(|probe| probe.id == id);
        match (kind, is_current, is_probe) {
            (WsEventKind::Packet(packet), true, _) => self.receive(packet, ctx),
            (WsEventKind::Packet(packet), false, true) => self.receive_probe(packet, ctx),
            (WsEventKind::Invalid, true, _) => self.close(CloseReason::ProtocolError, ctx),
            (WsEventKind::TooLarge, true, _) => self.close(CloseReason::MessageTooLarge, ctx),
            (WsEventKind::Closed, true, _) => self.close(CloseReason::TransportClose, ctx),
            (_, false, true) => self.drop_probe(ctx),
            _ => {}
        }
    }
}

/// A WebSocket wants to take over this polling session; answers whether it may. Refused
/// when the session is closed, is not polling (already upgraded, or born on a WebSocket),
/// or another WebSocket is probing.
#[derive(Message)]
#[rtype(result = "bool")]
pub(in crate::engineio) struct StartProbe {
    pub(in crate::engineio) writer: WsWriter,
    pub(in crate::engineio) id: u64,
}

impl<H: SessionHandler> Handler<StartProbe> for ConnectionActor<H> {
    type Result = bool;

    fn handle(&mut self, mut start: StartProbe, ctx: &mut Self::Context) -> bool {
        if self.closed.is_some() || !self.is_polling() || self.probe.is_some() {
            start.writer.close(None);
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
