//! Confab's wire formats, as pure data: no I/O, no runtime.
//!
//! - [`engineio`]: Engine.IO v4 packets, WebSocket frames and HTTP long-polling payloads.
//! - [`socketio`]: Socket.IO v5 packets (namespaces, events, acks, binary attachments)
//!   that travel inside Engine.IO `message` packets.
//! - [`cluster`]: the versioned envelopes nodes send each other over the bus.
//!
//! Both codecs follow the reference JavaScript implementation (`engine.io-parser`,
//! `socket.io-parser`), so the official `socket.io-client` talks to Confab unchanged.
//! Decoders never panic and report malformed input as typed errors; encoders append to
//! a caller's buffer so a packet is encoded once and its bytes shared among recipients.

#![warn(missing_docs)]

pub mod chat;
pub mod cluster;
pub mod engineio;
#[cfg(test)]
mod fuzz_regressions;
mod json;
pub mod socketio;
