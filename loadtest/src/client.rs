//! A Socket.IO client over a real WebSocket, built on `confab-protocol`: what the load
//! generator drives, and what the test suites use (through `confab-testkit`).
//!
//! It connects to the `/` namespace with an auth payload, answers the server's pings,
//! sends events with or without acks, and keeps every event the server sends, so a test
//! can wait for the one it expects (with a deadline) or check that one did not come.

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use confab_protocol::engineio::Packet as EnginePacket;
use confab_protocol::socketio::{Decoder, Event, Namespace, Packet, PacketData};
use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use tokio::net::TcpSocket;
use tokio::sync::{mpsc, oneshot};
use tokio_tungstenite::tungstenite::Message as WsMessage;

/// How long a test waits for an ack or an expected event.
pub(crate) const WAIT: Duration = Duration::from_secs(10);

type Acks = Arc<Mutex<HashMap<u64, oneshot::Sender<Vec<Value>>>>>;

/// A connected Socket.IO client.
#[derive(Debug)]
pub struct SioClient {
    /// The socket id the server gave.
    pub sid: String,
    outgoing: mpsc::UnboundedSender<WsMessage>,
    events: mpsc::UnboundedReceiver<(String, Vec<Value>)>,
    /// Events received but not yet taken by a test.
    seen: VecDeque<(String, Vec<Value>)>,
    acks: Acks,
    next_ack: u64,
}

/// How a connection attempt ended.
#[derive(Debug)]
pub enum Connected {
    /// The namespace accepted.
    Accepted(SioClient),
    /// CONNECT_ERROR with its `data`.
    Refused(Value),
}

impl SioClient {
    /// Connects to `base_url` (`http://host:port`) with `auth`, failing if refused.
    pub async fn connect(base_url: &str, auth: Value) -> Result<Self> {
        match Self::try_connect(base_url, auth).await? {
            Connected::Accepted(client) => Ok(client),
            Connected::Refused(data) => bail!("the connection was refused: {data}"),
        }
    }

    /// Connects with `{token}` as the auth payload.
    pub async fn with_token(base_url: &str, token: &str) -> Result<Self> {
        Self::connect(base_url, serde_json::json!({ "token": token })).await
    }

    /// Connects from the local address `source` (any when `None`), failing if refused.
    pub async fn connect_from(base_url: &str, source: Option<IpAddr>, auth: Value) -> Result<Self> {
        match Self::try_connect_from(base_url, source, auth).await? {
            Connected::Accepted(client) => Ok(client),
            Connected::Refused(data) => bail!("the connection was refused: {data}"),
        }
    }

    /// Connects and reports a refusal instead of failing on it.
    pub async fn try_connect(base_url: &str, auth: Value) -> Result<Connected> {
        Self::try_connect_from(base_url, None, auth).await
    }

    /// Connects from the local address `source` (any when `None`: then `https` URLs work
    /// too) and reports a refusal instead of failing on it.
    pub async fn try_connect_from(
        base_url: &str,
        source: Option<IpAddr>,
        auth: Value,
    ) -> Result<Connected> {
        let url = format!(
            "{}/socket.io/?EIO=4&transport=websocket",
            base_url.replacen("http", "ws", 1)
        );
        let (ws, _) = tokio_tungstenite::client_async(&url, open_stream(&url, source).await?)
            .await
            .context("websocket")?;
        let (mut sink, mut stream) = ws.split();
        let (outgoing, mut to_send) = mpsc::unbounded_channel::<WsMessage>();
        tokio::spawn(async move {
            while let Some(message) = to_send.recv().await {
                if sink.send(message).await.is_err() {
                    break;
                }
            }
        });
        let auth = match auth {
            Value::Object(map) => Some(map),
            _ => None,
        };
        send_packet(
            &outgoing,
            &Packet::new(Namespace::root(), PacketData::Connect(auth)),
        )?;
        let (connect_tx, connect_rx) = oneshot::channel::<Result<String, Value>>();
        let (events_tx, events) = mpsc::unbounded_channel();
        let acks: Acks = Arc::default();
        let reader_acks = acks.clone();
        let pong = outgoing.clone();
        tokio::spawn(async move {
            let mut connect_tx = Some(connect_tx);
            let mut decoder = Decoder::default();
            while let Some(Ok(message)) = stream.next().await {
                let decoded = match message {
                    WsMessage::Text(text) => match EnginePacket::decode_text(text.as_str()) {
                        Ok(EnginePacket::Ping(data)) => {
                            let _ = pong.send(text_frame(&EnginePacket::Pong(data)));
                            continue;
                        }
                        Ok(EnginePacket::Message(text)) => decoder.decode_text(&text),
                        _ => continue,
                    },
                    WsMessage::Binary(data) => decoder.decode_binary(data),
                    // The server ended the transport: it is gone now, not when TCP closes.
                    WsMessage::Close(_) => break,
                    _ => continue,
                };
                let Ok(Some(packet)) = decoded else { continue };
                match packet.data {
                    PacketData::Connect(reply) => {
                        let sid = reply
                            .and_then(|reply| {
                                reply.get("sid").and_then(Value::as_str).map(str::to_owned)
                            })
                            .unwrap_or_default();
                        if let Some(tx) = connect_tx.take() {
                            let _ = tx.send(Ok(sid));
                        }
                    }
                    PacketData::ConnectError(error) => {
                        if let Some(tx) = connect_tx.take() {
                            let _ = tx.send(Err(error.data.unwrap_or(Value::Null)));
                        }
                    }
                    PacketData::Event(Event { name, args, .. }) => {
                        let _ = events_tx.send((name, args));
                    }
                    PacketData::Ack(ack) => {
                        let waiting = reader_acks
                            .lock()
                            .ok()
                            .and_then(|mut acks| acks.remove(&ack.id));
                        if let Some(tx) = waiting {
                            let _ = tx.send(ack.args);
                        }
                    }
                    PacketData::Disconnect => break,
                }
            }
            // The connection is gone: whoever waits for an ack learns it now.
            if let Ok(mut waiting) = reader_acks.lock() {
                waiting.clear();
            }
        });
        let answer = tokio::time::timeout(WAIT, connect_rx)
            .await
            .context("no CONNECT reply")?
            .context("the connection closed before the CONNECT reply")?;
        Ok(match answer {
            Ok(sid) => Connected::Accepted(Self {
                sid,
                outgoing,
                events,
                seen: VecDeque::new(),
                acks,
                next_ack: 0,
            }),
            Err(data) => Connected::Refused(data),
        })
    }

    /// Sends an event without asking for an ack.
    pub fn emit(&self, name: &str, payload: Value) -> Result<()> {
        send_packet(
            &self.outgoing,
            &Packet::new(
                Namespace::root(),
                PacketData::Event(Event::new(name, vec![payload])),
            ),
        )
    }

    /// Sends an event and returns the ack's first argument.
    pub async fn request(&mut self, name: &str, payload: Value) -> Result<Value> {
        let ack = self.send_request(name, payload)?;
        tokio::time::timeout(WAIT, ack)
            .await
            .with_context(|| format!("no ack for {name}"))?
    }

    /// Sends an event asking for an ack, without waiting: the future resolves to the ack's
    /// first argument (it waits as long as the connection lives, so the caller bounds it).
    /// Many may be in flight at once.
    pub fn send_request(
        &mut self,
        name: &str,
        payload: Value,
    ) -> Result<impl Future<Output = Result<Value>> + Send + 'static> {
        let id = self.next_ack;
        self.next_ack += 1;
        let (tx, rx) = oneshot::channel();
        self.acks
            .lock()
            .map_err(|_| anyhow!("ack map poisoned"))?
            .insert(id, tx);
        let event = Event::new(name, vec![payload]).with_ack(id);
        send_packet(
            &self.outgoing,
            &Packet::new(Namespace::root(), PacketData::Event(event)),
        )?;
        Ok(async move {
            let args = rx.await.context("the connection closed before the ack")?;
            Ok(args.into_iter().next().unwrap_or(Value::Null))
        })
    }

    /// The next event of any name with its first argument, waiting as long as it takes;
    /// `None` once the connection is closed.
    pub async fn next_event(&mut self) -> Option<(String, Value)> {
        let (name, args) = match self.seen.pop_front() {
            Some(event) => event,
            None => self.events.recv().await?,
        };
        Some((name, args.into_iter().next().unwrap_or(Value::Null)))
    }

    fn drain(&mut self) {
        while let Ok(event) = self.events.try_recv() {
            self.seen.push_back(event);
        }
    }

    /// Waits for the next `name` event (others stay queued) and returns its first argument.
    pub async fn next(&mut self, name: &str) -> Result<Value> {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            self.drain();
            if let Some(index) = self.seen.iter().position(|(event, _)| event == name) {
                let (_, args) = self.seen.remove(index).unwrap_or_default();
                return Ok(args.into_iter().next().unwrap_or(Value::Null));
            }
            match tokio::time::timeout_at(deadline, self.events.recv()).await {
                Ok(Some(event)) => self.seen.push_back(event),
                Ok(None) => bail!("the connection closed while waiting for {name}"),
                Err(_) => bail!("no {name} event within {WAIT:?}"),
            }
        }
    }

    /// The `name` events received so far, without waiting.
    pub fn received(&mut self, name: &str) -> Vec<Value> {
        self.drain();
        self.seen
            .iter()
            .filter(|(event, _)| event == name)
            .map(|(_, args)| args.first().cloned().unwrap_or(Value::Null))
            .collect()
    }

    /// Waits until the server ends the connection, keeping the events that came before.
    pub async fn wait_closed(&mut self) -> Result<()> {
        loop {
            match tokio::time::timeout(WAIT, self.events.recv()).await {
                Ok(Some(event)) => self.seen.push_back(event),
                Ok(None) => return Ok(()),
                Err(_) => bail!("the connection is still open after {WAIT:?}"),
            }
        }
    }

    /// Closes the connection.
    pub fn close(self) {
        let _ = self.outgoing.send(WsMessage::Close(None));
    }
}

/// A TCP connection to `server`, from `source` when given.
async fn connect_from(server: SocketAddr, source: Option<IpAddr>) -> Result<tokio::net::TcpStream> {
    let socket = if server.is_ipv4() {
        TcpSocket::new_v4()
    } else {
        TcpSocket::new_v6()
    }?;
    if let Some(source) = source {
        socket
            .bind(SocketAddr::new(source, 0))
            .with_context(|| format!("binding to {source}"))?;
    }
    socket
        .connect(server)
        .await
        .with_context(|| format!("connecting to {server} from {source:?}"))
}

/// A connection's byte stream: plain TCP, or TLS over it.
pub(crate) trait Stream:
    tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send
{
}

impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send> Stream for T {}

/// Opens a TCP connection to the host of `url` (`ws://` or `wss://`), bound to `source`
/// when given, with TLS for `wss://` (trusting the CA in `CONFAB_LOADTEST_CA_FILE`).
pub(crate) async fn open_stream(url: &str, source: Option<IpAddr>) -> Result<Box<dyn Stream>> {
    let (tls, rest) = match url.strip_prefix("wss://") {
        Some(rest) => (true, rest),
        None => (false, url.strip_prefix("ws://").context("not a ws:// URL")?),
    };
    let authority = rest.split('/').next().unwrap_or(rest);
    // The host, without the brackets of an IPv6 literal, and the port (the scheme's when
    // the URL names none).
    let (host, port) = match authority.rsplit_once(':') {
        Some((host, port)) if !port.contains(']') => (host, port.parse()?),
        _ => (authority, if tls { 443 } else { 80 }),
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let mut last_error = None;
    let mut connected = None;
    for server in tokio::net::lookup_host((host, port))
        .await
        .with_context(|| format!("resolving {authority}"))?
        .filter(|address| source.is_none_or(|source| address.is_ipv4() == source.is_ipv4()))
    {
        match connect_from(server, source).await {
            Ok(stream) => {
                connected = Some(stream);
                break;
            }
            Err(error) => last_error = Some(error),
        }
    }
    let stream = match (connected, last_error) {
        (Some(stream), _) => stream,
        (None, Some(error)) => return Err(error),
        (None, None) => bail!("{authority} has no address to connect to from {source:?}"),
    };
    stream.set_nodelay(true)?;
    if !tls {
        return Ok(Box::new(stream));
    }
    let name = rustls::pki_types::ServerName::try_from(host.to_owned())
        .with_context(|| format!("{host} is not a TLS server name"))?;
    let stream = tokio_rustls::TlsConnector::from(crate::tls::client_config()?)
        .connect(name, stream)
        .await
        .context("TLS handshake")?;
    Ok(Box::new(stream))
}

fn text_frame(packet: &EnginePacket) -> WsMessage {
    let mut out = Vec::new();
    packet.encode_text_into(&mut out);
    WsMessage::Text(String::from_utf8_lossy(&out).into_owned().into())
}

fn send_packet(outgoing: &mpsc::UnboundedSender<WsMessage>, packet: &Packet) -> Result<()> {
    for frame in packet.to_frames() {
        let message = match frame {
            confab_protocol::engineio::Frame::Text(bytes) => {
                WsMessage::Text(String::from_utf8_lossy(&bytes).into_owned().into())
            }
            confab_protocol::engineio::Frame::Binary(bytes) => WsMessage::Binary(bytes),
        };
        outgoing
            .send(message)
            .map_err(|_| anyhow!("the connection is closed"))?;
    }
    Ok(())
}
