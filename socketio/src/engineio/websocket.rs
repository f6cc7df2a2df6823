//! The WebSocket transport: a bounded writer the session actor sends frames through, and
//! one task per WebSocket that owns the connection, reads the client's frames (handing
//! the packets to the actor) and writes what the writer queued.
//!
//! The connection is taken over from actix-http once it is upgraded (see `handover`), so
//! that an idle WebSocket keeps no buffer: a read goes into a buffer of the worker thread
//! and only an incomplete frame is kept, and frames are encoded into another and only
//! what the socket did not take is kept. The frame codec comes from actix-http (the
//! control types through actix-web-actors). The task runs on the worker thread that
//! accepted the connection; the session actor may live on another (after an upgrade from
//! polling), so the two talk through the actor's address and the writer's channel.

use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use actix::Addr;
use actix::dev::Request;
use actix_codec::Decoder;
use actix_http::ws::{Codec, Item, OpCode, Parser};
use actix_web_actors::ws::{CloseCode, CloseReason, Frame as WsFrame, ProtocolError};
use bytes::{Bytes, BytesMut};
use confab_protocol::engineio::{Frame, Packet};
use futures_util::Stream;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use super::SessionHandler;
use super::connection::{ConnectionActor, WsEvent, WsEventKind};

/// What the writer queues for the connection's task to encode and write.
enum Outgoing {
    Frame(Frame),
    Pong(Bytes),
    Close(Option<CloseCode>),
}

impl Outgoing {
    /// The bytes it counts against the writer's bound.
    fn len(&self) -> usize {
        match self {
            Self::Frame(frame) => frame.as_bytes().len(),
            Self::Pong(data) => data.len(),
            Self::Close(_) => 2,
        }
    }

    fn encode(self, dst: &mut BytesMut) {
        match self {
            Self::Frame(Frame::Text(data)) => {
                Parser::write_message(dst, data, OpCode::Text, true, false);
            }
            Self::Frame(Frame::Binary(data)) => {
                Parser::write_message(dst, data, OpCode::Binary, true, false);
            }
            Self::Pong(data) => Parser::write_message(dst, data, OpCode::Pong, true, false),
            Self::Close(code) => Parser::write_close(dst, code.map(CloseReason::from), false),
        }
    }
}

/// Sends frames to one WebSocket; bounded in frames and in bytes, so a client that does
/// not read fills it and is disconnected rather than buffered without end. (A flume
/// channel, whose queue is allocated as it fills: an idle connection's costs nothing.)
///
/// The byte bound counts what waits in the channel; one frame is always taken when nothing
/// waits, whatever its size, so no single frame can wedge a connection. Dropping the
/// writer ends the connection once what it queued is written.
pub(super) struct WsWriter {
    tx: flume::Sender<Outgoing>,
    /// Bytes in the channel: added here, taken off as the connection's task takes them.
    queued: Arc<AtomicUsize>,
    max_bytes: usize,
}

/// The writer is full or the connection is gone.
#[derive(Debug)]
pub(super) struct WriteFailed;

/// The connection's end of a [`WsWriter`].
pub(super) struct WsOutput {
    rx: flume::r#async::RecvStream<'static, Outgoing>,
    queued: Arc<AtomicUsize>,
}

impl WsWriter {
    /// A writer holding up to `frames` frames and `max_bytes` bytes, and the end the
    /// connection's task reads.
    pub(super) fn new(frames: usize, max_bytes: usize) -> (Self, WsOutput) {
        let (tx, rx) = flume::bounded(frames.max(1));
        let queued = Arc::new(AtomicUsize::new(0));
        let output = WsOutput {
            rx: rx.into_stream(),
            queued: queued.clone(),
        };
        let writer = Self {
            tx,
            queued,
            max_bytes,
        };
        (writer, output)
    }

    fn write(&mut self, item: Outgoing) -> Result<(), WriteFailed> {
        let len = item.len();
        // Counted before it is sent, so that the task never takes off more than was added.
        let queued = self.queued.fetch_add(len, Ordering::Relaxed);
        let sent = if queued > 0 && queued + len > self.max_bytes {
            Err(WriteFailed)
        } else {
            self.tx.try_send(item).map_err(|_| WriteFailed)
        };
        if sent.is_err() {
            self.queued.fetch_sub(len, Ordering::Relaxed);
        }
        sent
    }

    /// Writes one Engine.IO frame.
    pub(super) fn send(&mut self, frame: &Frame) -> Result<(), WriteFailed> {
        self.write(Outgoing::Frame(frame.clone()))
    }

    /// Sends a close frame, with `code` or (like the reference server) without any status
    /// code; dropping the writer then ends the connection.
    pub(super) fn close(&mut self, code: Option<CloseCode>) {
        let _ = self.write(Outgoing::Close(code));
    }
}

impl WsOutput {
    fn poll_next(&mut self, cx: &mut Context<'_>) -> Poll<Option<Outgoing>> {
        let item = ready!(Pin::new(&mut self.rx).poll_next(cx));
        if let Some(item) = &item {
            self.queued.fetch_sub(item.len(), Ordering::Relaxed);
        }
        Poll::Ready(item)
    }
}

/// The most a connection's task encodes in one go before writing it.
const WRITE_CHUNK: usize = 64 * 1024;
/// The most it reads in one go.
const READ_CHUNK: usize = 16 * 1024;
/// How long a connection whose session has ended may take to write what is left (its
/// close frame, mostly) before it is dropped.
const LINGER: Duration = Duration::from_secs(5);

thread_local! {
    /// The worker thread's buffers: what was just read, what is about to be written.
    static SCRATCH: RefCell<(Vec<u8>, BytesMut)> =
        RefCell::new((vec![0; READ_CHUNK], BytesMut::with_capacity(WRITE_CHUNK)));
}

/// A read being handed to the session.
type Delivery<H> = Pin<Box<Request<ConnectionActor<H>, WsEvent>>>;

/// One WebSocket's connection, owned by the task that serves it (see `handover`).
pub(super) struct WsConnection<T, H: SessionHandler> {
    io: T,
    output: WsOutput,
    session: Addr<ConnectionActor<H>>,
    /// Which transport of the session this is.
    id: u64,
    codec: Codec,
    max_payload: usize,
    /// An incomplete frame: empty (no allocation) between frames.
    input: BytesMut,
    fragments: Option<(bool, BytesMut)>,
    /// What was read and is being handed to the session: one read at a time, which bounds
    /// what a client can make the session hold.
    delivering: Option<Delivery<H>>,
    /// Encoded bytes the socket did not take yet: empty once it has.
    unwritten: BytesMut,
    /// `input` holds what the client sent with its upgrade request, not decoded yet.
    unread: bool,
    /// Reading is over (the client closed, broke the protocol, or the socket failed).
    read_done: bool,
    /// Writing is over: the socket failed; what is queued is dropped.
    write_failed: bool,
    /// Set once the writer is gone: the time left to write what remains.
    linger: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl<T, H> WsConnection<T, H>
where
    T: AsyncRead + AsyncWrite + Unpin,
    H: SessionHandler,
{
    /// Serves WebSocket `id` of `session` on `io`: writes `head` (the 101), then what
    /// `output` queues; reads from `input` (what the client sent after its upgrade
    /// request, if anything) on.
    pub(super) fn new(
        io: T,
        head: &[u8],
        input: &[u8],
        output: WsOutput,
        session: Addr<ConnectionActor<H>>,
        id: u64,
        max_payload: usize,
    ) -> Self {
        Self {
            io,
            output,
            session,
            id,
            codec: Codec::new().max_size(max_payload),
            max_payload,
            input: BytesMut::from(input),
            fragments: None,
            delivering: None,
            unwritten: BytesMut::from(head),
            unread: !input.is_empty(),
            read_done: false,
            write_failed: false,
            linger: None,
        }
    }

    /// Waits for the session to take the last read; `Err` when the session is gone.
    fn poll_delivered(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), ()>> {
        let Some(delivering) = self.delivering.as_mut() else {
            return Poll::Ready(Ok(()));
        };
        let result = ready!(delivering.as_mut().poll(cx));
        self.delivering = None;
        Poll::Ready(result.map_err(drop))
    }

    /// Reads once and hands what it decoded to the session; `Ready` when it read.
    fn poll_read(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let read = if std::mem::take(&mut self.unread) {
            Poll::Ready(true)
        } else {
            self.read_socket(cx)
        };
        let mut kinds = Vec::new();
        let ended = !ready!(read) || self.decode(&mut kinds);
        if self.input.is_empty() {
            // Between frames nothing is kept: the packets decoded hold what they need.
            self.input = BytesMut::new();
        }
        if ended {
            self.read_done = true;
            kinds.push(WsEventKind::Closed);
        }
        if !kinds.is_empty() {
            let event = WsEvent { id: self.id, kinds };
            self.delivering = Some(Box::pin(self.session.send(event)));
        }
        Poll::Ready(())
    }

    /// Reads what the socket has into `input`; `Ready(false)` once it has ended.
    fn read_socket(&mut self, cx: &mut Context<'_>) -> Poll<bool> {
        SCRATCH.with_borrow_mut(|(scratch, _)| {
            let mut buf = ReadBuf::new(scratch);
            match Pin::new(&mut self.io).poll_read(cx, &mut buf) {
                Poll::Ready(Ok(())) => {
                    self.input.extend_from_slice(buf.filled());
                    Poll::Ready(!buf.filled().is_empty())
                }
                Poll::Ready(Err(_)) => Poll::Ready(false),
                Poll::Pending => Poll::Pending,
            }
        })
    }

    /// Decodes every complete frame read into `kinds` (answering pings); true when the
    /// connection is to end (a close frame, or a frame that breaks the rules, reported
    /// last).
    fn decode(&mut self, kinds: &mut Vec<WsEventKind>) -> bool {
        loop {
            let frame = match self.codec.decode(&mut self.input) {
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
                WsFrame::Continuation(item) => {
                    match assemble(&mut self.fragments, item, self.max_payload) {
                        Ok(Some(done)) => done,
                        Ok(None) => continue,
                        Err(kind) => {
                            kinds.push(kind);
                            return true;
                        }
                    }
                }
                WsFrame::Ping(data) => {
                    if !self.write_failed {
                        Outgoing::Pong(data).encode(&mut self.unwritten);
                    }
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

    /// Writes what is queued; `Ready(true)` once the writer is gone and everything is
    /// written (or cannot be), `Ready(false)` when it made progress, `Pending` otherwise.
    fn poll_write(&mut self, cx: &mut Context<'_>) -> Poll<bool> {
        let mut progress = false;
        let mut writer_gone = false;
        // A backlog is written before anything new is taken: while the client does not
        // read, the writer's channel fills and the session finds it full.
        if !self.unwritten.is_empty() {
            match write_some(&mut self.io, cx, &self.unwritten) {
                Poll::Ready(Ok(n)) => {
                    let _ = self.unwritten.split_to(n);
                    progress = true;
                }
                Poll::Ready(Err(())) => self.fail_writing(),
                Poll::Pending => return Poll::Pending,
            }
            if !self.unwritten.is_empty() {
                return if progress {
                    Poll::Ready(false)
                } else {
                    Poll::Pending
                };
            }
            self.unwritten = BytesMut::new();
        }
        SCRATCH.with_borrow_mut(|(_, encoded)| {
            encoded.clear();
            while encoded.len() < WRITE_CHUNK {
                match self.output.poll_next(cx) {
                    Poll::Ready(Some(item)) if !self.write_failed => item.encode(encoded),
                    Poll::Ready(Some(_)) => {}
                    Poll::Ready(None) => {
                        writer_gone = true;
                        break;
                    }
                    Poll::Pending => break,
                }
                progress = true;
            }
            if encoded.is_empty() {
                return;
            }
            let mut at = 0;
            while at < encoded.len() {
                match write_some(&mut self.io, cx, &encoded[at..]) {
                    Poll::Ready(Ok(n)) => at += n,
                    Poll::Ready(Err(())) => {
                        self.fail_writing();
                        return;
                    }
                    Poll::Pending => break,
                }
            }
            self.unwritten.extend_from_slice(&encoded[at..]);
            if encoded.capacity() > 4 * WRITE_CHUNK {
                *encoded = BytesMut::with_capacity(WRITE_CHUNK);
            }
        });
        if writer_gone && self.unwritten.is_empty() {
            return Poll::Ready(true);
        }
        if writer_gone && self.linger.is_none() {
            self.linger = Some(Box::pin(tokio::time::sleep(LINGER)));
        }
        if progress {
            Poll::Ready(false)
        } else {
            Poll::Pending
        }
    }

    fn fail_writing(&mut self) {
        self.write_failed = true;
        self.unwritten = BytesMut::new();
    }
}

/// Writes some of `bytes`; a socket that takes nothing or fails is `Err`.
fn write_some<T: AsyncWrite + Unpin>(
    io: &mut T,
    cx: &mut Context<'_>,
    bytes: &[u8],
) -> Poll<Result<usize, ()>> {
    match ready!(Pin::new(io).poll_write(cx, bytes)) {
        Ok(0) | Err(_) => Poll::Ready(Err(())),
        Ok(n) => Poll::Ready(Ok(n)),
    }
}

impl<T, H> Future for WsConnection<T, H>
where
    T: AsyncRead + AsyncWrite + Unpin,
    H: SessionHandler,
{
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        loop {
            if let Poll::Ready(Err(())) = this.poll_delivered(cx) {
                // The session is gone, and with it any reason to keep the connection.
                return Poll::Ready(());
            }
            let mut progress = false;
            if this.delivering.is_none() && !this.read_done {
                progress |= this.poll_read(cx).is_ready();
            }
            match this.poll_write(cx) {
                Poll::Ready(true) => {
                    let _ = Pin::new(&mut this.io).poll_shutdown(cx);
                    return Poll::Ready(());
                }
                Poll::Ready(false) => progress = true,
                Poll::Pending => {}
            }
            if let Some(linger) = this.linger.as_mut()
                && linger.as_mut().poll(cx).is_ready()
            {
                return Poll::Ready(());
            }
            if !progress {
                return Poll::Pending;
            }
        }
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

#[cfg(test)]
mod tests {
    use std::future::poll_fn;

    use tokio::io::AsyncWriteExt;

    use super::*;
    use crate::engineio::http::start_session;
    use crate::engineio::testing::{client_text, echo_engine, read_until, server_texts};
    use crate::engineio::{EngineConfig, Sid};

    /// Polls `connection` once.
    async fn poll_once<T: AsyncRead + AsyncWrite + Unpin, H: SessionHandler>(
        connection: &mut WsConnection<T, H>,
    ) {
        poll_fn(|cx| {
            assert!(Pin::new(&mut *connection).poll(cx).is_pending());
            Poll::Ready(())
        })
        .await;
    }

    #[actix_web::test]
    async fn between_frames_a_websocket_keeps_no_buffer() {
        let engine = echo_engine(EngineConfig::default());
        let (server, mut client) = tokio::io::duplex(64 * 1024);
        let (writer, output) = WsWriter::new(16, 1 << 20);
        let session = start_session(&engine, Sid::generate(), Some((writer, 1)));
        let mut connection = WsConnection::new(server, b"", b"", output, session, 1, 1 << 20);

        let frame = client_text("4hello");
        let (first, second) = frame.split_at(frame.len() / 2);
        client.write_all(first).await.unwrap();
        poll_once(&mut connection).await;
        assert_eq!(connection.input.len(), first.len(), "half a frame is kept");

        client.write_all(second).await.unwrap();
        let mut received = BytesMut::new();
        {
            let echoed = async {
                read_until(&mut client, &mut received, |bytes| {
                    server_texts(&mut BytesMut::from(bytes)).len() == 1
                })
                .await;
            };
            let mut echoed = std::pin::pin!(echoed);
            while poll_fn(|cx| Poll::Ready(echoed.as_mut().poll(cx).is_pending())).await {
                poll_once(&mut connection).await;
                tokio::task::yield_now().await;
            }
        }
        assert_eq!(server_texts(&mut received), ["4hello"]);
        assert_eq!(connection.input.capacity(), 0, "nothing read is kept");
        assert_eq!(
            connection.unwritten.capacity(),
            0,
            "nothing written is kept"
        );
        assert!(connection.fragments.is_none() && connection.delivering.is_none());
    }
}
