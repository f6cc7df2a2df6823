//! An idle Socket.IO client over HTTP long-polling, for `idle --transport polling`: what a
//! browser that cannot open a WebSocket holds on the server.
//!
//! Like a browser, it uses one HTTP/1.1 connection for its GETs and another for its
//! POSTs. It connects to `/`, syncs once (as [`crate::setup::Harness::connect_ready`]
//! does on a chat target), then keeps a GET pending and answers pings until dropped.
//! Nothing else it receives is kept.

use std::net::IpAddr;

use anyhow::{Context, Result, anyhow, bail, ensure};
use bytes::Bytes;
use confab_protocol::engineio::{self, Packet as EnginePacket};
use confab_protocol::socketio::{Decoder, Event, Namespace, Packet, PacketData};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper::{Method, Request, header};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::task::JoinHandle;

use crate::client::{WAIT, open_stream};

const PATH: &str = "/socket.io/?EIO=4&transport=polling";

/// A connected long-polling client; dropping it ends its requests and connections.
#[derive(Debug)]
pub struct PollingClient {
    polling: JoinHandle<anyhow::Error>,
}

impl Drop for PollingClient {
    fn drop(&mut self) {
        self.polling.abort();
    }
}

impl PollingClient {
    /// Connects to `/` at `base_url` (`http://host:port`) from `source` with `auth`, then
    /// sends one `sync` request and waits for its ack.
    pub async fn connect(base_url: &str, source: Option<IpAddr>, auth: Value) -> Result<Self> {
        let mut session = Session {
            get: Http::open(base_url, source).await?,
            post: Http::open(base_url, source).await?,
            path: String::new(),
            decoder: Decoder::default(),
            pong: None,
        };
        let open = session.get.call(Method::GET, PATH, Vec::new()).await?;
        let Some(EnginePacket::Open(handshake)) = engineio::decode_payload(open.as_bytes())
            .context("the handshake")?
            .into_iter()
            .next()
        else {
            bail!("the handshake has no open packet: {open}");
        };
        session.path = format!("{PATH}&sid={}", handshake.sid);
        let auth = match auth {
            Value::Object(map) => Some(map),
            _ => None,
        };
        session
            .send(Packet::new(Namespace::root(), PacketData::Connect(auth)))
            .await?;
        session
            .wait_for(|data| match data {
                PacketData::Connect(_) => Ok(true),
                PacketData::ConnectError(error) => bail!("the connection was refused: {error:?}"),
                _ => Ok(false),
            })
            .await?;
        let request = Event::new("sync", vec![json!({ "limit": 1 })]).with_ack(0);
        session
            .send(Packet::new(Namespace::root(), PacketData::Event(request)))
            .await?;
        session
            .wait_for(|data| match data {
                PacketData::Ack(ack) if ack.id == 0 => {
                    let answer = ack.args.first().unwrap_or(&Value::Null);
                    ensure!(answer["ok"] == true, "sync refused: {answer}");
                    Ok(true)
                }
                _ => Ok(false),
            })
            .await?;
        let polling = tokio::spawn(async move {
            loop {
                match session.poll().await {
                    Ok(Some(_)) => {}
                    Ok(None) => break anyhow!("the server closed the session"),
                    Err(error) => break error,
                }
            }
        });
        Ok(Self { polling })
    }

    /// Why the session ended (the server closed it, or a request failed); `None` while
    /// it lasts.
    pub async fn ended(&mut self) -> Option<String> {
        if !self.polling.is_finished() {
            return None;
        }
        Some(match (&mut self.polling).await {
            Ok(error) => format!("{error:#}"),
            Err(error) => error.to_string(),
        })
    }
}

/// An Engine.IO polling session: its two connections and its path (with the sid).
struct Session {
    get: Http,
    post: Http,
    path: String,
    decoder: Decoder,
    /// The pong to send with the next GET.
    pong: Option<Vec<u8>>,
}

impl Session {
    async fn send(&mut self, packet: Packet) -> Result<()> {
        let mut body = Vec::new();
        engineio::encode_payload_into(&packet.to_frames(), &mut body);
        self.post.call(Method::POST, &self.path, body).await?;
        Ok(())
    }

    /// One GET: answers its pings and returns the Socket.IO packets it carried; `None`
    /// once the server closed the session.
    async fn poll(&mut self) -> Result<Option<Vec<PacketData>>> {
        // As engine.io-client does, the pong for the last GET's ping goes while the next
        // GET waits, so that the GET's connection is not left idle meanwhile.
        let Self {
            get,
            post,
            path,
            pong,
            ..
        } = self;
        let answer_ping = async {
            match pong.take() {
                Some(pong) => post.call(Method::POST, path, pong).await.map(drop),
                None => Ok(()),
            }
        };
        let (body, ()) = tokio::try_join!(get.call(Method::GET, path, Vec::new()), answer_ping)?;
        let mut packets = Vec::new();
        for packet in engineio::decode_payload(body.as_bytes()).context("a GET's payload")? {
            match packet {
                EnginePacket::Ping(data) => {
                    self.pong = Some(engineio::encode_payload(&[EnginePacket::Pong(data)]));
                }
                EnginePacket::Message(text) => {
                    packets.extend(self.decoder.decode_text(&text).context("a packet")?);
                }
                EnginePacket::Binary(data) => {
                    packets.extend(self.decoder.decode_binary(data).context("an attachment")?);
                }
                EnginePacket::Close => return Ok(None),
                _ => {}
            }
        }
        if packets
            .iter()
            .any(|packet| matches!(packet.data, PacketData::Disconnect))
        {
            bail!("the server disconnected the socket");
        }
        Ok(Some(
            packets.into_iter().map(|packet| packet.data).collect(),
        ))
    }

    /// Polls until a packet for which `wanted` is true (or an error) comes, within
    /// [`WAIT`].
    async fn wait_for(&mut self, wanted: impl Fn(&PacketData) -> Result<bool>) -> Result<()> {
        tokio::time::timeout(WAIT, self.poll_until(wanted))
            .await
            .context("no answer in time")?
    }

    async fn poll_until(&mut self, wanted: impl Fn(&PacketData) -> Result<bool>) -> Result<()> {
        loop {
            let Some(packets) = self.poll().await? else {
                bail!("the server closed the session");
            };
            for packet in &packets {
                if wanted(packet)? {
                    return Ok(());
                }
            }
        }
    }
}

/// One HTTP/1.1 connection at a time: a new one once the server closed the last (after
/// its keep-alive timeout), as a browser does.
struct Http {
    sender: SendRequest<Full<Bytes>>,
    base_url: String,
    source: Option<IpAddr>,
    host: String,
}

impl Http {
    async fn open(base_url: &str, source: Option<IpAddr>) -> Result<Self> {
        let host = base_url
            .split_once("://")
            .map_or(base_url, |(_, rest)| rest)
            .split('/')
            .next()
            .unwrap_or_default()
            .to_owned();
        Ok(Self {
            sender: connect(base_url, source).await?,
            base_url: base_url.to_owned(),
            source,
            host,
        })
    }

    /// Sends one request; the body of a successful answer.
    async fn call(&mut self, method: Method, path: &str, body: Vec<u8>) -> Result<String> {
        let body = Bytes::from(body);
        let request = || {
            Request::builder()
                .method(method.clone())
                .uri(path)
                .header(header::HOST, &self.host)
                .header(header::CONTENT_TYPE, "text/plain;charset=UTF-8")
                .body(Full::new(body.clone()))
        };
        // A connection the server closed is seen here, or gives the request back unsent;
        // a GET it closed as the request came (its keep-alive ran out) is cut off before
        // any answer, and a browser sends such a GET again. Either way: a new connection.
        if self.sender.ready().await.is_err() {
            self.sender = connect(&self.base_url, self.source).await?;
        }
        let response = match self.sender.try_send_request(request()?).await {
            Ok(response) => response,
            Err(mut error) => {
                let unsent = error.take_message().is_some();
                let cut_off = method == Method::GET && error.error().is_incomplete_message();
                if !unsent && !cut_off {
                    return Err(anyhow::Error::new(error.into_error()))
                        .with_context(|| format!("{method} {path}"));
                }
                self.sender = connect(&self.base_url, self.source).await?;
                self.sender
                    .send_request(request()?)
                    .await
                    .with_context(|| format!("{method} {path}"))?
            }
        };
        let status = response.status();
        let body = response.into_body().collect().await?.to_bytes();
        let body = String::from_utf8(body.to_vec()).context("a body that is not UTF-8")?;
        ensure!(status.is_success(), "{method} {path}: {status} {body}");
        Ok(body)
    }
}

/// Opens an HTTP/1.1 connection to `base_url` from `source`.
async fn connect(base_url: &str, source: Option<IpAddr>) -> Result<SendRequest<Full<Bytes>>> {
    let stream = open_stream(&base_url.replacen("http", "ws", 1), source).await?;
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .context("HTTP/1.1 handshake")?;
    // Ends when the sender is dropped or the server closes the connection.
    tokio::spawn(connection);
    Ok(sender)
}
