//! WebSockets taken over from actix-http once upgraded, and the HTTP server that does it.
//!
//! actix-http's HTTP/1 connection keeps two 8 KiB buffers for as long as it lives, which
//! for a WebSocket served as a streaming response is its whole life: two thirds of an idle
//! connection's memory. [`serve`] builds the server with actix-http's upgrade hook
//! instead: a request with `Connection: upgrade` is handed over with its socket, the
//! engine at the request's path answers it (the 101 and the first packet, or the
//! protocol's refusal) and a [`WsConnection`] task owns the socket from then on, while
//! the HTTP/1 connection, its buffers and its task end. Every other request goes to the
//! actix-web `App` as before.
//!
//! What differs from serving the upgrade through the `App`: an upgrade to a path without
//! an engine is answered 404, and no upgrade passes through the `App`'s middleware (its
//! HTTP metrics, say); a polling request that carries `Upgrade: websocket` is refused
//! (400), as is an upgrade that is not a valid WebSocket handshake; refusals are
//! `text/html` (JSON for the session caps) and carry no CORS headers, which browsers do
//! not ask of WebSockets.

use std::future::Future;
use std::net::TcpListener;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use actix::Addr;
use actix_codec::{AsyncRead, AsyncWrite, Framed};
use actix_http::ws::{Parser, hash_key};
use actix_http::{HttpMessage, HttpService, Request, h1};
use actix_server::Server;
use actix_service::{
    IntoServiceFactory, ServiceFactory, ServiceFactoryExt, fn_service, map_config,
};
use actix_web::dev::AppConfig;
use actix_web::http::header::{self, HeaderValue};
use actix_web::http::{Method, StatusCode};
use bytes::BytesMut;
use tokio::io::AsyncWriteExt;

use super::admission::address_of;
use super::connection::{ConnectionActor, StartProbe};
use super::http::{EngineError, RETRY_AFTER_SECS, Route, TransportKind, handshake, start_session};
use super::websocket::{OpenTransport, WsConnection, WsOutput, WsWriter};
use super::{Engine, HandlerFactory};

/// Numbers WebSocket transports so a session can tell its current one from a probe.
static NEXT_TRANSPORT_ID: AtomicU64 = AtomicU64::new(1);

/// A connection's socket, plain or TLS.
pub(super) trait Io: AsyncRead + AsyncWrite + Unpin + 'static {}

impl<T: AsyncRead + AsyncWrite + Unpin + 'static> Io for T {}

type Accept = dyn Fn(Request, Handed) -> Pin<Box<dyn Future<Output = ()>>> + Send + Sync;

/// An upgraded connection, as actix-http hands it over.
struct Handed {
    io: Box<dyn Io>,
    /// What the client sent after its upgrade request (it may not wait for the 101).
    input: BytesMut,
    /// What actix-http had not written yet (the response to a request pipelined before
    /// the upgrade): written before anything else.
    output: BytesMut,
}

/// The engines whose WebSockets a server takes over, by path (the path they are mounted
/// at with [`super::engine_route`]). An upgrade to any other path is answered 404.
#[derive(Clone, Default)]
pub struct WebSockets {
    routes: Vec<(Arc<str>, Arc<Accept>)>,
}

impl std::fmt::Debug for WebSockets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let paths: Vec<&str> = self.routes.iter().map(|(path, _)| &**path).collect();
        f.debug_struct("WebSockets").field("paths", &paths).finish()
    }
}

impl WebSockets {
    /// No engine yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Takes over the WebSockets of `engine`, served at `path`.
    pub fn route<F: HandlerFactory>(mut self, path: &str, engine: Arc<Engine<F>>) -> Self {
        let accept = move |req: Request, handed: Handed| {
            let engine = engine.clone();
            Box::pin(async move { engine.take_over(req, handed).await })
                as Pin<Box<dyn Future<Output = ()>>>
        };
        self.routes.push((path.into(), Arc::new(accept)));
        self
    }

    /// Answers an upgrade request that came with its connection.
    async fn accept<T: Io>(&self, req: Request, framed: Framed<T, h1::Codec>) {
        // The HTTP/1 buffers go with the HTTP/1 connection; only what they hold is kept.
        let parts = framed.into_parts();
        let handed = Handed {
            io: Box::new(parts.io),
            input: BytesMut::from(&parts.read_buf[..]),
            output: BytesMut::from(&parts.write_buf[..]),
        };
        let route = self.routes.iter().find(|(path, _)| **path == *req.path());
        match route {
            Some((_, accept)) => accept(req, handed).await,
            None => {
                let not_found = (StatusCode::NOT_FOUND, "text/plain", &[][..], "Not found");
                handed.reply(not_found).await;
            }
        }
    }
}

/// How [`serve`] runs the server.
#[derive(Debug, Clone, Default)]
pub struct ServerOptions {
    /// Worker threads; 0 for one per core.
    pub workers: usize,
    /// Seconds a stopping server gives open requests to finish.
    pub shutdown_timeout: u64,
    /// Serve HTTPS/WSS with this configuration instead of plain HTTP.
    pub tls: Option<rustls::ServerConfig>,
}

/// What actix-web's `HttpServer` gives a client to send its request head, and to end its
/// connection once the response is sent.
const CLIENT_REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
const CLIENT_DISCONNECT_TIMEOUT: Duration = Duration::from_secs(1);

/// Builds the HTTP service of one worker: `app` for requests, `websockets` for upgrades.
macro_rules! http_service {
    ($app:expr, $websockets:expr, $graceful:expr) => {{
        let websockets = $websockets.clone();
        let graceful = $graceful.clone();
        HttpService::build()
            .graceful_shutdown_signal(move || {
                let signal = graceful.clone();
                async move { signal.notified().await }
            })
            .client_request_timeout(CLIENT_REQUEST_TIMEOUT)
            .client_disconnect_timeout(CLIENT_DISCONNECT_TIMEOUT)
            .upgrade(fn_service(move |(req, framed)| {
                let websockets = websockets.clone();
                async move {
                    websockets.accept(req, framed).await;
                    Ok::<_, actix_http::Error>(())
                }
            }))
            .finish(map_config(
                $app()
                    .into_factory()
                    .map_err(|error| error.into().error_response()),
                |()| AppConfig::default(),
            ))
    }};
}

/// Serves `app` (an actix-web application factory, as for `HttpServer::new`) on
/// `listener`, with the WebSockets of `websockets` taken over after their upgrade.
///
/// The application sees actix-web's default `AppConfig` (host `localhost:8080`, not
/// secure): build no URL from it. Signals are not handled; stop the server through its
/// handle.
pub fn serve<F, I, S, B>(
    listener: TcpListener,
    app: F,
    websockets: WebSockets,
    options: ServerOptions,
) -> std::io::Result<Server>
where
    F: Fn() -> I + Send + Clone + 'static,
    I: IntoServiceFactory<S, Request>,
    S: ServiceFactory<Request, Config = AppConfig> + 'static,
    S::Error: Into<actix_web::Error> + 'static,
    S::InitError: std::fmt::Debug,
    S::Response: Into<actix_http::Response<B>> + 'static,
    <S::Service as actix_service::Service<Request>>::Future: 'static,
    S::Service: 'static,
    B: actix_http::body::MessageBody + 'static,
{
    let mut builder = Server::build()
        .disable_signals()
        .shutdown_timeout(options.shutdown_timeout);
    if options.workers > 0 {
        builder = builder.workers(options.workers);
    }
    let graceful = builder.graceful_shutdown_signal();
    let builder = match options.tls {
        Some(tls) => builder.listen("confab-https", listener, move || {
            http_service!(app, websockets, graceful).rustls_0_23(tls.clone())
        })?,
        None => builder.listen("confab-http", listener, move || {
            http_service!(app, websockets, graceful).tcp()
        })?,
    };
    Ok(builder.run())
}

impl<F: HandlerFactory> Engine<F> {
    /// Answers a WebSocket upgrade, as the reference server does for each route.
    async fn take_over(self: Arc<Self>, req: Request, handed: Handed) {
        let query = req.uri().query().unwrap_or_default();
        match self.route(req.method(), query, true) {
            Route::Refuse(error) => handed.refuse(error).await,
            Route::Unknown(..) => handed.refuse(EngineError::UnknownSid).await,
            Route::Existing(TransportKind::WebSocket, session) if req.method() == Method::GET => {
                let Some(accepted) = accept_head(&req) else {
                    return handed.refuse(EngineError::BadRequest).await;
                };
                let (writer, output) = self.writer();
                let id = NEXT_TRANSPORT_ID.fetch_add(1, Ordering::Relaxed);
                // Counted before the session knows it, so that a stopping server that
                // sees no session left still waits for this connection's close frame.
                let open = self.transports.opened();
                // A refused writer has been closed by the session: the connection writes
                // the close frame and ends.
                let _ = session.send(StartProbe { writer, id }).await;
                self.serve_websocket(handed, &accepted, output, (session, id), open);
            }
            Route::Draining => {
                let unavailable = (StatusCode::SERVICE_UNAVAILABLE, "text/plain", &[][..], "");
                handed.reply(unavailable).await;
            }
            Route::OldVersion(TransportKind::WebSocket) => handed.accept_and_close(&req).await,
            Route::OldVersion(TransportKind::Polling) => {
                handed.refuse(EngineError::UnsupportedProtocolVersion).await;
            }
            Route::Open(TransportKind::WebSocket) => self.open(&req, handed).await,
            Route::Preflight | Route::Existing(..) | Route::Open(TransportKind::Polling) => {
                handed.refuse(EngineError::BadRequest).await;
            }
        }
    }

    /// A new session on a WebSocket.
    async fn open(self: &Arc<Self>, req: &Request, handed: Handed) {
        let Some(accepted) = accept_head(req) else {
            return handed.refuse(EngineError::BadRequest).await;
        };
        let sid = self.new_sid();
        let address = address_of(
            req.headers(),
            req.peer_addr(),
            self.config.trust_forwarded_for,
        );
        if let Err(refused) = self.admit(&sid, address) {
            let (status, body) = refused.reply();
            let retry = [("retry-after", RETRY_AFTER_SECS)];
            return handed
                .reply((status, "application/json", &retry, &body))
                .await;
        }
        let (mut writer, output) = self.writer();
        // The writer is empty: the handshake always fits.
        let _ = writer.send(handshake(self, &sid, &[]).to_frame());
        let id = NEXT_TRANSPORT_ID.fetch_add(1, Ordering::Relaxed);
        let open = self.transports.opened();
        let session = start_session(self, sid, Some((writer, id)));
        self.serve_websocket(handed, &accepted, output, (session, id), open);
    }

    /// Spawns the task that serves WebSocket `id` of `session` on `handed`, after the
    /// 101 `accepted`, counted by `open`.
    fn serve_websocket(
        &self,
        handed: Handed,
        accepted: &[u8],
        output: WsOutput,
        session: (Addr<ConnectionActor<F::Handler>>, u64),
        open: OpenTransport,
    ) {
        let mut head = handed.output;
        head.extend_from_slice(accepted);
        let connection = WsConnection::new(
            handed.io,
            &head,
            &handed.input,
            output,
            session,
            self.config.max_payload,
            open,
        );
        actix_web::rt::spawn(connection);
    }

    /// A writer for a session's WebSocket, bounded as the settings say.
    fn writer(&self) -> (WsWriter, WsOutput) {
        WsWriter::new(
            self.config.max_buffered_frames,
            self.config.max_buffered_bytes,
        )
    }
}

/// The 101 accepting a valid WebSocket upgrade request; `None` if it is not one.
fn accept_head(req: &Request) -> Option<Vec<u8>> {
    actix_http::ws::verify_handshake(req.head()).ok()?;
    let key = req.headers().get(header::SEC_WEBSOCKET_KEY)?;
    let accept = hash_key(key.as_bytes());
    let accept = HeaderValue::from_bytes(&accept).ok()?;
    let mut head = b"HTTP/1.1 101 Switching Protocols\r\n\
        upgrade: websocket\r\nconnection: upgrade\r\nsec-websocket-accept: "
        .to_vec();
    head.extend_from_slice(accept.as_bytes());
    head.extend_from_slice(b"\r\n\r\n");
    Some(head)
}

/// A plain HTTP response: status, content type, other headers, body.
type Reply<'a> = (StatusCode, &'a str, &'a [(&'a str, &'a str)], &'a str);

impl Handed {
    /// Accepts a WebSocket only to close it at once, before any packet, as the reference
    /// does with a handshake it refuses once the upgrade is done. (The reference drops the
    /// TCP connection, which the client sees as 1006; here a close frame without status
    /// code, 1005, ends it as promptly.)
    async fn accept_and_close(mut self, req: &Request) {
        let Some(head) = accept_head(req) else {
            return self.refuse(EngineError::BadRequest).await;
        };
        self.output.extend_from_slice(&head);
        Parser::write_close(&mut self.output, None, false);
        self.finish().await;
    }

    /// Refuses an upgrade request before it is accepted: the message alone, as
    /// `text/html`.
    async fn refuse(self, error: EngineError) {
        let refusal = (
            StatusCode::BAD_REQUEST,
            "text/html",
            &[][..],
            error.message(),
        );
        self.reply(refusal).await;
    }

    /// Answers an upgrade request with a plain HTTP response, and ends the connection.
    async fn reply(mut self, (status, content_type, headers, body): Reply<'_>) {
        let reason = status.canonical_reason().unwrap_or_default();
        let mut response = format!(
            "HTTP/1.1 {} {reason}\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\n\
             connection: close\r\n",
            status.as_u16(),
            body.len()
        );
        for (name, value) in headers {
            response.push_str(&format!("{name}: {value}\r\n"));
        }
        response.push_str("\r\n");
        response.push_str(body);
        self.output.extend_from_slice(response.as_bytes());
        self.finish().await;
    }

    /// Writes what is due, and ends the connection (within [`REPLY_TIMEOUT`]).
    async fn finish(mut self) {
        let written = async {
            self.io.write_all(&self.output).await?;
            self.io.shutdown().await
        };
        let _ = tokio::time::timeout(REPLY_TIMEOUT, written).await;
    }
}

/// How long an upgrade request's reply may take to be written.
const REPLY_TIMEOUT: Duration = Duration::from_secs(5);

#[cfg(test)]
mod tests {
    use actix_http::test::TestRequest;
    use tokio::io::DuplexStream;

    use super::*;
    use crate::engineio::EngineConfig;
    use crate::engineio::testing::{client_text, echo_engine, read_until, server_texts};

    /// A WebSocket upgrade request for `uri`.
    fn upgrade(uri: &str) -> Request {
        TestRequest::default()
            .uri(uri)
            .insert_header(("upgrade", "websocket"))
            .insert_header(("connection", "upgrade"))
            .insert_header(("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ=="))
            .insert_header(("sec-websocket-version", "13"))
            .finish()
    }

    const HANDSHAKE: &str = "/socket.io/?EIO=4&transport=websocket";

    /// What the server answers `req` (with `input` after it) until `done` says it is all.
    async fn answer(
        config: EngineConfig,
        req: Request,
        input: &[u8],
        done: impl Fn(&[u8]) -> bool,
    ) -> (BytesMut, DuplexStream) {
        let engine = echo_engine(config);
        let (server, mut client) = tokio::io::duplex(64 * 1024);
        let websockets = WebSockets::new().route("/socket.io/", engine);
        let codec = h1::Codec::new(Default::default());
        let parts = actix_codec::FramedParts::with_read_buf(server, codec, input.into());
        websockets.accept(req, Framed::from_parts(parts)).await;
        let mut received = BytesMut::new();
        read_until(&mut client, &mut received, done).await;
        (received, client)
    }

    fn ends_with_blank_line_and(bytes: &[u8], body: &str) -> bool {
        let text = String::from_utf8_lossy(bytes);
        text.contains("\r\n\r\n") && text.ends_with(body)
    }

    #[actix_web::test]
    async fn what_a_client_sends_right_after_its_upgrade_request_is_read() {
        let (mut received, _client) = answer(
            EngineConfig::default(),
            upgrade(HANDSHAKE),
            &client_text("4early"),
            |bytes| {
                let mut frames = BytesMut::from(bytes);
                let head = frames.windows(4).position(|w| w == b"\r\n\r\n");
                head.is_some_and(|at| {
                    let _ = frames.split_to(at + 4);
                    server_texts(&mut frames).len() == 2
                })
            },
        )
        .await;
        let text = String::from_utf8_lossy(&received).into_owned();
        assert!(text.starts_with("HTTP/1.1 101 Switching Protocols\r\n"));
        assert!(text.contains("sec-websocket-accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"));
        let head = text.find("\r\n\r\n").unwrap() + 4;
        let _ = received.split_to(head);
        let texts = server_texts(&mut received);
        assert!(texts[0].starts_with("0{\"sid\":"), "{texts:?}");
        assert_eq!(texts[1], "4early");
    }

    #[actix_web::test]
    async fn an_upgrade_to_a_path_without_an_engine_is_not_found() {
        let (received, _client) = answer(
            EngineConfig::default(),
            upgrade("/elsewhere/?EIO=4&transport=websocket"),
            b"",
            |bytes| ends_with_blank_line_and(bytes, "Not found"),
        )
        .await;
        assert!(received.starts_with(b"HTTP/1.1 404 Not Found\r\n"));
    }

    #[actix_web::test]
    async fn an_upgrade_past_the_session_cap_is_refused_with_retry_after() {
        let config = EngineConfig {
            max_sessions: 0,
            ..EngineConfig::default()
        };
        let (received, _client) = answer(config, upgrade(HANDSHAKE), b"", |bytes| {
            ends_with_blank_line_and(bytes, "}")
        })
        .await;
        let text = String::from_utf8_lossy(&received);
        assert!(
            text.starts_with("HTTP/1.1 503 Service Unavailable\r\n"),
            "{text}"
        );
        assert!(text.contains("\r\nretry-after: 5\r\n"), "{text}");
        assert!(
            text.ends_with(r#"{"code":4,"message":"Too many sessions"}"#),
            "{text}"
        );
    }

    #[actix_web::test]
    async fn a_broken_upgrade_request_is_refused_before_it_is_accepted() {
        let req = TestRequest::default()
            .uri(HANDSHAKE)
            .insert_header(("upgrade", "websocket"))
            .insert_header(("connection", "upgrade"))
            .finish();
        let (received, _client) = answer(EngineConfig::default(), req, b"", |bytes| {
            ends_with_blank_line_and(bytes, "Bad request")
        })
        .await;
        assert!(received.starts_with(b"HTTP/1.1 400 Bad Request\r\ncontent-type: text/html\r\n"));
    }
}
