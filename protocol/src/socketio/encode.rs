//! Encoding Socket.IO packets, byte for byte as `socket.io-parser`'s `Encoder` does.
//!
//! The hot path is [`Packet::encode_message_into`] (or [`Packet::to_frames`]): the server
//! encodes a packet once, wrapped as an Engine.IO `message`, and shares the frames with
//! every recipient.

use std::io::Write as _;

use bytes::Bytes;
use serde::Serialize;

use super::{Namespace, Packet, PacketData, PacketType};
use crate::engineio::{self, Frame};
use crate::json::write_json;

impl Packet {
    /// Appends the packet's text to `out`:
    /// `<type>[<#attachments>-][<namespace>,][<ack id>][JSON]`.
    ///
    /// The attachments are not part of the text; send [`Packet::attachments`] after it.
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        out.push(self.packet_type().as_ascii());
        let attachments = self.attachments().len();
        if attachments > 0 {
            // Writing to a `Vec` cannot fail.
            let _ = write!(out, "{attachments}-");
        }
        write_namespace(out, &self.namespace);
        match &self.data {
            PacketData::Connect(None) | PacketData::Disconnect => {}
            PacketData::Connect(Some(auth)) => write_json(out, auth),
            PacketData::ConnectError(error) => write_json(out, error),
            PacketData::Event(event) => {
                if let Some(id) = event.ack {
                    let _ = write!(out, "{id}");
                }
                out.push(b'[');
                write_json(out, &event.name);
                for arg in &event.args {
                    out.push(b',');
                    write_json(out, arg);
                }
                out.push(b']');
            }
            PacketData::Ack(ack) => {
                let _ = write!(out, "{}", ack.id);
                write_json(out, &ack.args);
            }
        }
    }

    /// Appends the packet as the text of an Engine.IO `message` (`4` + the packet text):
    /// what a WebSocket text frame or one polling packet carries.
    pub fn encode_message_into(&self, out: &mut Vec<u8>) {
        out.push(engineio::PacketType::Message.as_ascii());
        self.encode_into(out);
    }

    /// The packet's text, without the Engine.IO prefix (convenience over [`Packet::encode_into`]).
    pub fn encode(&self) -> String {
        let mut out = Vec::new();
        self.encode_into(&mut out);
        // Everything written above is UTF-8; the lossy path is never taken.
        String::from_utf8(out)
            .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
    }

    /// The Engine.IO frames that carry this packet: the text message, then one binary
    /// message per attachment. Cloning the frames shares their bytes.
    pub fn to_frames(&self) -> Vec<Frame> {
        let mut text = Vec::new();
        self.encode_message_into(&mut text);
        let mut frames = Vec::with_capacity(1 + self.attachments().len());
        frames.push(Frame::Text(Bytes::from(text)));
        frames.extend(self.attachments().iter().cloned().map(Frame::Binary));
        frames
    }
}

/// `<namespace>,` unless the namespace is the root.
fn write_namespace(out: &mut Vec<u8>, namespace: &Namespace) {
    if !namespace.is_root() {
        out.extend_from_slice(namespace.as_str().as_bytes());
        out.push(b',');
    }
}

/// The Engine.IO frame of an event `name` with one argument, serialised straight from
/// `payload`: the same text as a [`Packet`] holding an [`Event`](super::Event) of it,
/// without building a JSON tree first. What a server sends to many recipients.
pub fn event_frame<T: Serialize + ?Sized>(namespace: &Namespace, name: &str, payload: &T) -> Frame {
    let mut out = Vec::with_capacity(128);
    out.push(engineio::PacketType::Message.as_ascii());
    out.push(PacketType::Event.as_ascii());
    write_namespace(&mut out, namespace);
    out.push(b'[');
    write_json(&mut out, name);
    out.push(b',');
    write_json(&mut out, payload);
    out.push(b']');
    Frame::Text(Bytes::from(out))
}

/// The Engine.IO frame of the ack `id` with one argument, serialised straight from
/// `payload` (as [`event_frame`] does for events).
pub fn ack_frame<T: Serialize + ?Sized>(namespace: &Namespace, id: u64, payload: &T) -> Frame {
    let mut out = Vec::with_capacity(128);
    out.push(engineio::PacketType::Message.as_ascii());
    out.push(PacketType::Ack.as_ascii());
    write_namespace(&mut out, namespace);
    let _ = write!(out, "{id}[");
    write_json(&mut out, payload);
    out.push(b']');
    Frame::Text(Bytes::from(out))
}
