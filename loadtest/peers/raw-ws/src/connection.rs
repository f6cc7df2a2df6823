//! One client connection: the Engine.IO/Socket.IO handshake over WebSocket, the heartbeat,
//! and the few events `confab-loadtest --target raw` sends.
//!
//! The handshake is the Engine.IO `open` packet, then the client's Socket.IO CONNECT on
//! `/` whose auth `{token}` is taken as the user id (no accounts, no checks). Events:
//! - `message:send {to: {user} | {group}, body, client_msg_id}`: acked `{ok: true,
//!   message: {id, conversation, from, to, body, client_msg_id}}`; the same message goes
//!   as `message:new` to the target user's connections and the sender's other ones, or to
//!   the group's members, never to the sending connection. It is encoded once.
//! - `group:join {group}`: acked `{ok: true}`.
//! - `typing`, `read`: acked `{ok: true}` (nothing is forwarded); `presence:query
//!   {users}`: acked with who has a connection here.
//!
//! A writer task per connection drains its outbox and flushes once per batch, so many
//! frames share one write when deliveries pile up.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use confab_protocol::engineio::{Handshake, Packet as EnginePacket};
use confab_protocol::socketio::{Ack, Decoder, Event, Namespace, Packet, PacketData};
use futures_util::stream::SplitSink;
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

use crate::hub::{ConnId, Hub};

/// The hub shared by the connections of this (single) thread.
pub(crate) type SharedHub = Rc<RefCell<Hub>>;

/// Largest message the server accepts, as the Engine.IO handshake announces.
const MAX_PAYLOAD: u64 = 1_000_000;

/// Bytes a connection reads from its socket at a time.
const READ_BUFFER_BYTES: usize = 4096;

/// How long a client has to send its Socket.IO CONNECT.
const CONNECT_WITHIN: Duration = Duration::from_secs(10);

/// The Engine.IO heartbeat.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Heartbeat {
    /// Time between two pings.
    pub(crate) interval: Duration,
    /// How long a pong may take.
    pub(crate) timeout: Duration,
}

/// Serves one accepted TCP connection until it closes.
pub(crate) async fn serve(
    stream: TcpStream,
    hub: SharedHub,
    sid: String,
    heartbeat: Heartbeat,
) -> Result<()> {
    let ws = tokio_tungstenite::accept_async_with_config(stream, Some(websocket_config()))
        .await
        .context("websocket handshake")?;
    let (mut sink, mut stream) = ws.split();
    sink.send(open_packet(&sid, heartbeat)).await?;
    let user = tokio::time::timeout(CONNECT_WITHIN, read_connect(&mut stream))
        .await
        .context("no Socket.IO CONNECT")??;
    let (outbox, frames) = mpsc::unbounded_channel();
    let id = hub.borrow_mut().connect(&user, outbox.clone());
    let reply = Packet::new(
        Namespace::root(),
        PacketData::Connect(json!({ "sid": sid }).as_object().cloned()),
    );
    let _ = outbox.send(encode(&reply));
    tokio::task::spawn_local(write_batches(sink, frames));
    let result = read_events(&mut stream, &hub, id, &user, &outbox, heartbeat).await;
    hub.borrow_mut().disconnect(id);
    result
}

/// Small read buffers (tungstenite allocates 128 KiB per connection by default, which
/// would dwarf everything else an idle connection costs); messages up to `MAX_PAYLOAD`.
fn websocket_config() -> WebSocketConfig {
    let max = usize::try_from(MAX_PAYLOAD).unwrap_or(usize::MAX);
    WebSocketConfig::default()
        .read_buffer_size(READ_BUFFER_BYTES)
        .max_message_size(Some(max))
        .max_frame_size(Some(max))
}

/// The Engine.IO `open` packet: WebSocket only, so no upgrades.
fn open_packet(sid: &str, heartbeat: Heartbeat) -> Message {
    let open = EnginePacket::Open(Handshake {
        sid: sid.to_owned(),
        upgrades: Vec::new(),
        ping_interval: millis(heartbeat.interval),
        ping_timeout: millis(heartbeat.timeout),
        max_payload: MAX_PAYLOAD,
    });
    let mut out = Vec::new();
    open.encode_text_into(&mut out);
    text(out)
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

/// Waits for the client's CONNECT on `/` and returns its `auth.token`, the user id.
async fn read_connect<S>(stream: &mut S) -> Result<String>
where
    S: StreamExt<Item = Result<Message, tokio_tungstenite::tungstenite::Error>> + Unpin,
{
    let mut decoder = Decoder::default();
    while let Some(message) = stream.next().await {
        let Some(packet) = decode(&mut decoder, message?)? else {
            continue;
        };
        let PacketData::Connect(Some(auth)) = packet.data else {
            bail!("expected CONNECT with auth, got {:?}", packet.packet_type());
        };
        return match auth.get("token").and_then(Value::as_str) {
            Some(token) if !token.is_empty() => Ok(token.to_owned()),
            _ => bail!("CONNECT without a token"),
        };
    }
    bail!("closed before CONNECT")
}

/// Decodes a Socket.IO packet from a WebSocket message; `None` for anything else.
fn decode(decoder: &mut Decoder, message: Message) -> Result<Option<Packet>> {
    let Message::Text(frame) = message else {
        return Ok(None);
    };
    match EnginePacket::decode_text(frame.as_str())? {
        EnginePacket::Message(text) => Ok(decoder.decode_text(&text)?),
        _ => Ok(None),
    }
}

/// Reads until the client leaves or misses a pong, answering events.
async fn read_events(
    stream: &mut futures_util::stream::SplitStream<WebSocketStream<TcpStream>>,
    hub: &SharedHub,
    id: ConnId,
    user: &str,
    outbox: &mpsc::UnboundedSender<Message>,
    heartbeat: Heartbeat,
) -> Result<()> {
    let mut decoder = Decoder::default();
    let mut pings = tokio::time::interval(heartbeat.interval);
    pings.tick().await;
    let mut ponged = true;
    loop {
        tokio::select! {
            message = stream.next() => {
                let Some(message) = message else { return Ok(()) };
                let message = message?;
                if is_pong(&message) {
                    ponged = true;
                } else if let Some(packet) = decode(&mut decoder, message)? {
                    match packet.data {
                        PacketData::Event(event) => {
                            let ack = on_event(&mut hub.borrow_mut(), id, user, event);
                            if let Some(ack) = ack {
                                let _ = outbox.send(ack);
                            }
                        }
                        PacketData::Disconnect => return Ok(()),
                        _ => {}
                    }
                }
            }
            _ = pings.tick() => {
                if !ponged {
                    bail!("no pong within {:?}", heartbeat.interval);
                }
                ponged = false;
                let _ = outbox.send(Message::text("2"));
            }
        }
    }
}

fn is_pong(message: &Message) -> bool {
    matches!(message, Message::Text(text) if text.as_str() == "3")
}

/// Answers one event: forwards messages, joins groups, acks the rest trivially. Returns
/// the ack frame if the client asked for one.
fn on_event(hub: &mut Hub, id: ConnId, user: &str, event: Event) -> Option<Message> {
    let payload = event.args.into_iter().next().unwrap_or(Value::Null);
    let answer = match event.name.as_str() {
        "message:send" => send_message(hub, id, user, payload),
        "group:join" => match payload.get("group").and_then(Value::as_str) {
            Some(group) => {
                hub.join(id, group);
                json!({ "ok": true })
            }
            None => invalid("group:join needs {group}"),
        },
        "typing" | "read" => json!({ "ok": true }),
        "presence:query" => {
            let users = payload.get("users").and_then(Value::as_array);
            let presence: Vec<Value> = users
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .map(|other| json!({ "user": other, "online": hub.is_online(other) }))
                .collect();
            json!({ "ok": true, "presence": presence })
        }
        other => invalid(&format!("unknown event {other}")),
    };
    let ack = Ack::new(event.ack?, vec![answer]);
    Some(encode(&Packet::new(
        Namespace::root(),
        PacketData::Ack(ack),
    )))
}

/// Forwards a `message:send` and returns its ack.
fn send_message(hub: &mut Hub, id: ConnId, user: &str, payload: Value) -> Value {
    let Value::Object(mut fields) = payload else {
        return invalid("message:send needs an object");
    };
    let to = fields.remove("to").unwrap_or(Value::Null);
    let (conversation, users, group) = match (
        to.get("user").and_then(Value::as_str),
        to.get("group").and_then(Value::as_str),
    ) {
        (Some(other), None) if other == user => (format!("d:{user}:{user}"), vec![user], None),
        (Some(other), None) => {
            let (low, high) = if user < other {
                (user, other)
            } else {
                (other, user)
            };
            (format!("d:{low}:{high}"), vec![other, user], None)
        }
        (None, Some(group)) => (format!("g:{group}"), Vec::new(), Some(group)),
        _ => return invalid("to is {user} or {group}"),
    };
    let message = json!({
        "id": hub.message_id(),
        "conversation": conversation,
        "from": user,
        "to": to,
        "body": fields.remove("body").unwrap_or(Value::Null),
        "client_msg_id": fields.remove("client_msg_id").unwrap_or(Value::Null),
    });
    let event = Event::new("message:new", vec![message.clone()]);
    let frame = encode(&Packet::new(Namespace::root(), PacketData::Event(event)));
    hub.send(&users, group, id, &frame);
    json!({ "ok": true, "message": message })
}

fn invalid(message: &str) -> Value {
    json!({ "ok": false, "error": { "code": "invalid_request", "message": message } })
}

/// Encodes a Socket.IO packet as one Engine.IO message frame.
fn encode(packet: &Packet) -> Message {
    let mut out = Vec::new();
    packet.encode_message_into(&mut out);
    text(out)
}

fn text(bytes: Vec<u8>) -> Message {
    // The codecs only write UTF-8; the lossy branch is never taken.
    Message::text(
        String::from_utf8(bytes)
            .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()),
    )
}

/// Writes the outbox to the socket, one flush per batch of frames waiting.
async fn write_batches(
    mut sink: SplitSink<WebSocketStream<TcpStream>, Message>,
    mut frames: mpsc::UnboundedReceiver<Message>,
) {
    while let Some(frame) = frames.recv().await {
        if sink.feed(frame).await.is_err() {
            return;
        }
        while let Ok(frame) = frames.try_recv() {
            if sink.feed(frame).await.is_err() {
                return;
            }
        }
        if sink.flush().await.is_err() {
            return;
        }
    }
    let _ = sink.close().await;
}
