//! The raw Engine.IO echo: every message, text or binary, is sent back. The official
//! `engine.io-protocol` suite expects it at `/engine.io/`, and the engine's own tests use it.

use actix::Context;
use confab_protocol::engineio::{Frame, Packet};

use super::{CloseReason, ConnectionActor, HandlerFactory, Message, Session, SessionHandler, Sid};

/// Sends every message back.
#[derive(Debug)]
pub struct Echo;

impl SessionHandler for Echo {
    type Command = ();

    fn on_open(&mut self, _session: &mut Session<'_, Self>) {}

    fn on_message(&mut self, session: &mut Session<'_, Self>, message: Message) {
        let frame = match message {
            Message::Text(text) => Packet::Message(text).to_frame(),
            Message::Binary(data) => Frame::Binary(data),
        };
        session.send(frame);
    }

    fn on_command(&mut self, _session: &mut Session<'_, Self>, _command: ()) {}

    fn on_close(&mut self, _reason: CloseReason, _ctx: &mut Context<ConnectionActor<Self>>) {}
}

/// Makes an [`Echo`] for every session.
#[derive(Debug)]
pub struct EchoFactory;

impl HandlerFactory for EchoFactory {
    type Handler = Echo;

    fn create(&self, _sid: &Sid) -> Echo {
        Echo
    }
}
