//! `confab-socketio`: a Socket.IO v5 / Engine.IO v4 server for actix-web, so that the
//! official `socket.io-client` (browser or Node) connects unchanged.
//!
//! - [`engineio`]: the transports (long-polling and WebSocket, with the upgrade between
//!   them), sessions as actix actors with heartbeats and bounded outgoing buffers, the
//!   protocol's errors and CORS, admission caps, and the forwarding of polling requests to
//!   the node that holds a session ([`engineio::PollTransport`], which the application
//!   implements over its own bus).
//! - [`socketio`]: namespaces, sockets, acks, binary attachments, rooms, broadcasts and
//!   connection-state recovery on top of it.
//!
//! - [`Metrics`]: the `metrics` handles its figures are recorded through, which the
//!   application gives it (none by default).
//!
//! It knows nothing of the chat, the database or the cluster: `confab-node` plugs in its
//! namespace handler and its bus. Packets are encoded and decoded by `confab-protocol`.

pub mod engineio;
mod metrics;
pub mod socketio;

// `self::`: the `metrics` crate shares the module's name.
pub use self::metrics::Metrics;
