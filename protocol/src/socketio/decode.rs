//! Decoding Socket.IO packets, including the step-by-step assembly of binary packets.
//!
//! The rules follow `socket.io-parser`'s `Decoder`, with these choices where it is lax:
//! the attachment count must be plain digits; an ack id must fit in a `u64` and is
//! refused on packet types that cannot be acknowledged; an `ACK` must carry an id and
//! every packet type that has a payload must carry one; every placeholder of a binary
//! packet is checked as soon as its header arrives. A namespace not followed by a comma
//! is accepted only when nothing follows it (`0/admin`, as some clients send), since the
//! reference decoder and socketioxide accept that too.
//!
//! Decoding never panics: input is only read through checked accessors.

use bytes::Bytes;
use serde_json::Value;

use super::binary::check_placeholders;
use super::{
    Ack, ConnectError, DEFAULT_MAX_ATTACHMENTS, Event, Namespace, Packet, PacketData, PacketType,
    RESERVED_EVENTS, SocketIoError,
};

/// The outcome of decoding one text packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decoded {
    /// The packet is whole.
    Complete(Packet),
    /// A binary packet's header: its attachments follow as binary messages.
    Partial(PartialPacket),
}

/// A binary packet waiting for its attachments; feed them with [`PartialPacket::push`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartialPacket {
    packet: Packet,
    /// Declared by the header; at least 1 and at most the decoder's cap.
    expected: usize,
}

impl PartialPacket {
    /// How many attachments the header declared.
    pub fn expected(&self) -> usize {
        self.expected
    }

    /// How many attachments have arrived so far.
    pub fn received(&self) -> usize {
        self.packet.attachments().len()
    }

    /// Adds the next attachment; the packet is complete once all have arrived.
    pub fn push(mut self, attachment: Bytes) -> Decoded {
        if let Some(attachments) = self.packet.attachments_mut() {
            attachments.push(attachment);
        }
        if self.received() >= self.expected {
            Decoded::Complete(self.packet)
        } else {
            Decoded::Partial(self)
        }
    }
}

/// Decodes one text packet (the data of an Engine.IO `message`, without its `4`).
///
/// `max_attachments` caps the attachment count a binary header may declare
/// ([`DEFAULT_MAX_ATTACHMENTS`] is the reference's default).
pub fn decode(text: &str, max_attachments: usize) -> Result<Decoded, SocketIoError> {
    let (packet, expected) = parse(text, max_attachments)?;
    Ok(if expected == 0 {
        Decoded::Complete(packet)
    } else {
        Decoded::Partial(PartialPacket { packet, expected })
    })
}

/// Decodes a text packet together with all of its attachments at once.
///
/// Fails with [`SocketIoError::AttachmentCountMismatch`] unless `attachments` holds
/// exactly as many blobs as the header declares (none for a non-binary packet).
pub fn decode_with_attachments(
    text: &str,
    attachments: Vec<Bytes>,
    max_attachments: usize,
) -> Result<Packet, SocketIoError> {
    let (mut packet, expected) = parse(text, max_attachments)?;
    if expected != attachments.len() {
        return Err(SocketIoError::AttachmentCountMismatch {
            expected,
            actual: attachments.len(),
        });
    }
    if let Some(slot) = packet.attachments_mut() {
        *slot = attachments;
    }
    Ok(packet)
}

/// The per-connection decoding state: at most one binary packet being assembled.
///
/// Feed it the Engine.IO `message` packets of one connection in order: text data to
/// [`Decoder::decode_text`], binary data to [`Decoder::decode_binary`].
#[derive(Debug, Clone)]
pub struct Decoder {
    max_attachments: usize,
    pending: Option<PartialPacket>,
}

impl Default for Decoder {
    fn default() -> Self {
        Self::new(DEFAULT_MAX_ATTACHMENTS)
    }
}

impl Decoder {
    /// A decoder that refuses binary packets declaring more than `max_attachments` attachments.
    pub fn new(max_attachments: usize) -> Self {
        Self {
            max_attachments,
            pending: None,
        }
    }

    /// Whether a binary packet is waiting for attachments.
    pub fn is_waiting_for_attachments(&self) -> bool {
        self.pending.is_some()
    }

    /// Decodes a text message: `Some(packet)` if it is whole, `None` if it is a binary
    /// header whose attachments must follow. Text while attachments are awaited is an
    /// error ([`SocketIoError::UnexpectedText`]), as in the reference decoder.
    pub fn decode_text(&mut self, text: &str) -> Result<Option<Packet>, SocketIoError> {
        if self.pending.is_some() {
            return Err(SocketIoError::UnexpectedText);
        }
        match decode(text, self.max_attachments)? {
            Decoded::Complete(packet) => Ok(Some(packet)),
            Decoded::Partial(partial) => {
                self.pending = Some(partial);
                Ok(None)
            }
        }
    }

    /// Adds a binary message to the packet being assembled: `Some(packet)` once it is
    /// whole. A binary message with no packet awaiting it is an error
    /// ([`SocketIoError::UnexpectedBinary`]).
    pub fn decode_binary(&mut self, attachment: Bytes) -> Result<Option<Packet>, SocketIoError> {
        let partial = self.pending.take().ok_or(SocketIoError::UnexpectedBinary)?;
        match partial.push(attachment) {
            Decoded::Complete(packet) => Ok(Some(packet)),
            Decoded::Partial(partial) => {
                self.pending = Some(partial);
                Ok(None)
            }
        }
    }
}

/// Reads a packet's text; only ever advances over ASCII, so every position is a char boundary.
struct Cursor<'a> {
    text: &'a str,
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn peek(&self) -> Option<u8> {
        self.text.as_bytes().get(self.pos).copied()
    }

    fn rest(&self) -> &'a str {
        self.text.get(self.pos..).unwrap_or_default()
    }

    fn take_digits(&mut self) -> &'a str {
        let rest = self.rest();
        let len = rest.bytes().take_while(u8::is_ascii_digit).count();
        self.pos += len;
        rest.get(..len).unwrap_or_default()
    }
}

/// Parses a text packet; returns it (with no attachments yet) and the declared attachment count.
fn parse(text: &str, max_attachments: usize) -> Result<(Packet, usize), SocketIoError> {
    let mut cursor = Cursor { text, pos: 0 };
    let first = cursor.peek().ok_or(SocketIoError::EmptyPacket)?;
    let kind = PacketType::from_ascii(first)
        .ok_or_else(|| SocketIoError::UnknownPacketType(text.chars().next().unwrap_or_default()))?;
    cursor.pos = 1;

    let expected = if kind.is_binary() {
        attachment_count(&mut cursor, max_attachments)?
    } else {
        0
    };

    // `terminated` is false when the namespace ran to the end without a comma.
    let (namespace, terminated) = if cursor.peek() == Some(b'/') {
        let rest = cursor.rest();
        let (name, terminated) = match rest.split_once(',') {
            Some((name, _)) => (name, true),
            None => (rest, false),
        };
        Namespace::validate(name)?;
        cursor.pos += name.len() + usize::from(terminated);
        (Namespace(name.to_owned()), terminated)
    } else {
        (Namespace::root(), true)
    };

    let digits = cursor.take_digits();
    let ack = if digits.is_empty() {
        None
    } else {
        Some(digits.parse::<u64>().map_err(|_| SocketIoError::BadAckId)?)
    };

    let json = Some(cursor.rest()).filter(|rest| !rest.is_empty());
    let require_json = || match json {
        Some(json) => Ok(json),
        None if !terminated => Err(SocketIoError::NamespaceWithoutComma),
        None => Err(SocketIoError::MissingPayload(kind)),
    };
    let refuse_ack = || match ack {
        Some(_) => Err(SocketIoError::UnexpectedAckId(kind)),
        None => Ok(()),
    };

    let data = match kind {
        PacketType::Connect => {
            refuse_ack()?;
            match json.map(serde_json::from_str::<Value>).transpose()? {
                None => PacketData::Connect(None),
                Some(Value::Object(auth)) => PacketData::Connect(Some(auth)),
                Some(_) => return Err(SocketIoError::PayloadNotObject),
            }
        }
        PacketType::Disconnect => {
            refuse_ack()?;
            if json.is_some() {
                return Err(SocketIoError::UnexpectedPayload(kind));
            }
            PacketData::Disconnect
        }
        PacketType::ConnectError => {
            refuse_ack()?;
            PacketData::ConnectError(connect_error(require_json()?)?)
        }
        PacketType::Event | PacketType::BinaryEvent => {
            let (name, args) = event_payload(require_json()?, kind)?;
            if kind.is_binary() {
                check_placeholders(&args, expected)?;
            }
            PacketData::Event(Event {
                name,
                args,
                ack,
                attachments: Vec::with_capacity(expected),
            })
        }
        PacketType::Ack | PacketType::BinaryAck => {
            let json = require_json()?;
            let id = ack.ok_or(SocketIoError::MissingAckId)?;
            let Value::Array(args) = serde_json::from_str(json)? else {
                return Err(SocketIoError::PayloadNotArray(kind));
            };
            if kind.is_binary() {
                check_placeholders(&args, expected)?;
            }
            PacketData::Ack(Ack {
                id,
                args,
                attachments: Vec::with_capacity(expected),
            })
        }
    };
    Ok((Packet { namespace, data }, expected))
}

/// Reads `<digits>-`; the count must be between 1 and `max`.
fn attachment_count(cursor: &mut Cursor<'_>, max: usize) -> Result<usize, SocketIoError> {
    let digits = cursor.take_digits();
    if digits.is_empty() || cursor.peek() != Some(b'-') {
        return Err(SocketIoError::InvalidAttachmentCount);
    }
    cursor.pos += 1;
    // Too many digits for a usize is certainly more than the cap.
    let count = digits
        .parse::<usize>()
        .map_err(|_| SocketIoError::TooManyAttachments { max })?;
    match count {
        0 => Err(SocketIoError::InvalidAttachmentCount),
        n if n > max => Err(SocketIoError::TooManyAttachments { max }),
        n => Ok(n),
    }
}

/// Splits an event payload into its name and arguments.
fn event_payload(json: &str, kind: PacketType) -> Result<(String, Vec<Value>), SocketIoError> {
    let Value::Array(items) = serde_json::from_str(json)? else {
        return Err(SocketIoError::PayloadNotArray(kind));
    };
    let mut items = items.into_iter();
    let Some(Value::String(name)) = items.next() else {
        return Err(SocketIoError::EventNameNotString);
    };
    if RESERVED_EVENTS.contains(&name.as_str()) {
        return Err(SocketIoError::ReservedEventName(name));
    }
    Ok((name, items.collect()))
}

/// `{"message": string, "data"?: any}`, or a bare string as protocol v4 servers sent.
fn connect_error(json: &str) -> Result<ConnectError, SocketIoError> {
    match serde_json::from_str::<Value>(json)? {
        Value::String(message) => Ok(ConnectError {
            message,
            data: None,
        }),
        object @ Value::Object(_) => {
            serde_json::from_value(object).map_err(|_| SocketIoError::InvalidConnectError)
        }
        _ => Err(SocketIoError::InvalidConnectError),
    }
}
