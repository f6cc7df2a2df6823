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
use tokio::sync::Notify;
use tokio::time::Sleep;

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
    pub(super) fn send(&mut self, frame: Frame) -> Result<(), WriteFailed> {
        self.write(Outgoing::Frame(frame))
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

/// The most a connection's task encodes in one go before writing it; also the most it
/// holds unwritten before it stops reading (so that answers to pings cannot pile up).
const WRITE_CHUNK: usize = 64 * 1024;
/// The most it reads in one go.
const READ_CHUNK: usize = 16 * 1024;
/// While the socket takes nothing, how often the task checks whether the session has let
/// the connection go; once it has, how long what is left may take to be written and the
/// client to close its end.
const LINGER: Duration = Duration::from_secs(5);
/// How long a connection shut down waits for the client to close its end (as actix-web's
/// HTTP connections do).
const CLIENT_DISCONNECT: Duration = Duration::from_secs(1);

thread_local! {
    /// The worker thread's buffers: what was just read, what is about to be written.
    static SCRATCH: RefCell<(Vec<u8>, BytesMut)> =
        RefCell::new((vec![0; READ_CHUNK], BytesMut::with_capacity(WRITE_CHUNK)));
}

/// Counts the WebSocket tasks alive, so that a stopping server can wait for their last
/// frames (see [`super::Engine::all_closed`]).
#[derive(Debug, Default)]
pub(super) struct Transports {
    open: AtomicUsize,
    /// Told each time a session or a WebSocket task ends.
    pub(super) changed: Notify,
}

impl Transports {
    /// How many WebSocket tasks are alive.
    pub(super) fn open(&self) -> usize {
        self.open.load(Ordering::Acquire)
    }

    /// Counts one more until the returned guard drops.
    pub(super) fn opened(self: &Arc<Self>) -> OpenTransport {
        self.open.fetch_add(1, Ordering::AcqRel);
        OpenTransport(self.clone())
    }
}

/// One live WebSocket task, counted in its [`Transports`].
pub(super) struct OpenTransport(Arc<Transports>);

impl Drop for OpenTransport {
    fn drop(&mut self) {
        self.0.open.fetch_sub(1, Ordering::AcqRel);
        self.0.changed.notify_waiters();
    }
}

/// A read being handed to the session.
type Delivery<H> = Pin<Box<Request<ConnectionActor<H>, WsEvent>>>;

/// One WebSocket's connection, owned by the task that serves it (see `handover`).
///
/// It reads only when the session has taken the last read and less than [`WRITE_CHUNK`]
/// waits to be written. Once the session lets the connection go (drops its writer), it
/// writes what is left, shuts the socket down and waits for the client to close its
/// end (within [`LINGER`], then [`CLIENT_DISCONNECT`]); a socket that takes nothing is given
/// up the same way.
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
    /// Reading for the session is over (the client closed or broke the protocol, the
    /// socket failed, or the session is gone or let the connection go).
    read_done: bool,
    /// The socket failed to take a write: what is queued is dropped.
    write_failed: bool,
    /// The session dropped its writer.
    writer_gone: bool,
    /// Bytes were written that the socket may still hold (TLS buffers records).
    unflushed: bool,
    /// The socket has been shut down for writing.
    shut_down: bool,
    /// Armed while something waits to be written or once the writer is gone.
    timer: Option<Pin<Box<Sleep>>>,
    /// The timer counts the last [`LINGER`] (or [`CLIENT_DISCONNECT`]) of the connection.
    lingering: bool,
    _open: OpenTransport,
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
        session: (Addr<ConnectionActor<H>>, u64),
        max_payload: usize,
        open: OpenTransport,
    ) -> Self {
        let (session, id) = session;
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
            writer_gone: false,
            unflushed: false,
            shut_down: false,
            timer: None,
            lingering: false,
            _open: open,
        }
    }

    /// Waits for the session to take the last read; `Ready` once it has, or is gone.
    fn poll_delivered(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let Some(delivering) = self.delivering.as_mut() else {
            return Poll::Pending;
        };
        if ready!(delivering.as_mut().poll(cx)).is_err() {
            // The session is gone: its writer, dropped with it, ends the connection.
            self.read_done = true;
        }
        self.delivering = None;
        Poll::Ready(())
    }

    /// Reads once and hands what it decoded to the session; `Ready` when it read.
    fn poll_read(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let read = if self.write_failed {
            Poll::Ready(false)
        } else if std::mem::take(&mut self.unread) {
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

    /// Reads and drops whatever comes until the client closes its end; `Ready` then.
    fn poll_discard(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        loop {
            self.input = BytesMut::new();
            if !ready!(self.read_socket(cx)) {
                return Poll::Ready(());
            }
        }
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

    /// Writes what waits, then what the writer queued, then flushes; `Ready` when it made
    /// progress.
    fn poll_write(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let mut progress = false;
        // A backlog is written before anything new is taken: while the client does not
        // read, the writer's channel fills and the session finds it full.
        if !self.unwritten.is_empty() {
            match write_some(&mut self.io, cx, &self.unwritten) {
                Poll::Ready(Ok(n)) => {
                    let _ = self.unwritten.split_to(n);
                    self.unflushed = true;
                    progress = true;
                }
                Poll::Ready(Err(())) => {
                    self.fail_writing();
                    progress = true;
                }
                Poll::Pending => {}
            }
            if !self.unwritten.is_empty() {
                return if progress {
                    Poll::Ready(())
                } else {
                    Poll::Pending
                };
            }
            self.unwritten = BytesMut::new();
        }
        if !self.writer_gone {
            progress |= self.write_queued(cx);
        }
        if self.unflushed && self.unwritten.is_empty() {
            match Pin::new(&mut self.io).poll_flush(cx) {
                Poll::Ready(result) => {
                    if result.is_err() {
                        self.fail_writing();
                    }
                    self.unflushed = false;
                    progress = true;
                }
                Poll::Pending => {}
            }
        }
        if progress {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }

    /// Encodes what the writer queued into the thread's buffer and writes it, keeping what
    /// the socket did not take; true when it took anything from the writer.
    fn write_queued(&mut self, cx: &mut Context<'_>) -> bool {
        SCRATCH.with_borrow_mut(|(_, encoded)| {
            let mut took = false;
            encoded.clear();
            while encoded.len() < WRITE_CHUNK {
                match self.output.poll_next(cx) {
                    Poll::Ready(Some(item)) if !self.write_failed => item.encode(encoded),
                    Poll::Ready(Some(_)) => {}
                    Poll::Ready(None) => {
                        // The session let the connection go: nothing more is read for it,
                        // and what is left has its whole linger to be written.
                        self.writer_gone = true;
                        self.read_done = true;
                        self.delivering = None;
                        if !self.lingering {
                            self.lingering = true;
                            self.timer = None;
                        }
                        took = true;
                        break;
                    }
                    Poll::Pending => break,
                }
                took = true;
            }
            let mut at = 0;
            while at < encoded.len() {
                match write_some(&mut self.io, cx, &encoded[at..]) {
                    Poll::Ready(Ok(n)) => {
                        at += n;
                        self.unflushed = true;
                    }
                    Poll::Ready(Err(())) => {
                        self.fail_writing();
                        at = encoded.len();
                    }
                    Poll::Pending => break,
                }
            }
            self.unwritten.extend_from_slice(&encoded[at..]);
            if encoded.capacity() > 4 * WRITE_CHUNK {
                *encoded = BytesMut::with_capacity(WRITE_CHUNK);
            }
            took
        })
    }

    /// The socket failed: what waits is dropped, and the session hears the connection
    /// is gone.
    fn fail_writing(&mut self) {
        self.write_failed = true;
        self.unwritten = BytesMut::new();
    }

    /// Once everything is written: shuts the socket down, then waits for the client's
    /// end (at most [`CLIENT_DISCONNECT`]); `Ready` when the connection is over.
    fn poll_close(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        if !self.shut_down {
            let _ = ready!(Pin::new(&mut self.io).poll_shutdown(cx));
            self.shut_down = true;
            // Closing with unread input would reset the connection, which can destroy
            // the close frame on its way: the client gets a moment to close its end.
            self.lingering = true;
            self.timer = Some(Box::pin(tokio::time::sleep(CLIENT_DISCONNECT)));
        }
        self.poll_discard(cx)
    }

    /// Polls the timer, armed while something waits to be written or the writer is gone;
    /// `Ready` when the connection is to be given up.
    fn poll_timer(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        if !self.writer_gone && self.unwritten.is_empty() {
            self.timer = None;
            return Poll::Pending;
        }
        let timer = self
            .timer
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(LINGER)));
        loop {
            ready!(timer.as_mut().poll(cx));
            if self.lingering {
                return Poll::Ready(());
            }
            // The session let the connection go while the socket took nothing: what is
            // left has one more linger. Otherwise the session still holds the connection
            // (its bounds decide when a client that does not read is too slow): look
            // again later.
            self.lingering = self.output.rx.is_disconnected();
            timer.as_mut().reset(tokio::time::Instant::now() + LINGER);
        }
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
            let mut progress = this.poll_delivered(cx).is_ready();
            if this.delivering.is_none() && !this.read_done && this.unwritten.len() < WRITE_CHUNK {
                progress |= this.poll_read(cx).is_ready();
            }
            progress |= this.poll_write(cx).is_ready();
            let written = this.unwritten.is_empty() && !this.unflushed;
            if this.writer_gone && written && this.poll_close(cx).is_ready() {
                return Poll::Ready(());
            }
            if this.poll_timer(cx).is_ready() {
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

    use actix_http::ws::OpCode;
    use tokio::io::{AsyncWriteExt, DuplexStream};

    use super::*;
    use crate::engineio::http::start_session;
    use crate::engineio::testing::{client_text, echo_engine, read_until, server_texts};
    use crate::engineio::{CloseSession, Echo, EngineConfig, Sid};

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

    /// A WebSocket of a new echo session over an in-memory pipe holding `capacity` bytes
    /// each way; the client's end, and the session.
    fn echo_connection(
        capacity: usize,
    ) -> (
        WsConnection<DuplexStream, Echo>,
        DuplexStream,
        Addr<ConnectionActor<Echo>>,
    ) {
        let engine = echo_engine(EngineConfig::default());
        let (server, client) = tokio::io::duplex(capacity);
        let (writer, output) = WsWriter::new(16, 1 << 20);
        let session = start_session(&engine, Sid::generate(), Some((writer, 1)));
        let open = engine.transports.opened();
        let connection = WsConnection::new(
            server,
            b"",
            b"",
            output,
            (session.clone(), 1),
            1 << 20,
            open,
        );
        (connection, client, session)
    }

    #[actix_web::test]
    async fn between_frames_a_websocket_keeps_no_buffer() {
        let (mut connection, mut client, _session) = echo_connection(64 * 1024);

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

    #[actix_web::test]
    async fn a_client_that_pings_and_never_reads_is_no_longer_read() {
        let (mut connection, mut client, _session) = echo_connection(1024);
        let mut ping = BytesMut::new();
        Parser::write_message(&mut ping, [7; 125], OpCode::Ping, true, true);
        let mut sent = 0;
        let mut refused = 0;
        while refused < 10 && sent < 4 * WRITE_CHUNK {
            match poll_fn(|cx| Poll::Ready(Pin::new(&mut client).poll_write(cx, &ping))).await {
                Poll::Ready(Ok(n)) => {
                    sent += n;
                    refused = 0;
                }
                Poll::Ready(Err(error)) => panic!("{error}"),
                Poll::Pending => refused += 1,
            }
            poll_once(&mut connection).await;
        }
        assert_eq!(
            refused, 10,
            "the server stopped reading ({sent} bytes sent)"
        );
        assert!(
            connection.unwritten.len() < WRITE_CHUNK + ping.len(),
            "pongs held: {}",
            connection.unwritten.len()
        );
    }

    #[actix_web::test]
    async fn a_websocket_let_go_ends_even_when_the_client_reads_nothing() {
        let (connection, mut client, session) = echo_connection(1024);
        let mut connection = std::pin::pin!(connection);
        // An echo larger than the pipe: the socket then takes nothing more. The client's
        // end stays open (held by the finished task) and is never read.
        let big = client_text(&format!("4{}", "x".repeat(16 * 1024)));
        let _client = actix_web::rt::spawn(async move {
            client.write_all(&big).await.unwrap();
            client
        });
        while connection.unwritten.is_empty() {
            let polled = poll_fn(|cx| Poll::Ready(connection.as_mut().poll(cx))).await;
            assert!(polled.is_pending());
            tokio::task::yield_now().await;
        }
        session.send(CloseSession).await.unwrap();
        let ended = tokio::time::timeout(2 * LINGER + Duration::from_secs(1), connection).await;
        assert!(ended.is_ok(), "the connection outlived its linger");
    }
}
