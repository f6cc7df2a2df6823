//! The conformance server: Confab's Engine.IO and Socket.IO implementation configured like
//! the official protocol test suites expect, so that anyone can run
//! `socketio/engine.io-protocol` and `socketio/socket.io-protocol` against it.
//!
//! `cargo run --release -p confab-socketio --example socketio_conformance -- --port 3000`
//!
//! - `/engine.io/`: raw Engine.IO; every message, text or binary, is echoed back.
//! - `/socket.io/`: namespaces `/` and `/custom`; on connect each emits `auth` with the
//!   handshake's auth payload. On `/`: `message` is echoed as `message-back`,
//!   `message-with-ack` is acked with its arguments; and, for Confab's own compatibility
//!   tests, `join`, `to-room`, `server-ack`, `close-transport` and `broadcast-all`
//!   (see `socketio/tests/js/README.md`). A CONNECT whose auth has `refuse: true` is refused.
//! - Timers: pingInterval 300 ms, pingTimeout 200 ms, maxPayload 1000000,
//!   connectTimeout 1000 ms; connection-state recovery for 30 s with `--recovery` (off by
//!   default, as the official suites expect; Confab's own suites turn it on).
//! - `auth` is emitted on the tick after the CONNECT reply, as the reference does.

use std::time::Duration;

use actix_web::App;
use clap::Parser;
use confab_protocol::socketio::{Ack, ConnectError, Event};
use confab_socketio::engineio::{self, Engine, EngineConfig, Sid};
use confab_socketio::socketio::{NamespaceHandler, Socket, SocketIo, SocketIoConfig};
use serde_json::{Map, Value, json};

#[derive(Debug, Parser)]
struct Args {
    /// Port to listen on (127.0.0.1).
    #[arg(long, default_value_t = 3000)]
    port: u16,
    /// Turn connection-state recovery on (30 s): events then carry offsets and CONNECT
    /// replies a `pid`, which the official suites do not expect (Confab's own do).
    #[arg(long)]
    recovery: bool,
}

/// Accepts every CONNECT but those asking to be refused; keeps the auth payload.
fn authorize(auth: Option<&Map<String, Value>>) -> Result<Value, ConnectError> {
    let auth = auth.cloned().unwrap_or_default();
    if auth.get("refuse") == Some(&Value::Bool(true)) {
        return Err(ConnectError {
            message: "refused".to_owned(),
            data: Some(json!({"code": "refused"})),
        });
    }
    Ok(Value::Object(auth))
}

/// Emits `auth` with the handshake's auth payload on the next tick, as the reference server
/// does from its connection handler: after the CONNECT reply, in a write of its own (the
/// official suite listens for the event only once it has read the reply).
fn emit_auth(socket: &Socket) {
    let socket = socket.clone();
    actix::spawn(async move {
        socket.emit(Event::new("auth", vec![socket.data().clone()]));
    });
}

#[derive(Debug)]
struct Custom;

impl NamespaceHandler for Custom {
    fn authorize(&self, _: &Sid, auth: Option<&Map<String, Value>>) -> Result<Value, ConnectError> {
        authorize(auth)
    }

    fn on_connect(&self, socket: &Socket) {
        emit_auth(socket);
    }

    fn on_event(&self, _socket: &Socket, _event: Event) {}
}

#[derive(Debug)]
struct Root;

impl NamespaceHandler for Root {
    fn authorize(&self, _: &Sid, auth: Option<&Map<String, Value>>) -> Result<Value, ConnectError> {
        authorize(auth)
    }

    fn on_connect(&self, socket: &Socket) {
        emit_auth(socket);
    }

    fn on_event(&self, socket: &Socket, event: Event) {
        let ack = event.ack;
        match event.name.as_str() {
            "message" => {
                socket.emit(Event {
                    name: "message-back".to_owned(),
                    ack: None,
                    ..event
                });
            }
            "message-with-ack" => {
                if let Some(id) = ack {
                    socket.ack_with(Ack {
                        id,
                        args: event.args,
                        attachments: event.attachments,
                    });
                }
            }
            "join" => {
                if let Some(room) = event.args.first().and_then(Value::as_str) {
                    socket.join(room);
                }
                if let Some(id) = ack {
                    socket.ack(id, vec![json!(true)]);
                }
            }
            "to-room" => {
                let mut args = event.args.into_iter();
                if let Some(Value::String(room)) = args.next() {
                    let message = Event::new("room-message", args.collect());
                    socket.namespace().broadcast(Some(&room), None, message);
                }
            }
            "server-ack" => {
                let socket = socket.clone();
                actix::spawn(async move {
                    let answer = socket
                        .emit_with_ack(Event::new("ping-client", vec![]), Duration::from_secs(5))
                        .await;
                    // The ack's binary attachments go back with it.
                    let (args, attachments) = answer
                        .map(|ack| (ack.args, ack.attachments))
                        .unwrap_or_default();
                    socket.emit(Event {
                        attachments,
                        ..Event::new("client-acked", args)
                    });
                });
            }
            "close-transport" => {
                socket.close_transport();
            }
            "broadcast-all" => {
                socket
                    .namespace()
                    .broadcast(None, None, Event::new("broadcast", event.args));
            }
            _ => {}
        }
    }
}

#[actix_web::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let engine_config = EngineConfig {
        ping_interval: Duration::from_millis(300),
        ping_timeout: Duration::from_millis(200),
        max_payload: 1_000_000,
        cors_origins: vec!["*".to_owned()],
        ..EngineConfig::default()
    };
    let echo = Engine::new(engine_config.clone(), engineio::EchoFactory);
    let io = SocketIo::new(SocketIoConfig {
        connect_timeout: Duration::from_millis(1000),
        recovery_window: args.recovery.then_some(Duration::from_secs(30)),
        ..SocketIoConfig::default()
    })
    .namespace("/", Root)?
    .namespace("/custom", Custom)?
    .into_engine(engine_config);
    let websockets = engineio::WebSockets::new()
        .route("/engine.io/", echo.clone())
        .route("/socket.io/", io.clone());
    let app = move || {
        App::new()
            .service(engineio::engine_route("/engine.io/", echo.clone()))
            .service(engineio::engine_route("/socket.io/", io.clone()))
    };
    let listener = std::net::TcpListener::bind(("127.0.0.1", args.port))?;
    // One worker thread, like the single-threaded reference: requests of one client on
    // several connections are then handled in the order they arrive, which the official
    // suites' upgrade tests rely on.
    let options = engineio::ServerOptions {
        workers: 1,
        ..engineio::ServerOptions::default()
    };
    engineio::serve(listener, app, websockets, options)?.await?;
    Ok(())
}
