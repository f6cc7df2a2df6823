//! The long-polling side of a session: a GET waits for frames (at most one at a time), a
//! POST delivers the client's packets.

use actix::prelude::*;
use bytes::Bytes;
use confab_protocol::engineio::{self, Frame, Packet};
use tokio::sync::oneshot;

use super::{CloseReason, ConnectionActor, Transport};
use crate::engineio::SessionHandler;

/// Why a polling request failed; the HTTP layer turns it into a reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(in crate::engineio) enum PollError {
    /// A second GET while one was pending: the session is closed.
    Overlap,
    /// The session is closed.
    Closed,
    /// The session is no longer polling (it upgraded to WebSocket, or never polled).
    NotPolling,
}

/// The reply a GET waits for.
pub(super) type PollReply = oneshot::Sender<Result<Bytes, PollError>>;

/// Answers a pending GET with everything buffered.
pub(super) fn flush(buffer: &mut Vec<Frame>, reply: PollReply) {
    let mut body = Vec::new();
    engineio::encode_payload_into(buffer.iter(), &mut body);
    buffer.clear();
    let _ = reply.send(Ok(Bytes::from(body)));
}

/// What the next GET of a session the server closed while no GET was pending gets, as
/// from the reference: a `noop`, then `close`.
pub(super) fn farewell_payload() -> Bytes {
    let mut body = Vec::new();
    engineio::encode_payload_into(
        [Packet::Noop.to_frame(), Packet::Close.to_frame()].iter(),
        &mut body,
    );
    Bytes::from(body)
}

/// The body of a GET answered with a `noop` packet.
pub(super) fn noop_payload() -> Bytes {
    let mut body = Vec::new();
    Packet::Noop.encode_text_into(&mut body);
    Bytes::from(body)
}

/// A long-polling GET: answered at once if frames are waiting, else when one comes.
#[derive(Message)]
#[rtype(result = "()")]
pub(in crate::engineio) struct Poll {
    pub(in crate::engineio) reply: PollReply,
}

impl<H: SessionHandler> Handler<Poll> for ConnectionActor<H> {
    type Result = ();

    fn handle(&mut self, poll: Poll, ctx: &mut Self::Context) {
        let probing = self.probe.as_ref().is_some_and(|probe| probe.probed);
        if self.closed.is_some() {
            let _ = poll.reply.send(Err(PollError::Closed));
            return;
        }
        let Transport::Polling { buffer, pending } = &mut self.transport else {
            let _ = poll.reply.send(Err(PollError::NotPolling));
            return;
        };
        if pending.is_some() {
            let _ = poll.reply.send(Err(PollError::Overlap));
            self.close(CloseReason::ProtocolError, ctx);
        } else if !buffer.is_empty() {
            // Even while an upgrade is probed: what was buffered goes out first.
            flush(buffer, poll.reply);
        } else if probing {
            // Let the client pause polling so that it can finish the upgrade.
            let _ = poll.reply.send(Ok(noop_payload()));
        } else {
            *pending = Some(poll.reply);
        }
    }
}

/// The packets of a polling POST.
#[derive(Message)]
#[rtype(result = "Result<(), PollError>")]
pub(in crate::engineio) struct PollData {
    /// The packets decoded before the first undecodable one (all of them if none was).
    pub(in crate::engineio) packets: Vec<Packet>,
    /// Whether the payload held an undecodable packet: the session closes after the
    /// packets before it are delivered (the POST itself is still answered `ok`).
    pub(in crate::engineio) invalid: bool,
}

impl<H: SessionHandler> Handler<PollData> for ConnectionActor<H> {
    type Result = Result<(), PollError>;

    fn handle(&mut self, data: PollData, ctx: &mut Self::Context) -> Self::Result {
        if self.closed.is_some() {
            return Err(PollError::Closed);
        }
        if !self.is_polling() {
            return Err(PollError::NotPolling);
        }
        for packet in data.packets {
            if self.closed.is_some() {
                break;
            }
            self.receive(packet, ctx);
        }
        if data.invalid {
            self.close(CloseReason::ProtocolError, ctx);
        }
        Ok(())
    }
}
