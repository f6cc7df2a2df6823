//! The envelopes nodes send each other over the bus: pure data and a compact binary codec.
//!
//! A node that delivers to users online elsewhere, or to a group, sends the other nodes
//! the Engine.IO frames it already encoded, so a message is encoded once for the whole
//! cluster and the receiving node only hands the bytes to its local connections.
//!
//! # Format (version 1)
//!
//! ```text
//! envelope   = version:u8  kind:u8  origin:str  body
//! users      = flags:u8  count:varint  user:str*  frames  [except:str]     (kind 1)
//! group      = flags:u8  group:str  frames  [except:str]                   (kind 2)
//! membership = group:str  user:str  member:u8 (0 or 1)                     (kind 3)
//! route      = user:str                                                    (kind 6)
//! blocks     = a:str  b:str                                                (kind 7)
//! poll req.  = sid:str  method:u8 (0 GET, 1 POST, 2 POST binary)  body:bytes   (kind 4)
//! poll reply = status:varint  content_type:str (empty: none)  body:bytes       (kind 5)
//! frames     = count:varint  (frame_kind:u8 (0 text, 1 binary)  bytes)*
//! str, bytes = len:varint  data            (str: UTF-8)
//! varint     = unsigned LEB128, at most 10 bytes
//! (poll request and reply have no origin: they travel by request/reply, not broadcast)
//! flags      = bit 0: an `except` socket id follows the frames
//!              bit 1: the frames carry a stored message (for delivery metrics)
//! ```
//!
//! Rolling updates: the first byte is the format version, and a decoder refuses a version
//! it does not know with [`EnvelopeError::UnknownVersion`] (the receiver counts and drops
//! it; the database and `sync` repair what was missed). Bytes after the known fields are
//! ignored, and unknown flag bits too, so a release may append optional data to version 1
//! that older nodes skip; a change they cannot skip needs a new version, which a release
//! learns to read one release before it starts writing it. Decoding never panics and never
//! allocates more than the input's length justifies.

use bytes::{BufMut, Bytes, BytesMut};

use crate::engineio::Frame;

/// The format version this crate writes (and the only one it reads).
pub const VERSION: u8 = 1;

const KIND_USERS: u8 = 1;
const KIND_GROUP: u8 = 2;
const KIND_MEMBERSHIP: u8 = 3;
const KIND_POLL_REQUEST: u8 = 4;
const KIND_POLL_REPLY: u8 = 5;
const KIND_ROUTE: u8 = 6;
const KIND_BLOCKS: u8 = 7;

const METHOD_GET: u8 = 0;
const METHOD_POST: u8 = 1;
const METHOD_POST_BINARY: u8 = 2;

const FLAG_EXCEPT: u8 = 1;
const FLAG_MESSAGE: u8 = 2;

const FRAME_TEXT: u8 = 0;
const FRAME_BINARY: u8 = 1;

/// One envelope: who sent it and what to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    /// The node that published it (a node ignores its own envelopes).
    pub origin: String,
    /// What the receiving node does.
    pub delivery: Delivery,
}

/// Pre-encoded frames for local connections.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frames {
    /// The Engine.IO frames, as written to each connection.
    pub frames: Vec<Frame>,
    /// A socket to leave out (the sender's, which has its ack instead).
    pub except: Option<String>,
    /// Whether the frames carry a stored chat message (counted as a delivery).
    pub message: bool,
}

/// What a receiving node does with an envelope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    /// Hand the frames to every local connection of these users.
    Users {
        /// The recipients online on the receiving node.
        users: Vec<String>,
        /// What to hand them.
        frames: Frames,
    },
    /// Hand the frames to every local member of a group.
    Group {
        /// The group.
        group: String,
        /// What to hand them.
        frames: Frames,
    },
    /// A user joined or left a group: route the group's messages to them, or stop.
    Membership {
        /// The group.
        group: String,
        /// The user.
        user: String,
        /// Whether the user is now a member.
        member: bool,
    },
    /// The nodes a user is online on changed (the sender registered or unregistered them
    /// in the directory): forget what the route cache knows of them. Published on the
    /// routes subject, which every node listens on. A node of an older release counts it
    /// as an unknown kind and drops it; its cache entries then live out their TTL.
    RouteChanged {
        /// The user.
        user: String,
    },
    /// One of two users blocked or unblocked the other: forget what is cached of the pair.
    /// Published on the changes subject, like [`Delivery::RouteChanged`].
    BlocksChanged {
        /// One user.
        a: String,
        /// The other.
        b: String,
    },
}

/// A long-polling request that reached a node other than the one owning its Engine.IO
/// session, forwarded to the owner (bus request/reply) so that no load balancer needs
/// sticky sessions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PollRequest {
    /// The Engine.IO session id.
    pub sid: String,
    /// What the client asked.
    pub method: PollMethod,
    /// The POST body (empty for GET).
    pub body: Bytes,
}

/// The HTTP method of a forwarded polling request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PollMethod {
    /// Wait for packets.
    Get,
    /// Send packets; `binary` when the body was declared `application/octet-stream`.
    Post {
        /// Whether the content type was binary.
        binary: bool,
    },
}

/// The owner's answer to a [`PollRequest`], replayed by the node that received it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PollReply {
    /// The HTTP status.
    pub status: u16,
    /// The `Content-Type`, if the answer has one.
    pub content_type: Option<String>,
    /// The body.
    pub body: Bytes,
}

/// Why bytes are not a valid envelope.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnvelopeError {
    /// No bytes at all.
    #[error("empty envelope")]
    Empty,
    /// Written by a release that uses a format this one does not know.
    #[error("unknown envelope version {0}")]
    UnknownVersion(u8),
    /// A kind of delivery this release does not know.
    #[error("unknown delivery kind {0}")]
    UnknownKind(u8),
    /// A frame that is neither text nor binary.
    #[error("unknown frame kind {0}")]
    UnknownFrameKind(u8),
    /// The input ends inside a field.
    #[error("envelope truncated")]
    Truncated,
    /// A length that does not fit in memory, or a varint over 10 bytes.
    #[error("invalid length")]
    InvalidLength,
    /// A string or text frame that is not UTF-8.
    #[error("invalid UTF-8")]
    InvalidUtf8,
    /// A boolean that is neither 0 nor 1.
    #[error("invalid boolean {0}")]
    InvalidBool(u8),
    /// A polling method this release does not know.
    #[error("unknown polling method {0}")]
    UnknownMethod(u8),
    /// An HTTP status outside 100..=999.
    #[error("invalid HTTP status {0}")]
    InvalidStatus(u64),
}

impl PollRequest {
    /// Encodes the request in the current [`VERSION`].
    pub fn encode(&self) -> Bytes {
        let mut out = BytesMut::with_capacity(self.sid.len() + self.body.len() + 16);
        out.put_u8(VERSION);
        out.put_u8(KIND_POLL_REQUEST);
        put_str(&mut out, &self.sid);
        out.put_u8(match self.method {
            PollMethod::Get => METHOD_GET,
            PollMethod::Post { binary: false } => METHOD_POST,
            PollMethod::Post { binary: true } => METHOD_POST_BINARY,
        });
        put_bytes(&mut out, &self.body);
        out.freeze()
    }

    /// Decodes a request; the body shares `input`'s memory.
    pub fn decode(input: &Bytes) -> Result<Self, EnvelopeError> {
        let mut reader = Reader::start(input, KIND_POLL_REQUEST)?;
        let sid = reader.string()?;
        let method = match reader.u8()? {
            METHOD_GET => PollMethod::Get,
            METHOD_POST => PollMethod::Post { binary: false },
            METHOD_POST_BINARY => PollMethod::Post { binary: true },
            other => return Err(EnvelopeError::UnknownMethod(other)),
        };
        let body = reader.bytes()?;
        Ok(Self { sid, method, body })
    }
}

impl PollReply {
    /// Encodes the reply in the current [`VERSION`].
    pub fn encode(&self) -> Bytes {
        let content_type = self.content_type.as_deref().unwrap_or_default();
        let mut out = BytesMut::with_capacity(content_type.len() + self.body.len() + 16);
        out.put_u8(VERSION);
        out.put_u8(KIND_POLL_REPLY);
        put_varint(&mut out, u64::from(self.status));
        put_str(&mut out, content_type);
        put_bytes(&mut out, &self.body);
        out.freeze()
    }

    /// Decodes a reply; the body shares `input`'s memory.
    pub fn decode(input: &Bytes) -> Result<Self, EnvelopeError> {
        let mut reader = Reader::start(input, KIND_POLL_REPLY)?;
        let status = reader.varint()?;
        let status = u16::try_from(status)
            .ok()
            .filter(|status| (100..=999).contains(status))
            .ok_or(EnvelopeError::InvalidStatus(status))?;
        let content_type = Some(reader.string()?).filter(|text| !text.is_empty());
        let body = reader.bytes()?;
        Ok(Self {
            status,
            content_type,
            body,
        })
    }
}

impl Envelope {
    /// Encodes the envelope in the current [`VERSION`].
    pub fn encode(&self) -> Bytes {
        let mut out = BytesMut::with_capacity(self.encoded_len_hint());
        out.put_u8(VERSION);
        match &self.delivery {
            Delivery::Users { users, frames } => {
                out.put_u8(KIND_USERS);
                put_str(&mut out, &self.origin);
                out.put_u8(flags(frames));
                put_varint(&mut out, users.len() as u64);
                for user in users {
                    put_str(&mut out, user);
                }
                put_frames(&mut out, frames);
            }
            Delivery::Group { group, frames } => {
                out.put_u8(KIND_GROUP);
                put_str(&mut out, &self.origin);
                out.put_u8(flags(frames));
                put_str(&mut out, group);
                put_frames(&mut out, frames);
            }
            Delivery::Membership {
                group,
                user,
                member,
            } => {
                out.put_u8(KIND_MEMBERSHIP);
                put_str(&mut out, &self.origin);
                put_str(&mut out, group);
                put_str(&mut out, user);
                out.put_u8(u8::from(*member));
            }
            Delivery::RouteChanged { user } => {
                out.put_u8(KIND_ROUTE);
                put_str(&mut out, &self.origin);
                put_str(&mut out, user);
            }
            Delivery::BlocksChanged { a, b } => {
                out.put_u8(KIND_BLOCKS);
                put_str(&mut out, &self.origin);
                put_str(&mut out, a);
                put_str(&mut out, b);
            }
        }
        out.freeze()
    }

    /// Decodes an envelope; frames share `input`'s memory instead of copying it.
    pub fn decode(input: &Bytes) -> Result<Self, EnvelopeError> {
        let mut reader = Reader { input, position: 0 };
        reader.version()?;
        let kind = reader.u8()?;
        if !matches!(
            kind,
            KIND_USERS | KIND_GROUP | KIND_MEMBERSHIP | KIND_ROUTE | KIND_BLOCKS
        ) {
            return Err(EnvelopeError::UnknownKind(kind));
        }
        let origin = reader.string()?;
        let delivery = match kind {
            KIND_USERS => {
                let flags = reader.u8()?;
                let count = reader.count()?;
                let mut users = Vec::with_capacity(count);
                for _ in 0..count {
                    users.push(reader.string()?);
                }
                let frames = reader.frames(flags)?;
                Delivery::Users { users, frames }
            }
            KIND_GROUP => {
                let flags = reader.u8()?;
                let group = reader.string()?;
                let frames = reader.frames(flags)?;
                Delivery::Group { group, frames }
            }
            KIND_ROUTE => Delivery::RouteChanged {
                user: reader.string()?,
            },
            KIND_BLOCKS => Delivery::BlocksChanged {
                a: reader.string()?,
                b: reader.string()?,
            },
            _ => Delivery::Membership {
                group: reader.string()?,
                user: reader.string()?,
                member: reader.bool()?,
            },
        };
        Ok(Self { origin, delivery })
    }

    fn encoded_len_hint(&self) -> usize {
        let frames_len = |frames: &Frames| -> usize {
            frames
                .frames
                .iter()
                .map(|frame| frame.as_bytes().len() + 6)
                .sum::<usize>()
                + frames.except.as_ref().map_or(0, |except| except.len() + 5)
        };
        let body = match &self.delivery {
            Delivery::Users { users, frames } => {
                users.iter().map(|user| user.len() + 2).sum::<usize>() + frames_len(frames)
            }
            Delivery::Group { group, frames } => group.len() + frames_len(frames),
            Delivery::Membership { group, user, .. } => group.len() + user.len() + 3,
            Delivery::RouteChanged { user } => user.len() + 1,
            Delivery::BlocksChanged { a, b } => a.len() + b.len() + 2,
        };
        self.origin.len() + body + 16
    }
}

fn flags(frames: &Frames) -> u8 {
    let mut flags = 0;
    if frames.except.is_some() {
        flags |= FLAG_EXCEPT;
    }
    if frames.message {
        flags |= FLAG_MESSAGE;
    }
    flags
}

fn put_varint(out: &mut BytesMut, mut value: u64) {
    while value >= 0x80 {
        out.put_u8((value as u8 & 0x7f) | 0x80);
        value >>= 7;
    }
    out.put_u8(value as u8);
}

fn put_bytes(out: &mut BytesMut, bytes: &[u8]) {
    put_varint(out, bytes.len() as u64);
    out.put_slice(bytes);
}

fn put_str(out: &mut BytesMut, text: &str) {
    put_bytes(out, text.as_bytes());
}

fn put_frames(out: &mut BytesMut, frames: &Frames) {
    put_varint(out, frames.frames.len() as u64);
    for frame in &frames.frames {
        let kind = match frame {
            Frame::Text(_) => FRAME_TEXT,
            Frame::Binary(_) => FRAME_BINARY,
        };
        out.put_u8(kind);
        put_bytes(out, frame.as_bytes());
    }
    if let Some(except) = &frames.except {
        put_str(out, except);
    }
}

/// A cursor over the input; every read checks the remaining length first.
struct Reader<'a> {
    input: &'a Bytes,
    position: usize,
}

impl<'a> Reader<'a> {
    /// A reader past the version and kind bytes, which must be [`VERSION`] and `kind`.
    fn start(input: &'a Bytes, kind: u8) -> Result<Self, EnvelopeError> {
        let mut reader = Reader { input, position: 0 };
        reader.version()?;
        match reader.u8()? {
            found if found == kind => Ok(reader),
            other => Err(EnvelopeError::UnknownKind(other)),
        }
    }

    /// Reads and checks the version byte.
    fn version(&mut self) -> Result<(), EnvelopeError> {
        match self.u8().map_err(|_| EnvelopeError::Empty)? {
            VERSION => Ok(()),
            other => Err(EnvelopeError::UnknownVersion(other)),
        }
    }

    fn remaining(&self) -> usize {
        self.input.len().saturating_sub(self.position)
    }

    fn u8(&mut self) -> Result<u8, EnvelopeError> {
        let byte = *self
            .input
            .get(self.position)
            .ok_or(EnvelopeError::Truncated)?;
        self.position += 1;
        Ok(byte)
    }

    fn bool(&mut self) -> Result<bool, EnvelopeError> {
        match self.u8()? {
            0 => Ok(false),
            1 => Ok(true),
            other => Err(EnvelopeError::InvalidBool(other)),
        }
    }

    fn varint(&mut self) -> Result<u64, EnvelopeError> {
        let mut value = 0u64;
        for shift in (0..70).step_by(7) {
            let byte = self.u8()?;
            let bits = u64::from(byte & 0x7f);
            if shift == 63 && bits > 1 {
                return Err(EnvelopeError::InvalidLength);
            }
            value |= bits << shift;
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(EnvelopeError::InvalidLength)
    }

    /// A length that the rest of the input can hold.
    fn length(&mut self) -> Result<usize, EnvelopeError> {
        let length = usize::try_from(self.varint()?).map_err(|_| EnvelopeError::InvalidLength)?;
        if length > self.remaining() {
            return Err(EnvelopeError::Truncated);
        }
        Ok(length)
    }

    /// A count of items, each at least one byte long (so it bounds any allocation).
    fn count(&mut self) -> Result<usize, EnvelopeError> {
        self.length()
    }

    fn bytes(&mut self) -> Result<Bytes, EnvelopeError> {
        let length = self.length()?;
        let bytes = self.input.slice(self.position..self.position + length);
        self.position += length;
        Ok(bytes)
    }

    fn string(&mut self) -> Result<String, EnvelopeError> {
        let bytes = self.bytes()?;
        String::from_utf8(bytes.to_vec()).map_err(|_| EnvelopeError::InvalidUtf8)
    }

    fn frames(&mut self, flags: u8) -> Result<Frames, EnvelopeError> {
        let count = self.count()?;
        let mut frames = Vec::with_capacity(count);
        for _ in 0..count {
            let kind = self.u8()?;
            let bytes = self.bytes()?;
            frames.push(match kind {
                FRAME_TEXT if std::str::from_utf8(&bytes).is_ok() => Frame::Text(bytes),
                FRAME_TEXT => return Err(EnvelopeError::InvalidUtf8),
                FRAME_BINARY => Frame::Binary(bytes),
                other => return Err(EnvelopeError::UnknownFrameKind(other)),
            });
        }
        let except = if flags & FLAG_EXCEPT != 0 {
            Some(self.string()?)
        } else {
            None
        };
        Ok(Frames {
            frames,
            except,
            message: flags & FLAG_MESSAGE != 0,
        })
    }
}

#[cfg(test)]
mod tests;
