//! The Engine.IO v4 server: the HTTP entry point for both transports (long-polling and
//! WebSocket), the registry of open sessions, and the error replies the protocol defines.
//!
//! Each session is one [`ConnectionActor`], whatever its transport; a polling session that
//! upgrades to WebSocket stays the same actor and only swaps its transport. What a session
//! carries (Socket.IO, or the raw echo of the conformance server) is a [`SessionHandler`].
//! Packets are encoded and decoded by `confab-protocol`; this module only moves them.

mod admission;
mod connection;
mod cors;
mod echo;
mod forward;
mod handover;
mod http;
#[cfg(test)]
mod testing;
mod websocket;

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, OnceLock, RwLock};
use std::time::{Duration, Instant};

use actix::{Addr, Context};
use base64::Engine as _;
use bytes::Bytes;
use tokio_util::sync::CancellationToken;

use crate::Metrics;

pub use admission::client_address;
pub use connection::{CloseReason, CloseSession, Command, ConnectionActor, Session};
pub use echo::{Echo, EchoFactory};
pub use forward::{ForwardedPoll, ForwardedPolls, PollTransport};
pub use handover::{ServerOptions, WebSockets, serve};
pub use http::{configure, engine_route};

/// Engine.IO settings, with the reference server's defaults.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Time between two server pings. Default 25 s.
    pub ping_interval: Duration,
    /// How long the server waits for a pong before closing. Default 20 s.
    pub ping_timeout: Duration,
    /// Largest message or polling payload accepted from a client, in bytes. Default 1 MB.
    pub max_payload: usize,
    /// How long a WebSocket upgrade may take once probed. Default 10 s.
    pub upgrade_timeout: Duration,
    /// How many frames may wait for a client that does not read before it is disconnected
    /// as a slow consumer. Default 1024.
    pub max_buffered_frames: usize,
    /// How many bytes may wait for a client that does not read before it is disconnected
    /// as a slow consumer (one frame is always taken when nothing waits; a WebSocket also
    /// holds up to 64 KiB its socket has not taken). Default 1 MiB.
    pub max_buffered_bytes: usize,
    /// Most sessions open at once from one client address. Default 256.
    pub max_sessions_per_address: usize,
    /// Most sessions open at once on this server. Default 50,000.
    pub max_sessions: usize,
    /// Whether the client address is the last `X-Forwarded-For` entry rather than the
    /// peer's (behind a proxy that appends it). Default false.
    pub trust_forwarded_for: bool,
    /// Origins allowed by CORS: empty for none (same-origin only), `*` for any.
    pub cors_origins: Vec<String>,
    /// Whether CORS responses allow credentials (cookies). Default false.
    pub cors_credentials: bool,
    /// Name of the cookie holding the session id, for load balancers that use cookie
    /// affinity. Default unset: no cookie.
    pub cookie: Option<String>,
    /// The server's shutdown signal: once it is cancelled, new sessions are refused (the
    /// open ones stay until closed). Give the engine the token the rest of the process
    /// watches, so that one signal stops everything. Default: a token of its own.
    pub shutdown: CancellationToken,
    /// Where the engine records its figures (open sessions, refused sessions, slow
    /// consumers, forwarded polls). Default: no-op handles, nothing recorded.
    pub metrics: Metrics,
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            ping_interval: Duration::from_millis(25_000),
            ping_timeout: Duration::from_millis(20_000),
            max_payload: 1_000_000,
            upgrade_timeout: Duration::from_millis(10_000),
            max_buffered_frames: 1024,
            max_buffered_bytes: 1024 * 1024,
            max_sessions_per_address: 256,
            max_sessions: 50_000,
            trust_forwarded_for: false,
            cors_origins: Vec::new(),
            cors_credentials: false,
            cookie: None,
            shutdown: CancellationToken::new(),
            metrics: Metrics::default(),
        }
    }
}

/// A message packet's content, as the upper layer sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// A text message.
    Text(String),
    /// A binary message.
    Binary(Bytes),
}

/// What a session carries: Socket.IO, or anything else speaking Engine.IO messages.
///
/// A handler lives inside its session's actor and is called on the actor's thread, so it
/// needs no locking. Work that must wait (the database, another actor) is spawned and
/// comes back as a [`SessionHandler::Command`] sent to the session's address.
pub trait SessionHandler: Sized + Unpin + 'static {
    /// What other code can ask this session to do.
    type Command: Send + 'static;

    /// The session is open: its handshake has been sent.
    fn on_open(&mut self, session: &mut Session<'_, Self>);

    /// A message arrived from the client.
    fn on_message(&mut self, session: &mut Session<'_, Self>, message: Message);

    /// A command arrived from elsewhere in the server.
    fn on_command(&mut self, session: &mut Session<'_, Self>, command: Self::Command);

    /// The session closed; nothing can be sent any more.
    fn on_close(&mut self, reason: CloseReason, ctx: &mut Context<ConnectionActor<Self>>);
}

/// Makes the handler of each new session.
pub trait HandlerFactory: Send + Sync + 'static {
    /// The handler type.
    type Handler: SessionHandler;

    /// A handler for the session `sid`.
    fn create(&self, sid: &Sid) -> Self::Handler;
}

/// An Engine.IO session id: 20 URL-safe characters from 15 random bytes, followed in a
/// cluster by `.` and the owning node's id in URL-safe base64 (see [`Sid::owner`]).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Sid(Arc<str>);

impl Sid {
    /// A fresh random id.
    pub fn generate() -> Self {
        let raw: [u8; 15] = rand::random();
        Self(BASE64.encode(raw).into())
    }

    /// A fresh random id that names `node` as the session's owner.
    pub fn owned_by(node: &str) -> Self {
        let raw: [u8; 15] = rand::random();
        Self(format!("{}.{}", BASE64.encode(raw), BASE64.encode(node)).into())
    }

    /// The node a session id names as its owner, if it names one.
    pub fn owner(sid: &str) -> Option<String> {
        let (_, node) = sid.split_once('.')?;
        String::from_utf8(BASE64.decode(node).ok()?).ok()
    }

    /// The id as sent on the wire.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The alphabet of session ids: URL-safe base64 without padding.
const BASE64: base64::engine::GeneralPurpose = base64::engine::general_purpose::URL_SAFE_NO_PAD;

impl From<&str> for Sid {
    fn from(value: &str) -> Self {
        Self(value.into())
    }
}

impl fmt::Display for Sid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Sid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Sid({})", self.0)
    }
}

/// One Engine.IO server: its settings, its handler factory and its open sessions.
pub struct Engine<F: HandlerFactory> {
    config: Arc<EngineConfig>,
    factory: F,
    sessions: RwLock<HashMap<Sid, Addr<ConnectionActor<F::Handler>>>>,
    /// Closed polling sessions whose next GET still gets a last payload, and since when.
    farewells: Mutex<HashMap<Sid, (Instant, Bytes)>>,
    /// The open sessions per client address, for the caps.
    admission: admission::Admission,
    /// The WebSocket tasks alive, told (like the sessions) when one ends (see
    /// [`Engine::all_closed`]).
    transports: Arc<websocket::Transports>,
    /// In a cluster: this node's id and the bus polling requests are forwarded over.
    forwarding: OnceLock<forward::Forwarding>,
}

impl<F: HandlerFactory> fmt::Debug for Engine<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Engine")
            .field("config", &self.config)
            .field("sessions", &self.session_count())
            .finish_non_exhaustive()
    }
}

impl<F: HandlerFactory> Engine<F> {
    /// A server with no sessions yet.
    pub fn new(config: EngineConfig, factory: F) -> Arc<Self> {
        Arc::new(Self {
            config: Arc::new(config),
            factory,
            sessions: RwLock::new(HashMap::new()),
            farewells: Mutex::new(HashMap::new()),
            admission: admission::Admission::default(),
            transports: Arc::default(),
            forwarding: OnceLock::new(),
        })
    }

    /// A fresh id for a new session: naming this node once polling is forwarded.
    fn new_sid(&self) -> Sid {
        match self.forwarding.get() {
            Some(forwarding) => Sid::owned_by(forwarding.node_id()),
            None => Sid::generate(),
        }
    }

    /// Whether new sessions are refused: the shutdown signal was given.
    pub fn is_draining(&self) -> bool {
        self.config.shutdown.is_cancelled()
    }

    /// Resolves once no session is open and every WebSocket has written its last frame
    /// (at once if none is).
    pub async fn all_closed(&self) {
        loop {
            let closed = self.transports.changed.notified();
            let mut closed = std::pin::pin!(closed);
            closed.as_mut().enable();
            if self.session_count() == 0 && self.transports.open() == 0 {
                return;
            }
            closed.await;
        }
    }

    /// The settings.
    pub fn config(&self) -> &EngineConfig {
        &self.config
    }

    /// How many sessions are open.
    pub fn session_count(&self) -> usize {
        self.sessions
            .read()
            .map(|sessions| sessions.len())
            .unwrap_or(0)
    }

    /// The actor of an open session.
    pub fn session(&self, sid: &str) -> Option<Addr<ConnectionActor<F::Handler>>> {
        let sessions = self.sessions.read().ok()?;
        sessions.get(&Sid::from(sid)).cloned()
    }

    /// Every open session's actor.
    pub fn sessions(&self) -> Vec<Addr<ConnectionActor<F::Handler>>> {
        self.sessions
            .read()
            .map(|sessions| sessions.values().cloned().collect())
            .unwrap_or_default()
    }

    fn insert(&self, sid: Sid, addr: Addr<ConnectionActor<F::Handler>>) {
        if let Ok(mut sessions) = self.sessions.write() {
            sessions.insert(sid, addr);
        }
        self.config.metrics.sessions.increment(1.0);
    }

    /// Forgets a closed session; `farewell` is what its next GET gets, if that comes within
    /// a ping interval and timeout (the longest a live client waits between requests).
    /// Without one, an earlier farewell is forgotten too (the client heard the close on
    /// the WebSocket it moved to).
    fn remove(&self, sid: &Sid, farewell: Option<Bytes>) {
        let removed = self
            .sessions
            .write()
            .map(|mut sessions| sessions.remove(sid).is_some())
            .unwrap_or(false);
        if removed {
            self.config.metrics.sessions.decrement(1.0);
            self.transports.changed.notify_waiters();
        }
        self.admission.release(sid);
        let Ok(mut farewells) = self.farewells.lock() else {
            return;
        };
        match farewell {
            Some(body) => {
                let now = Instant::now();
                farewells.retain(|_, (since, _)| now.duration_since(*since) < self.farewell_ttl());
                farewells.insert(sid.clone(), (now, body));
            }
            None => {
                farewells.remove(sid);
            }
        }
    }

    /// The last payload of a session closed meanwhile, once.
    fn take_farewell(&self, sid: &str) -> Option<Bytes> {
        let (since, body) = self.farewells.lock().ok()?.remove(&Sid::from(sid))?;
        (since.elapsed() < self.farewell_ttl()).then_some(body)
    }

    fn farewell_ttl(&self) -> Duration {
        self.config.ping_interval + self.config.ping_timeout
    }
}
