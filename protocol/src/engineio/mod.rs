//! Engine.IO v4: the transport layer under Socket.IO.
//!
//! An Engine.IO packet is a one-digit type followed by optional data (`4hello`, `2probe`).
//! Over WebSocket every packet is its own frame and binary data is a raw binary frame
//! (always a `message`). Over HTTP long-polling several packets share one body, separated
//! by the record separator `\x1e`, and binary data travels as `b` followed by base64.
//!
//! The server encodes a packet once into a [`Frame`] (cheap to clone, backed by
//! [`Bytes`]) and hands the same frame to every recipient; a WebSocket connection writes it
//! as is, a polling connection joins its queued frames with [`encode_payload_into`].
//!
//! Reference: the Engine.IO protocol v4 document (`docs/engine.io-protocol/v4-current.md`
//! in the socket.io repository) and the `engine.io-parser` package.

use base64::Engine as _;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::json::write_json;

/// The value of the `EIO` query parameter this codec speaks.
pub const PROTOCOL_VERSION: u8 = 4;

/// Separates the packets of an HTTP long-polling payload.
pub const RECORD_SEPARATOR: u8 = 0x1e;

/// Prefix of a base64-encoded binary packet inside a polling payload.
const BINARY_PREFIX: u8 = b'b';

/// Standard alphabet; writes padding, and accepts input with or without it (browsers'
/// and Node's encoders both pad, but a lenient reader costs nothing).
const BASE64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Why an Engine.IO packet or payload could not be decoded.
#[derive(Debug, thiserror::Error)]
pub enum EngineIoError {
    /// The packet (or one packet of a payload) has no type character.
    #[error("empty Engine.IO packet")]
    EmptyPacket,
    /// The first character is not a known packet type (`0`..=`6`, or `b` for base64).
    #[error("unknown Engine.IO packet type {0:?}")]
    UnknownPacketType(char),
    /// A `b` packet whose data is not valid base64.
    #[error("invalid base64 in a binary packet: {0}")]
    InvalidBase64(#[from] base64::DecodeError),
    /// An `open` packet whose data is not the handshake JSON object.
    #[error("invalid open handshake: {0}")]
    InvalidHandshake(#[source] serde_json::Error),
    /// A text frame or polling body that is not UTF-8.
    #[error("Engine.IO text is not valid UTF-8: {0}")]
    InvalidUtf8(#[from] std::str::Utf8Error),
}

/// The seven Engine.IO packet types, with their wire digit as discriminant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum PacketType {
    /// `0`: the server's handshake.
    Open = 0,
    /// `1`: the transport can be closed.
    Close = 1,
    /// `2`: heartbeat request (server to client), or upgrade probe (`2probe`).
    Ping = 2,
    /// `3`: heartbeat answer, or probe answer (`3probe`).
    Pong = 3,
    /// `4`: application data (here: a Socket.IO packet).
    Message = 4,
    /// `5`: the client switches to the probed transport.
    Upgrade = 5,
    /// `6`: does nothing; ends a pending poll during an upgrade.
    Noop = 6,
}

impl PacketType {
    /// The type for a wire digit (`b'0'`..=`b'6'`), if it is one.
    pub const fn from_ascii(byte: u8) -> Option<Self> {
        Some(match byte {
            b'0' => Self::Open,
            b'1' => Self::Close,
            b'2' => Self::Ping,
            b'3' => Self::Pong,
            b'4' => Self::Message,
            b'5' => Self::Upgrade,
            b'6' => Self::Noop,
            _ => return None,
        })
    }

    /// The wire digit of this type (`b'0'`..=`b'6'`).
    pub const fn as_ascii(self) -> u8 {
        b'0' + self as u8
    }
}

/// The JSON data of the `open` packet: `{"sid","upgrades","pingInterval","pingTimeout","maxPayload"}`.
///
/// Fields serialise in this order, the order the reference server uses.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Handshake {
    /// The Engine.IO session id; the client sends it back as the `sid` query parameter.
    pub sid: String,
    /// Transports the client may upgrade to (`["websocket"]` on a polling session, else `[]`).
    pub upgrades: Vec<String>,
    /// Milliseconds between two server pings.
    pub ping_interval: u64,
    /// Milliseconds the server waits for a pong (and the client's grace on top of the interval).
    pub ping_timeout: u64,
    /// Largest polling payload, in bytes, the server accepts from the client.
    pub max_payload: u64,
}

/// One decoded Engine.IO packet.
///
/// `close`, `upgrade` and `noop` carry no data; data sent with them anyway is ignored on
/// decoding, as the reference parser's users do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Packet {
    /// `0{...}`: the handshake.
    Open(Handshake),
    /// `1`.
    Close,
    /// `2` with optional data (empty for a heartbeat, `probe` during an upgrade).
    Ping(String),
    /// `3` with optional data, echoing the ping's.
    Pong(String),
    /// `4` with text data.
    Message(String),
    /// `5`.
    Upgrade,
    /// `6`.
    Noop,
    /// A binary `message`: a raw WebSocket binary frame, or `b<base64>` when polling.
    Binary(Bytes),
}

impl Packet {
    /// The packet's type; a [`Packet::Binary`] is a `message`.
    pub fn packet_type(&self) -> PacketType {
        match self {
            Self::Open(_) => PacketType::Open,
            Self::Close => PacketType::Close,
            Self::Ping(_) => PacketType::Ping,
            Self::Pong(_) => PacketType::Pong,
            Self::Message(_) | Self::Binary(_) => PacketType::Message,
            Self::Upgrade => PacketType::Upgrade,
            Self::Noop => PacketType::Noop,
        }
    }

    /// Decodes one text packet: a WebSocket text frame, or one packet of a polling payload.
    ///
    /// A leading `b` means base64-encoded binary data, as in `engine.io-parser`.
    pub fn decode_text(text: &str) -> Result<Self, EngineIoError> {
        let Some(&first) = text.as_bytes().first() else {
            return Err(EngineIoError::EmptyPacket);
        };
        // The first byte is ASCII in every valid packet, so slicing after it is safe;
        // `get` keeps an invalid (multi-byte) first character from panicking.
        let data = text.get(1..).unwrap_or_default();
        if first == BINARY_PREFIX {
            return Ok(Self::Binary(Bytes::from(BASE64.decode(data)?)));
        }
        let Some(kind) = PacketType::from_ascii(first) else {
            let found = text.chars().next().unwrap_or_default();
            return Err(EngineIoError::UnknownPacketType(found));
        };
        Ok(match kind {
            PacketType::Open => {
                Self::Open(serde_json::from_str(data).map_err(EngineIoError::InvalidHandshake)?)
            }
            PacketType::Close => Self::Close,
            PacketType::Ping => Self::Ping(data.to_owned()),
            PacketType::Pong => Self::Pong(data.to_owned()),
            PacketType::Message => Self::Message(data.to_owned()),
            PacketType::Upgrade => Self::Upgrade,
            PacketType::Noop => Self::Noop,
        })
    }

    /// Decodes a WebSocket binary frame: always a binary `message`, sent as is.
    pub fn decode_binary(data: Bytes) -> Self {
        Self::Binary(data)
    }

    /// Appends the packet's text form to `out`: `<type><data>`, or `b<base64>` for binary.
    ///
    /// This is the polling form of every packet and the WebSocket form of text packets.
    /// Text data must not contain `\x1e` if the packet goes into a polling payload (the
    /// protocol has no escape for it; Socket.IO packets never contain it).
    pub fn encode_text_into(&self, out: &mut Vec<u8>) {
        let data = match self {
            Self::Binary(bytes) => return write_base64(bytes, out),
            Self::Open(handshake) => {
                out.push(PacketType::Open.as_ascii());
                return write_json(out, handshake);
            }
            Self::Ping(data) | Self::Pong(data) | Self::Message(data) => data.as_str(),
            Self::Close | Self::Upgrade | Self::Noop => "",
        };
        out.push(self.packet_type().as_ascii());
        out.extend_from_slice(data.as_bytes());
    }

    /// The packet as one WebSocket frame (binary data goes raw, in a binary frame).
    pub fn to_frame(&self) -> Frame {
        if let Self::Binary(bytes) = self {
            return Frame::Binary(bytes.clone());
        }
        let mut out = Vec::new();
        self.encode_text_into(&mut out);
        Frame::Text(Bytes::from(out))
    }
}

/// An encoded packet, ready to be written to any number of connections.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Frame {
    /// A text packet (`<type><data>`); always UTF-8 when this crate built it.
    Text(Bytes),
    /// A binary `message`, raw.
    Binary(Bytes),
}

impl Frame {
    /// The encoded bytes: what a WebSocket frame carries.
    pub fn as_bytes(&self) -> &Bytes {
        match self {
            Self::Text(bytes) | Self::Binary(bytes) => bytes,
        }
    }

    /// Decodes the frame back into a packet (as a receiver of the WebSocket frame would).
    pub fn decode(&self) -> Result<Packet, EngineIoError> {
        match self {
            Self::Text(bytes) => Packet::decode_text(std::str::from_utf8(bytes)?),
            Self::Binary(bytes) => Ok(Packet::decode_binary(bytes.clone())),
        }
    }
}

/// Appends a polling payload to `out`: the frames' text forms joined by `\x1e`, binary
/// frames as `b<base64>`.
pub fn encode_payload_into<'a>(frames: impl IntoIterator<Item = &'a Frame>, out: &mut Vec<u8>) {
    for (i, frame) in frames.into_iter().enumerate() {
        if i > 0 {
            out.push(RECORD_SEPARATOR);
        }
        match frame {
            Frame::Text(text) => out.extend_from_slice(text),
            Frame::Binary(bytes) => write_base64(bytes, out),
        }
    }
}

/// Encodes packets as one polling payload (convenience over [`encode_payload_into`]).
pub fn encode_payload(packets: &[Packet]) -> Vec<u8> {
    let mut out = Vec::new();
    for (i, packet) in packets.iter().enumerate() {
        if i > 0 {
            out.push(RECORD_SEPARATOR);
        }
        packet.encode_text_into(&mut out);
    }
    out
}

/// Decodes a polling payload (an HTTP request or response body) into its packets.
///
/// Like the reference parser, one malformed packet fails the whole payload; an empty body
/// is one empty packet and so an error.
pub fn decode_payload(body: &[u8]) -> Result<Vec<Packet>, EngineIoError> {
    let text = std::str::from_utf8(body)?;
    text.split(char::from(RECORD_SEPARATOR))
        .map(Packet::decode_text)
        .collect()
}

/// Appends `b` and the base64 of `data` to `out`.
fn write_base64(data: &[u8], out: &mut Vec<u8>) {
    out.push(BINARY_PREFIX);
    let start = out.len();
    let len = base64::encoded_len(data.len(), true).unwrap_or_default();
    out.resize(start + len, 0);
    let written = out
        .get_mut(start..)
        .and_then(|tail| BASE64.encode_slice(data, tail).ok())
        .unwrap_or_default();
    out.truncate(start + written);
}

#[cfg(test)]
mod tests;
