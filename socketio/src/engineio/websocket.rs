//! The WebSocket transport: a bounded writer the session actor sends frames through, and
//! a reader that decodes the client's frames and hands the packets to the actor.
//!
//! The handshake and the frame codec come from actix-web-actors (actix-http). The reader
//! runs on the worker thread that accepted the connection; the session actor may live on
//! another (after an upgrade from polling), so the two talk through the actor's address.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use actix::Addr;
use actix_codec::{Decoder, Encoder};
use actix_http::ws::{
    CloseCode, CloseReason, Codec, Frame as WsFrame, Item, Message as WsMessage, ProtocolError,
};
use actix_web::web;
use bytes::{Bytes, BytesMut};
use bytestring::ByteString;
use confab_protocol::engineio::{Frame, Packet};
use futures_util::{Stream, StreamExt};

use super::SessionHandler;
use super::connection::{ConnectionActor, WsEvent, WsEventKind};

/// Sends encoded frames to one WebSocket; bounded in frames and in bytes, so a client that
/// does not read fills it and is disconnected rather than buffered without end. (A flume
/// channel, whose queue is allocated as it fills: tokio's allocated a block of 32 slots for
/// every connection, 1.5 KB of each idle connection's memory.)
///
/// The byte bound counts what waits in the channel; one frame is always taken when nothing
/// waits, whatever its size, so no single frame can wedge a connection.
pub(super) struct WsWriter {
    tx: Sender,
    codec: Codec,
    /// Bytes in the channel: added here, taken off as the response body yields them.
    queued: Arc<AtomicUsize>,
    max_bytes: usize,
}

/// The session's writer holds the channel open; the reader's handle (for pongs) does not,
/// so the connection ends as soon as the session drops its writer.
enum Sender {
    Strong(flume::Sender<Bytes>),
    Weak(flume::WeakSender<Bytes>),
}

/// The writer is full or the connection is gone.
#[derive(Debug)]
pub(super) struct WriteFailed;

impl WsWriter {
    /// A writer holding up to `frames` frames and `max_bytes` bytes, and the response body
    /// stream it feeds.
    pub(super) fn new(
        frames: usize,
        max_bytes: usize,
    ) -> (Self, impl Stream<Item = Result<Bytes, actix_web::Error>>) {
        let (tx, rx) = flume::bounded::<Bytes>(frames.max(1));
        let queued = Arc::new(AtomicUsize::new(0));
        let taken = queued.clone();
        let body = rx.into_stream().map(move |bytes| {
            taken.fetch_sub(bytes.len(), Ordering::Relaxed);
            Ok(bytes)
        });
        (
            Self {
                tx: Sender::Strong(tx),
                codec: Codec::new(),
                queued,
                max_bytes,
            },
            body,
        )
    }

    fn write(&mut self, message: WsMessage) -> Result<(), WriteFailed> {
        let mut buf = BytesMut::new();
        self.codec
            .encode(message, &mut buf)
            .map_err(|_| WriteFailed)?;
        let len = buf.len();
        // Counted before it is sent, so that the body never takes off more than was added.
        let queued = self.queued.fetch_add(len, Ordering::Relaxed);
        let sent = if queued > 0 && queued + len > self.max_bytes {
            Err(WriteFailed)
        } else {
            match &self.tx {
                Sender::Strong(tx) => tx.try_send(buf.freeze()).map_err(|_| WriteFailed),
                Sender::Weak(tx) => tx
                    .upgrade()
                    .ok_or(WriteFailed)
                    .and_then(|tx| tx.try_send(buf.freeze()).map_err(|_| WriteFailed)),
            }
        };
        if sent.is_err() {
            self.queued.fetch_sub(len, Ordering::Relaxed);
        }
        sent
    }

    /// Writes one Engine.IO frame.
    pub(super) fn send(&mut self, frame: &Frame) -> Result<(), WriteFailed> {
        let message = match frame {
            Frame::Text(bytes) => {
                WsMessage::Text(ByteString::try_from(bytes.clone()).map_err(|_| WriteFailed)?)
            }
            Frame::Binary(bytes) => WsMessage::Binary(bytes.clone()),
        };
        self.write(message)
    }

    fn pong(&mut self, data: Bytes) {
        let _ = self.write(WsMessage::Pong(data));
    }

    /// Sends a close frame, with `code` or (like the reference server) without any status
    /// code; dropping the writer then ends the connection.
    pub(super) fn close(&mut self, code: Option<CloseCode>) {
        let _ = self.write(WsMessage::Close(code.map(CloseReason::from)));
    }

    /// A second handle on the same connection (for control frames from the reader).
    pub(super) fn control(&self) -> Self {
        let tx = match &self.tx {
            Sender::Strong(tx) => tx.downgrade(),
            Sender::Weak(tx) => tx.clone(),
        };
        Self {
            tx: Sender::Weak(tx),
            codec: Codec::new(),
            queued: self.queued.clone(),
            max_bytes: self.max_bytes,
        }
    }
}

/// Reads the client's frames until the connection ends, decoding Engine.IO packets and
/// sending them to `session` tagged with `id`, everything of one read in one message (and
/// one in flight at a time, which bounds what a client can make the session hold). A
/// message over `max_payload` bytes is reported as [`WsEventKind::TooLarge`], other broken
/// frames as [`WsEventKind::Invalid`].
pub(super) async fn read_frames<H: SessionHandler>(
    mut payload: web::Payload,
    session: Addr<ConnectionActor<H>>,
    mut control: WsWriter,
    id: u64,
    max_payload: usize,
) {
    let mut codec = Codec::new().max_size(max_payload);
    let mut buf = BytesMut::new();
    let mut fragments: Option<(bool, BytesMut)> = None;
    while let Some(chunk) = payload.next().await {
        let Ok(chunk) = chunk else { break };
        buf.extend_from_slice(&chunk);
        let mut kinds = Vec::new();
        let ended = decode_all(
            &mut codec,
            &mut buf,
            &mut fragments,
            &mut control,
            max_payload,
            &mut kinds,
        );
        if !kinds.is_empty() && session.send(WsEvent { id, kinds }).await.is_err() {
            return;
        }
        if ended {
            break;
        }
    }
    let kinds = vec![WsEventKind::Closed];
    let _ = session.send(WsEvent { id, kinds }).await;
}

/// Decodes every complete frame in `buf` into `kinds` (answering pings on `control`);
/// true when the connection is to end (a close frame, or a frame that breaks the rules,
/// reported last).
fn decode_all(
    codec: &mut Codec,
    buf: &mut BytesMut,
    fragments: &mut Option<(bool, BytesMut)>,
    control: &mut WsWriter,
    max_payload: usize,
    kinds: &mut Vec<WsEventKind>,
) -> bool {
    loop {
        let frame = match codec.decode(buf) {
            Ok(Some(frame)) => frame,
            Ok(None) => return false,
            Err(ProtocolError::Overflow) => {
                kinds.push(WsEventKind::TooLarge);
                return true;
            }
            Err(_) => {
                kinds.push(WsEventKind::Invalid);
                return true;
            }
        };
        let (text, data) = match frame {
            WsFrame::Text(data) => (true, data),
            WsFrame::Binary(data) => (false, data),
            WsFrame::Continuation(item) => match assemble(fragments, item, max_payload) {
                Ok(Some(done)) => done,
                Ok(None) => continue,
                Err(kind) => {
                    kinds.push(kind);
                    return true;
                }
            },
            WsFrame::Ping(data) => {
                control.pong(data);
                continue;
            }
            WsFrame::Pong(_) => continue,
            WsFrame::Close(_) => return true,
        };
        let packet = if text {
            std::str::from_utf8(&data)
                .ok()
                .and_then(|text| Packet::decode_text(text).ok())
        } else {
            Some(Packet::decode_binary(data))
        };
        kinds.push(match packet {
            Some(packet) => WsEventKind::Packet(packet),
            None => WsEventKind::Invalid,
        });
    }
}

/// Joins a fragmented message; `Ok(Some)` once complete, `Err` with what to report if it
/// breaks the rules or grows over `max_payload`.
fn assemble(
    fragments: &mut Option<(bool, BytesMut)>,
    item: Item,
    max_payload: usize,
) -> Result<Option<(bool, Bytes)>, WsEventKind> {
    match (item, fragments.as_mut()) {
        (Item::FirstText(data), None) => *fragments = Some((true, BytesMut::from(&data[..]))),
        (Item::FirstBinary(data), None) => *fragments = Some((false, BytesMut::from(&data[..]))),
        (Item::Continue(data), Some((_, buffer))) => buffer.extend_from_slice(&data),
        (Item::Last(data), Some((_, buffer))) => {
            buffer.extend_from_slice(&data);
            let (text, buffer) = fragments.take().ok_or(WsEventKind::Invalid)?;
            if buffer.len() > max_payload {
                return Err(WsEventKind::TooLarge);
            }
            return Ok(Some((text, buffer.freeze())));
        }
        _ => return Err(WsEventKind::Invalid),
    }
    match fragments {
        Some((_, buffer)) if buffer.len() > max_payload => Err(WsEventKind::TooLarge),
        _ => Ok(None),
    }
}
