//! Socket.IO v5: namespaces, events, acknowledgements and binary attachments.
//!
//! A Socket.IO packet travels as the data of an Engine.IO `message`:
//!
//! ```text
//! <type>[<#attachments>-][<namespace>,][<ack id>][JSON payload]
//! ```
//!
//! The default namespace `/` is omitted. Binary data never goes inside the JSON: each
//! blob is replaced by `{"_placeholder":true,"num":N}` and sent after the packet as its
//! own binary Engine.IO message, so a binary packet is decoded in steps (see
//! [`PartialPacket`] and [`Decoder`]).
//!
//! In this crate an event or ack is binary exactly when it has attachments: encoding
//! picks `BINARY_EVENT`/`BINARY_ACK` then, as the reference encoder does, and decoding a
//! `BINARY_*` header with no attachments is an error, as it is in the reference decoder.
//!
//! Reference: the Socket.IO protocol v5 document (`docs/socket.io-protocol/v5-current.md`
//! in the socket.io repository) and the `socket.io-parser` package.

mod binary;
mod decode;
mod encode;
#[cfg(test)]
mod proptests;
#[cfg(test)]
mod tests;

use std::borrow::Borrow;
use std::fmt;

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

pub use binary::{Arg, deconstruct, placeholder, reconstruct};
pub use decode::{Decoded, Decoder, PartialPacket, decode, decode_with_attachments};
pub use encode::{ack_frame, event_frame};

/// The protocol revision this codec speaks.
pub const PROTOCOL_VERSION: u8 = 5;

/// Attachments one packet may declare unless configured otherwise (the reference
/// decoder's `maxAttachments` default).
pub const DEFAULT_MAX_ATTACHMENTS: usize = 10;

/// Event names with a meaning of their own on the reference client or server; the
/// reference decoder refuses events with these names, and so do we.
pub const RESERVED_EVENTS: [&str; 6] = [
    "connect",
    "connect_error",
    "disconnect",
    "disconnecting",
    "newListener",
    "removeListener",
];

/// Why a Socket.IO packet could not be decoded (or a namespace not built).
#[derive(Debug, thiserror::Error)]
pub enum SocketIoError {
    /// The packet has no type character.
    #[error("empty Socket.IO packet")]
    EmptyPacket,
    /// The first character is not `0`..=`6`.
    #[error("unknown Socket.IO packet type {0:?}")]
    UnknownPacketType(char),
    /// A binary packet's attachment count is missing, not a number, zero, or not followed by `-`.
    #[error("invalid attachment count")]
    InvalidAttachmentCount,
    /// A binary packet declares more attachments than the decoder accepts.
    #[error("too many attachments (at most {max})")]
    TooManyAttachments {
        /// The configured cap.
        max: usize,
    },
    /// A namespace that does not start with `/`, or holds a comma or a control character.
    #[error("invalid namespace: {0}")]
    InvalidNamespace(&'static str),
    /// A namespace runs to the end of the packet, but the packet type needs a payload
    /// (the `,` that ends the namespace is missing).
    #[error("namespace is not terminated by a comma")]
    NamespaceWithoutComma,
    /// The ack id does not fit in a `u64`.
    #[error("invalid ack id")]
    BadAckId,
    /// An ack id on a packet type that has none (connect, disconnect, connect error).
    #[error("a {0:?} packet cannot carry an ack id")]
    UnexpectedAckId(PacketType),
    /// An `ACK`/`BINARY_ACK` packet without the id of the event it answers.
    #[error("ack packet without an ack id")]
    MissingAckId,
    /// The payload is not valid JSON.
    #[error("invalid JSON payload: {0}")]
    InvalidJson(#[from] serde_json::Error),
    /// A packet type whose payload is mandatory came without one.
    #[error("a {0:?} packet needs a payload")]
    MissingPayload(PacketType),
    /// A `DISCONNECT` packet with a payload.
    #[error("a {0:?} packet cannot carry a payload")]
    UnexpectedPayload(PacketType),
    /// A `CONNECT` payload that is not a JSON object.
    #[error("CONNECT payload is not an object")]
    PayloadNotObject,
    /// An event or ack payload that is not a JSON array.
    #[error("{0:?} payload is not an array")]
    PayloadNotArray(PacketType),
    /// An event payload whose first element is missing or not a string.
    #[error("event name is missing or not a string")]
    EventNameNotString,
    /// An event named like one of [`RESERVED_EVENTS`].
    #[error("reserved event name {0:?}")]
    ReservedEventName(String),
    /// A `CONNECT_ERROR` payload that is neither a string nor `{"message": string, "data"?: any}`.
    #[error("invalid CONNECT_ERROR payload")]
    InvalidConnectError,
    /// A placeholder whose `num` is not an index into the packet's attachments.
    #[error("placeholder does not refer to one of the attachments")]
    InvalidPlaceholder,
    /// The number of attachments supplied differs from the number the header declares.
    #[error("expected {expected} attachments, got {actual}")]
    AttachmentCountMismatch {
        /// Declared by the header.
        expected: usize,
        /// Supplied.
        actual: usize,
    },
    /// A text packet arrived while the attachments of a binary packet were awaited.
    #[error("text packet received while waiting for binary attachments")]
    UnexpectedText,
    /// A binary message arrived while no binary packet was awaiting attachments.
    #[error("binary attachment received outside a binary packet")]
    UnexpectedBinary,
}

/// The seven Socket.IO packet types, with their wire digit as discriminant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum PacketType {
    /// `0`: join a namespace (client, optional auth object) or accept it (server, `{"sid"}`).
    Connect = 0,
    /// `1`: leave a namespace.
    Disconnect = 1,
    /// `2`: an event, `["name", ...args]`.
    Event = 2,
    /// `3`: the answer to an event that asked for one.
    Ack = 3,
    /// `4`: the server refuses the namespace, `{"message", "data"?}`.
    ConnectError = 4,
    /// `5`: an event with binary attachments.
    BinaryEvent = 5,
    /// `6`: an ack with binary attachments.
    BinaryAck = 6,
}

impl PacketType {
    /// The type for a wire digit (`b'0'`..=`b'6'`), if it is one.
    pub const fn from_ascii(byte: u8) -> Option<Self> {
        Some(match byte {
            b'0' => Self::Connect,
            b'1' => Self::Disconnect,
            b'2' => Self::Event,
            b'3' => Self::Ack,
            b'4' => Self::ConnectError,
            b'5' => Self::BinaryEvent,
            b'6' => Self::BinaryAck,
            _ => return None,
        })
    }

    /// The wire digit of this type.
    pub const fn as_ascii(self) -> u8 {
        b'0' + self as u8
    }

    /// Whether the header of this type carries an attachment count.
    pub const fn is_binary(self) -> bool {
        matches!(self, Self::BinaryEvent | Self::BinaryAck)
    }
}

/// A namespace name: `/`, or `/` followed by anything but commas and control characters.
///
/// The wire format ends a namespace with a comma and has no escape for it, and a control
/// character (`\x1e` above all) would break the polling payload, so such names cannot
/// be built: every `Namespace` encodes.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Namespace(String);

impl Namespace {
    /// The main namespace, `/`.
    pub fn root() -> Self {
        Self("/".to_owned())
    }

    /// Checks and wraps a namespace name.
    pub fn new(name: impl Into<String>) -> Result<Self, SocketIoError> {
        let name = name.into();
        Self::validate(&name)?;
        Ok(Self(name))
    }

    pub(crate) fn validate(name: &str) -> Result<(), SocketIoError> {
        if !name.starts_with('/') {
            return Err(SocketIoError::InvalidNamespace("must start with '/'"));
        }
        if name.contains(',') {
            return Err(SocketIoError::InvalidNamespace("must not contain a comma"));
        }
        if name.chars().any(char::is_control) {
            return Err(SocketIoError::InvalidNamespace(
                "must not contain control characters",
            ));
        }
        Ok(())
    }

    /// The name, e.g. `/admin`.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether this is the main namespace `/` (omitted on the wire).
    pub fn is_root(&self) -> bool {
        self.0 == "/"
    }
}

impl Default for Namespace {
    fn default() -> Self {
        Self::root()
    }
}

impl fmt::Display for Namespace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for Namespace {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl Borrow<str> for Namespace {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl TryFrom<&str> for Namespace {
    type Error = SocketIoError;

    fn try_from(name: &str) -> Result<Self, Self::Error> {
        Self::new(name)
    }
}

impl TryFrom<String> for Namespace {
    type Error = SocketIoError;

    fn try_from(name: String) -> Result<Self, Self::Error> {
        Self::new(name)
    }
}

/// An event: `["name", ...args]`, maybe asking for an ack, maybe with binary attachments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// The event name (the payload's first element).
    pub name: String,
    /// The arguments after the name; binary blobs appear as placeholders.
    pub args: Vec<Value>,
    /// The id the receiver must answer with an [`Ack`], if the sender asked for one.
    pub ack: Option<u64>,
    /// The binary blobs the placeholders in `args` refer to; non-empty makes this a `BINARY_EVENT`.
    pub attachments: Vec<Bytes>,
}

impl Event {
    /// A plain event without ack request or attachments.
    pub fn new(name: impl Into<String>, args: Vec<Value>) -> Self {
        Self {
            name: name.into(),
            args,
            ack: None,
            attachments: Vec::new(),
        }
    }

    /// An event whose arguments may hold binary blobs anywhere; they become attachments.
    pub fn with_binary(name: impl Into<String>, args: Vec<Arg>) -> Self {
        let (args, attachments) = deconstruct(args);
        Self {
            name: name.into(),
            args,
            ack: None,
            attachments,
        }
    }

    /// Asks the receiver to acknowledge with this id.
    pub fn with_ack(mut self, id: u64) -> Self {
        self.ack = Some(id);
        self
    }

    /// The arguments with their binary blobs put back in place of the placeholders.
    pub fn binary_args(&self) -> Result<Vec<Arg>, SocketIoError> {
        reconstruct(self.args.clone(), &self.attachments)
    }
}

/// The answer to an event that carried an ack id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ack {
    /// The id of the event this answers.
    pub id: u64,
    /// The answer's arguments (possibly none); binary blobs appear as placeholders.
    pub args: Vec<Value>,
    /// The binary blobs the placeholders refer to; non-empty makes this a `BINARY_ACK`.
    pub attachments: Vec<Bytes>,
}

impl Ack {
    /// A plain ack.
    pub fn new(id: u64, args: Vec<Value>) -> Self {
        Self {
            id,
            args,
            attachments: Vec::new(),
        }
    }

    /// An ack whose arguments may hold binary blobs anywhere; they become attachments.
    pub fn with_binary(id: u64, args: Vec<Arg>) -> Self {
        let (args, attachments) = deconstruct(args);
        Self {
            id,
            args,
            attachments,
        }
    }

    /// The arguments with their binary blobs put back in place of the placeholders.
    pub fn binary_args(&self) -> Result<Vec<Arg>, SocketIoError> {
        reconstruct(self.args.clone(), &self.attachments)
    }
}

/// The payload of `CONNECT_ERROR`: what the client's `connect_error` handler receives as
/// `err.message` and `err.data`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnectError {
    /// Human-readable reason.
    pub message: String,
    /// Extra details for the client, omitted from the JSON when `None`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<Value>,
}

/// What a packet says, by type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PacketData {
    /// `CONNECT`: from the client with an optional auth object, from the server with `{"sid": ...}`.
    Connect(Option<Map<String, Value>>),
    /// `DISCONNECT`.
    Disconnect,
    /// `EVENT` or `BINARY_EVENT`.
    Event(Event),
    /// `ACK` or `BINARY_ACK`.
    Ack(Ack),
    /// `CONNECT_ERROR`.
    ConnectError(ConnectError),
}

/// One Socket.IO packet: a namespace and what is said in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packet {
    /// The namespace the packet belongs to.
    pub namespace: Namespace,
    /// The packet's type and payload.
    pub data: PacketData,
}

impl Packet {
    /// Builds a packet.
    pub fn new(namespace: Namespace, data: PacketData) -> Self {
        Self { namespace, data }
    }

    /// The wire type: events and acks with attachments are `BINARY_EVENT`/`BINARY_ACK`.
    pub fn packet_type(&self) -> PacketType {
        match &self.data {
            PacketData::Connect(_) => PacketType::Connect,
            PacketData::Disconnect => PacketType::Disconnect,
            PacketData::Event(e) if e.attachments.is_empty() => PacketType::Event,
            PacketData::Event(_) => PacketType::BinaryEvent,
            PacketData::Ack(a) if a.attachments.is_empty() => PacketType::Ack,
            PacketData::Ack(_) => PacketType::BinaryAck,
            PacketData::ConnectError(_) => PacketType::ConnectError,
        }
    }

    /// The binary attachments, sent as separate binary messages after the packet.
    pub fn attachments(&self) -> &[Bytes] {
        match &self.data {
            PacketData::Event(e) => &e.attachments,
            PacketData::Ack(a) => &a.attachments,
            _ => &[],
        }
    }

    fn attachments_mut(&mut self) -> Option<&mut Vec<Bytes>> {
        match &mut self.data {
            PacketData::Event(e) => Some(&mut e.attachments),
            PacketData::Ack(a) => Some(&mut a.attachments),
            _ => None,
        }
    }
}
