//! The HTTP face of an Engine.IO server: one route (e.g. `/socket.io/`) taking the
//! handshake, polling GETs and POSTs, WebSocket connections and upgrades, with the
//! protocol's error replies and CORS.

use std::convert::Infallible;
use std::sync::Arc;

use actix_web::http::header;
use actix_web::http::{Method, StatusCode, Version};
use actix_web::{HttpRequest, HttpResponse, web};
use bytes::{Bytes, BytesMut};
use confab_protocol::engineio::{self, Handshake, Packet};
use futures_util::StreamExt;
use serde::Deserialize;
use serde_json::json;
use tokio::sync::oneshot::error::TryRecvError;

use super::admission::{Refused, client_address};
use super::connection::{Abort, CloseReason, ConnectionActor, Poll, PollData, PollError};
use super::cors::add_cors;
use super::forward;
use super::websocket::WsWriter;
use super::{Engine, HandlerFactory, Sid};

/// What a refused handshake's `Retry-After` says, in seconds.
pub(super) const RETRY_AFTER_SECS: &str = "5";

/// The error replies Engine.IO defines: HTTP 400 with `{"code": N, "message": ...}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum EngineError {
    UnknownTransport = 0,
    UnknownSid = 1,
    BadHandshakeMethod = 2,
    BadRequest = 3,
    UnsupportedProtocolVersion = 5,
}

impl EngineError {
    pub(super) fn message(self) -> &'static str {
        match self {
            Self::UnknownTransport => "Transport unknown",
            Self::UnknownSid => "Session ID unknown",
            Self::BadHandshakeMethod => "Bad handshake method",
            Self::BadRequest => "Bad request",
            Self::UnsupportedProtocolVersion => "Unsupported protocol version",
        }
    }

    pub(super) fn response(self) -> HttpResponse {
        HttpResponse::BadRequest()
            .content_type("application/json")
            .body(json!({"code": self as u8, "message": self.message()}).to_string())
    }

    /// The reply to a WebSocket upgrade refused before it is accepted: the message alone,
    /// as `text/html`, and the connection closed.
    fn upgrade_response(self) -> HttpResponse {
        HttpResponse::BadRequest()
            .content_type("text/html")
            .insert_header((header::CONNECTION, "close"))
            .body(self.message())
    }
}

#[derive(Debug, Deserialize)]
struct EngineQuery {
    #[serde(rename = "EIO")]
    eio: Option<String>,
    transport: Option<String>,
    sid: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum TransportKind {
    Polling,
    WebSocket,
}

/// Serves `engine` at `path` (any method; the handler sorts them out).
pub fn configure<F: HandlerFactory>(
    cfg: &mut web::ServiceConfig,
    path: &str,
    engine: Arc<Engine<F>>,
) {
    cfg.service(engine_route(path, engine));
}

/// The route serving `engine` at `path`, to mount where the caller wants.
pub fn engine_route<F: HandlerFactory>(path: &str, engine: Arc<Engine<F>>) -> actix_web::Resource {
    web::resource(path)
        .app_data(web::Data::from(engine))
        .to(handle::<F>)
}

async fn handle<F: HandlerFactory>(
    req: HttpRequest,
    body: web::Payload,
    engine: web::Data<Engine<F>>,
) -> HttpResponse {
    let engine = engine.into_inner();
    let mut response = dispatch(&req, body, &engine).await;
    add_cors(&req, &engine.config, &mut response);
    response
}

/// Where a request to the engine goes, decided in the reference server's order:
/// transport, then the session (or, for a handshake, the method, the upgrade and the
/// protocol version). The same for plain requests and for WebSocket upgrades.
pub(super) enum Route<H: super::SessionHandler> {
    /// A CORS preflight.
    Preflight,
    /// Refused with one of the protocol's errors.
    Refuse(EngineError),
    /// A session this server does not hold (it may have closed, or be another node's).
    Unknown(TransportKind, String),
    /// A request of an open session.
    Existing(TransportKind, actix::Addr<ConnectionActor<H>>),
    /// A handshake while the server stops.
    Draining,
    /// A handshake for another protocol version than 4.
    OldVersion(TransportKind),
    /// A handshake to accept.
    Open(TransportKind),
}

impl<F: HandlerFactory> Engine<F> {
    /// Where a request with `method` and `query` (and an `Upgrade: websocket` header when
    /// `upgrade`) goes.
    pub(super) fn route(&self, method: &Method, query: &str, upgrade: bool) -> Route<F::Handler> {
        if method == Method::OPTIONS {
            return Route::Preflight;
        }
        let Ok(query) = web::Query::<EngineQuery>::from_query(query) else {
            return Route::Refuse(EngineError::BadRequest);
        };
        let transport = match query.transport.as_deref() {
            Some("polling") => TransportKind::Polling,
            Some("websocket") => TransportKind::WebSocket,
            _ => return Route::Refuse(EngineError::UnknownTransport),
        };
        if let Some(sid) = query.sid.as_deref() {
            return match self.session(sid) {
                Some(session) => Route::Existing(transport, session),
                None => Route::Unknown(transport, sid.to_owned()),
            };
        }
        if method != Method::GET {
            return Route::Refuse(EngineError::BadHandshakeMethod);
        }
        if self.is_draining() {
            return Route::Draining;
        }
        if transport == TransportKind::WebSocket && !upgrade {
            return Route::Refuse(EngineError::BadRequest);
        }
        if query.eio.as_deref() != Some("4") {
            return Route::OldVersion(transport);
        }
        Route::Open(transport)
    }

    /// Counts a new session `sid` from `address` in, or says why not.
    pub(super) fn admit(&self, sid: &Sid, address: String) -> Result<(), Refused> {
        let config = &self.config;
        let caps = (config.max_sessions_per_address, config.max_sessions);
        let admitted = self.admission.admit(sid, address, caps);
        if admitted.is_err() {
            config.metrics.sessions_refused.increment(1);
        }
        admitted
    }
}

/// Serves a plain (not upgraded) request. WebSockets are taken over before they get here
/// (see [`super::WebSockets`]); an upgrade that does get here is refused.
async fn dispatch<F: HandlerFactory>(
    req: &HttpRequest,
    body: web::Payload,
    engine: &Arc<Engine<F>>,
) -> HttpResponse {
    if is_websocket_upgrade(req) {
        return EngineError::BadRequest.upgrade_response();
    }
    match engine.route(req.method(), req.query_string(), false) {
        Route::Preflight => HttpResponse::NoContent().finish(),
        Route::Refuse(error) => error.response(),
        Route::Unknown(TransportKind::Polling, sid) => {
            if req.method() == Method::GET
                && let Some(response) = farewell(engine, &sid)
            {
                return response;
            }
            // A polling request for a session of another node goes to that node.
            match forward::forward(engine, req, body, &sid).await {
                Some(response) => response,
                None => EngineError::UnknownSid.response(),
            }
        }
        Route::Unknown(TransportKind::WebSocket, _) => EngineError::UnknownSid.response(),
        Route::Existing(TransportKind::Polling, session) => match *req.method() {
            // An HTTP/1.0 client cannot take a chunked body: its GET gets its whole answer.
            Method::GET => poll(session, req.version() >= Version::HTTP_11).await,
            Method::POST => match read_post(req, body, engine.config.max_payload).await {
                Ok(PostBody::Binary) => refuse_binary(&session),
                Ok(PostBody::Text(data)) => post(session, &data).await,
                Err(response) => response,
            },
            // The reference's polling transport answers other methods with a bare 500.
            _ => HttpResponse::build(StatusCode::INTERNAL_SERVER_ERROR).finish(),
        },
        // A stopping node takes no new sessions: the client retries, and the load balancer
        // (which sees /readyz 503) sends it to another node.
        Route::Draining => HttpResponse::ServiceUnavailable().finish(),
        Route::OldVersion(TransportKind::Polling) => {
            EngineError::UnsupportedProtocolVersion.response()
        }
        Route::Open(TransportKind::Polling) => open_polling(req, engine),
        Route::Existing(TransportKind::WebSocket, _)
        | Route::OldVersion(TransportKind::WebSocket)
        | Route::Open(TransportKind::WebSocket) => EngineError::BadRequest.response(),
    }
}

fn is_websocket_upgrade(req: &HttpRequest) -> bool {
    req.headers()
        .get(header::UPGRADE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.eq_ignore_ascii_case("websocket"))
}

pub(super) fn handshake<F: HandlerFactory>(
    engine: &Engine<F>,
    sid: &Sid,
    upgrades: &[&str],
) -> Packet {
    let config = &engine.config;
    Packet::Open(Handshake {
        sid: sid.to_string(),
        upgrades: upgrades
            .iter()
            .map(|upgrade| (*upgrade).to_owned())
            .collect(),
        ping_interval: config.ping_interval.as_millis() as u64,
        ping_timeout: config.ping_timeout.as_millis() as u64,
        max_payload: config.max_payload as u64,
    })
}

/// Starts the session's actor on this thread and registers it.
pub(super) fn start_session<F: HandlerFactory>(
    engine: &Arc<Engine<F>>,
    sid: Sid,
    websocket: Option<(WsWriter, u64)>,
) -> actix::Addr<ConnectionActor<F::Handler>> {
    let registry = Arc::downgrade(engine);
    let unregister = Arc::new(move |sid: &Sid, farewell: Option<Bytes>| {
        if let Some(engine) = registry.upgrade() {
            engine.remove(sid, farewell);
        }
    });
    let handler = engine.factory.create(&sid);
    let actor = ConnectionActor::new(
        sid.clone(),
        engine.config.clone(),
        websocket,
        unregister,
        handler,
    );
    let session = actor.open();
    engine.insert(sid, session.clone());
    session
}

fn open_polling<F: HandlerFactory>(req: &HttpRequest, engine: &Arc<Engine<F>>) -> HttpResponse {
    let sid = engine.new_sid();
    let address = client_address(req, engine.config.trust_forwarded_for);
    if let Err(refused) = engine.admit(&sid, address) {
        let (status, body) = refused.reply();
        return HttpResponse::build(status)
            .content_type("application/json")
            .insert_header((header::RETRY_AFTER, RETRY_AFTER_SECS))
            .body(body);
    }
    let mut body = Vec::new();
    handshake(engine, &sid, &["websocket"]).encode_text_into(&mut body);
    let mut response = polling_response("text/plain; charset=UTF-8");
    if let Some(cookie) = &engine.config.cookie {
        response.insert_header((
            header::SET_COOKIE,
            format!("{cookie}={sid}; Path=/; HttpOnly; SameSite=Lax"),
        ));
    }
    start_session(engine, sid, None);
    response.body(body)
}

/// A successful polling reply: 200, `content_type`, and never cached.
pub(super) fn polling_response(content_type: &'static str) -> actix_web::HttpResponseBuilder {
    let mut response = HttpResponse::Ok();
    response
        .content_type(content_type)
        .insert_header((header::CACHE_CONTROL, "no-store"));
    response
}

/// The last payload of a polling session closed meanwhile, for its next GET.
pub(super) fn farewell<F: HandlerFactory>(engine: &Engine<F>, sid: &str) -> Option<HttpResponse> {
    let body = engine.take_farewell(sid)?;
    Some(polling_response("text/plain; charset=UTF-8").body(body))
}

/// The reply to a polling request the session could not take.
fn poll_error(error: PollError) -> HttpResponse {
    match error {
        // The reference answers the second GET with a bare 400 (the first gets `close`).
        PollError::Overlap => HttpResponse::BadRequest().finish(),
        PollError::Closed => EngineError::UnknownSid.response(),
        PollError::NotPolling => EngineError::BadRequest.response(),
    }
}

/// A polling GET: the session's next packets.
///
/// A GET the session answers at once (what it buffered, or a refusal) gets its whole reply.
/// One that has to wait gets, when `chunked` is allowed, its status and headers at once and
/// its body, chunked, when the session has something: the request itself is then let go
/// (actix-http keeps a request's head, 6.5 KB of header map, for as long as its handler
/// runs), so an idle polling session holds only its connection and the wait. Its HTTP
/// metrics then time the answer's start, not the wait.
pub(super) async fn poll<H: super::SessionHandler>(
    session: actix::Addr<ConnectionActor<H>>,
    chunked: bool,
) -> HttpResponse {
    let (reply, mut answer) = tokio::sync::oneshot::channel();
    if session.send(Poll { reply }).await.is_err() {
        return EngineError::UnknownSid.response();
    }
    // The session has handled the GET: it answered, or keeps the reply for later.
    match answer.try_recv() {
        Ok(Ok(body)) => polling_response("text/plain; charset=UTF-8").body(body),
        Ok(Err(error)) => poll_error(error),
        Err(TryRecvError::Closed) => EngineError::UnknownSid.response(),
        Err(TryRecvError::Empty) => {
            // A waiting GET is only ever answered with a payload. A session gone without
            // answering (its node stopping) is closed for the client too.
            let body = async move {
                match answer.await {
                    Ok(Ok(body)) => body,
                    _ => Bytes::from_static(b"1"),
                }
            };
            let mut response = polling_response("text/plain; charset=UTF-8");
            if chunked {
                response.streaming(futures_util::stream::once(async move {
                    Ok::<_, Infallible>(body.await)
                }))
            } else {
                response.body(body.await)
            }
        }
    }
}

/// The body of a polling POST, as far as the session needs to know it.
pub(super) enum PostBody {
    /// Declared `application/octet-stream` (Engine.IO v3 only): not read.
    Binary,
    /// The payload.
    Text(Bytes),
}

/// Reads a polling POST's body. Over `max_payload` bytes: a bare 413 (and the session
/// lives on); a broken body: 400.
pub(super) async fn read_post(
    req: &HttpRequest,
    mut body: web::Payload,
    max_payload: usize,
) -> Result<PostBody, HttpResponse> {
    let binary = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| {
            value
                .trim()
                .eq_ignore_ascii_case("application/octet-stream")
        });
    if binary {
        return Ok(PostBody::Binary);
    }
    let mut data = BytesMut::new();
    while let Some(chunk) = body.next().await {
        let Ok(chunk) = chunk else {
            return Err(EngineError::BadRequest.response());
        };
        if data.len() + chunk.len() > max_payload {
            return Err(HttpResponse::build(StatusCode::PAYLOAD_TOO_LARGE).finish());
        }
        data.extend_from_slice(&chunk);
    }
    Ok(PostBody::Text(data.freeze()))
}

/// A binary polling POST: a bare 400, and the session is closed.
pub(super) fn refuse_binary<H: super::SessionHandler>(
    session: &actix::Addr<ConnectionActor<H>>,
) -> HttpResponse {
    session.do_send(Abort(CloseReason::ProtocolError));
    HttpResponse::BadRequest().finish()
}

/// A polling POST's payload. Undecodable packets: the ones before are delivered, the POST
/// is answered `ok`, the session closes.
pub(super) async fn post<H: super::SessionHandler>(
    session: actix::Addr<ConnectionActor<H>>,
    data: &[u8],
) -> HttpResponse {
    let (packets, invalid) = decode_until_invalid(data);
    match session.send(PollData { packets, invalid }).await {
        Ok(Ok(())) => polling_response("text/html").body(Bytes::from_static(b"ok")),
        Ok(Err(error)) => poll_error(error),
        Err(_) => EngineError::UnknownSid.response(),
    }
}

/// Decodes a polling payload packet by packet, stopping at the first undecodable one (as
/// the reference parser does); returns the packets before it and whether there was one.
fn decode_until_invalid(body: &[u8]) -> (Vec<Packet>, bool) {
    let Ok(text) = std::str::from_utf8(body) else {
        return (Vec::new(), true);
    };
    let mut packets = Vec::new();
    for encoded in text.split(char::from(engineio::RECORD_SEPARATOR)) {
        match Packet::decode_text(encoded) {
            Ok(packet) => packets.push(packet),
            Err(_) => return (packets, true),
        }
    }
    (packets, false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_payload_is_decoded_up_to_its_first_bad_packet() {
        let (packets, invalid) = decode_until_invalid(b"4a\x1e2\x1eabc\x1e4b");
        assert_eq!(
            packets,
            [Packet::Message("a".into()), Packet::Ping(String::new())]
        );
        assert!(invalid);
    }

    #[test]
    fn a_good_payload_is_decoded_whole() {
        let (packets, invalid) = decode_until_invalid(b"4a\x1ebAQI=");
        assert_eq!(
            packets,
            [
                Packet::Message("a".into()),
                Packet::Binary(Bytes::from_static(&[1, 2]))
            ]
        );
        assert!(!invalid);
    }

    #[test]
    fn non_utf8_and_empty_payloads_are_invalid() {
        assert_eq!(decode_until_invalid(&[0x34, 0xff]), (Vec::new(), true));
        assert_eq!(decode_until_invalid(b""), (Vec::new(), true));
    }
}
