//! The Socket.IO v5 server on top of [`crate::engineio`]: namespaces with their connect
//! check (the CONNECT auth payload), events and acks in both directions, binary
//! attachments, rooms for broadcasting, and connection-state recovery.
//!
//! Application code implements [`NamespaceHandler`] for each namespace and talks to
//! clients through [`Socket`]. A packet meant for many sockets is encoded once and the
//! same bytes go to every session.

mod connect;
mod lenient;
mod namespace;
mod recovery;
mod session;
mod socket;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use confab_protocol::socketio::{ConnectError, Event, Namespace as NamespaceName};
use serde_json::{Map, Value};

use crate::Metrics;
use crate::engineio::{Engine, EngineConfig, HandlerFactory, Sid};

pub use namespace::Namespace;
pub use session::{SioCommand, SocketIoSession};
pub use socket::{AckError, Socket};

/// Socket.IO settings.
#[derive(Debug, Clone)]
pub struct SocketIoConfig {
    /// How long a client may take to connect to a namespace after the Engine.IO
    /// handshake before it is closed. Default 45 s.
    pub connect_timeout: Duration,
    /// Whether the connect timeout runs again when a session's last namespace
    /// disconnects, so that a session cannot live on without any. Default false, as in
    /// the reference server (which keeps such a session until its transport closes).
    pub close_without_namespace: bool,
    /// Most binary attachments one packet may announce. Default 10.
    pub max_attachments: usize,
    /// Connection-state recovery: how long a disconnected socket's state (id, rooms,
    /// missed events) is kept for it to come back. When set, every event sent without an
    /// ack, direct emits included, carries an offset as its last argument, as in the
    /// reference server. Default unset: no recovery.
    pub recovery_window: Option<Duration>,
    /// Where the Socket.IO layer records its figures (commands and broadcast deliveries
    /// that sessions could not take); usually the same handles as the engine's
    /// [`EngineConfig::metrics`], which records the rest. Default: no-op handles, nothing
    /// recorded.
    pub metrics: Metrics,
}

impl Default for SocketIoConfig {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(45),
            close_without_namespace: false,
            max_attachments: confab_protocol::socketio::DEFAULT_MAX_ATTACHMENTS,
            recovery_window: None,
            metrics: Metrics::default(),
        }
    }
}

/// Why a socket left its namespace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DisconnectReason {
    /// The client disconnected from the namespace (`socket.disconnect()` client-side).
    ClientDisconnect,
    /// The server disconnected the socket.
    ServerDisconnect,
    /// The Engine.IO session closed (transport gone, ping timeout, ...).
    TransportClose,
}

/// What a namespace does with its sockets. Every method runs on the socket's session
/// actor; work that waits must be spawned.
pub trait NamespaceHandler: Send + Sync + 'static {
    /// Decides whether a CONNECT with this auth payload, on Engine.IO session `session`, is
    /// accepted; the value returned is kept with the socket ([`Socket::data`]), e.g. the
    /// authenticated user id.
    fn authorize(
        &self,
        session: &Sid,
        auth: Option<&Map<String, Value>>,
    ) -> Result<Value, ConnectError>;

    /// A socket has connected.
    fn on_connect(&self, _socket: &Socket) {}

    /// An event arrived; if `event.ack` is set the client waits for [`Socket::ack`].
    fn on_event(&self, socket: &Socket, event: Event);

    /// The socket has left the namespace.
    fn on_disconnect(&self, _socket: &Socket, _reason: DisconnectReason) {}
}

/// A Socket.IO server: its settings and namespaces.
#[derive(Debug)]
pub struct SocketIo {
    config: SocketIoConfig,
    namespaces: HashMap<String, Arc<Namespace>>,
}

impl SocketIo {
    /// A server with no namespaces yet.
    pub fn new(config: SocketIoConfig) -> Self {
        Self {
            config,
            namespaces: HashMap::new(),
        }
    }

    /// Adds a namespace (`/`, `/chat`, ...) served by `handler`.
    pub fn namespace(
        mut self,
        name: &str,
        handler: impl NamespaceHandler,
    ) -> Result<Self, confab_protocol::socketio::SocketIoError> {
        let name = NamespaceName::new(name)?;
        let namespace = Namespace::new(name.clone(), Arc::new(handler), &self.config);
        self.namespaces
            .insert(name.as_str().to_owned(), Arc::new(namespace));
        Ok(self)
    }

    /// The namespace called `name`.
    pub fn of(&self, name: &str) -> Option<&Arc<Namespace>> {
        self.namespaces.get(name)
    }

    /// An Engine.IO server carrying this Socket.IO server.
    pub fn into_engine(self, engine: EngineConfig) -> Arc<Engine<SocketIoFactory>> {
        Engine::new(engine, SocketIoFactory(Arc::new(self)))
    }
}

/// Makes a [`SocketIoSession`] for each Engine.IO session.
#[derive(Debug, Clone)]
pub struct SocketIoFactory(Arc<SocketIo>);

impl SocketIoFactory {
    /// The Socket.IO server behind this factory.
    pub fn io(&self) -> &Arc<SocketIo> {
        &self.0
    }
}

impl HandlerFactory for SocketIoFactory {
    type Handler = SocketIoSession;

    fn create(&self, _sid: &Sid) -> SocketIoSession {
        SocketIoSession::new(self.0.clone())
    }
}
