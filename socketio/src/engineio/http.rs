//! The HTTP face of an Engine.IO server: one route (e.g. `/socket.io/`) taking the
//! handshake, polling GETs and POSTs, WebSocket connections and upgrades, with the
//! protocol's error replies and CORS.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use actix_web::http::header;
use actix_web::http::{Method, StatusCode};
use actix_web::{HttpRequest, HttpResponse, web};
use bytes::{Bytes, BytesMut};
use confab_protocol::engineio::{self, Handshake, Packet};
use futures_util::StreamExt;
use serde::Deserialize;
use serde_json::json;

use super::admission::{Refused, client_address};
use super::connection::{
    Abort, CloseReason, ConnectionActor, Poll, PollData, PollError, StartProbe,
};
use super::cors::add_cors;
use super::forward;
use super::websocket::{WsWriter, read_frames};
use super::{Engine, HandlerFactory, Sid};

/// Numbers WebSocket transports so a session can tell its current one from a probe.
static NEXT_TRANSPORT_ID: AtomicU64 = AtomicU64::new(1);

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
    fn message(self) -> &'static str {
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
enum TransportKind {
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

/// Routes a request, checking it in the reference server's order: transport, then the
/// session (or, for a handshake, the method, the upgrade and the protocol version).
async fn dispatch<F: HandlerFactory>(
    req: &HttpRequest,
    body: web::Payload,
    engine: &Arc<Engine<F>>,
) -> HttpResponse {
    if req.method() == Method::OPTIONS {
        return HttpResponse::NoContent().finish();
    }
    let upgrade = is_websocket_upgrade(req);
    // An upgrade refused before it is accepted gets a short text/html reply, not JSON.
    let refuse = |error: EngineError| {
        if upgrade {
            error.upgrade_response()
        } else {
            error.response()
        }
    };
    let Ok(query) = web::Query::<EngineQuery>::from_query(req.query_string()) else {
        return refuse(EngineError::BadRequest);
    };
    let transport = match query.transport.as_deref() {
        Some("polling") => TransportKind::Polling,
        Some("websocket") => TransportKind::WebSocket,
        _ => return refuse(EngineError::UnknownTransport),
    };
    if let Some(sid) = query.sid.as_deref() {
        let Some(session) = engine.session(sid) else {
            if transport == TransportKind::Polling
                && req.method() == Method::GET
                && let Some(response) = farewell(engine, sid)
            {
                return response;
            }
            // A polling request for a session of another node goes to that node.
            if transport == TransportKind::Polling
                && let Some(response) = forward::forward(engine, req, body, sid).await
            {
                return response;
            }
            return refuse(EngineError::UnknownSid);
        };
        return match (transport, req.method().clone()) {
            (TransportKind::WebSocket, Method::GET) if upgrade => {
                probe(req, body, session, engine).await
            }
            (TransportKind::WebSocket, _) => EngineError::BadRequest.response(),
            (TransportKind::Polling, Method::GET) => poll(session).await,
            (TransportKind::Polling, Method::POST) => {
                match read_post(req, body, engine.config.max_payload).await {
                    Ok(PostBody::Binary) => refuse_binary(&session),
                    Ok(PostBody::Text(data)) => post(session, &data).await,
                    Err(response) => response,
                }
            }
            // The reference's polling transport answers other methods with a bare 500.
            (TransportKind::Polling, _) => {
                HttpResponse::build(StatusCode::INTERNAL_SERVER_ERROR).finish()
            }
        };
    }
    if req.method() != Method::GET {
        return EngineError::BadHandshakeMethod.response();
    }
    if engine.is_draining() {
        // A stopping node takes no new sessions: the client retries, and the load
        // balancer (which sees /readyz 503) sends it to another node.
        return HttpResponse::ServiceUnavailable().finish();
    }
    if transport == TransportKind::WebSocket && !upgrade {
        return EngineError::BadRequest.response();
    }
    if query.eio.as_deref() != Some("4") {
        // The reference checks the version only once the WebSocket is accepted, and then
        // ends it before any packet.
        return match transport {
            TransportKind::WebSocket => accept_and_close(req),
            TransportKind::Polling => EngineError::UnsupportedProtocolVersion.response(),
        };
    }
    match transport {
        TransportKind::Polling => open_polling(req, engine),
        TransportKind::WebSocket => open_websocket(req, body, engine),
    }
}

/// Counts a new session `sid` in, or gives the reply refusing it: 429 when its client
/// address holds its share of sessions, 503 when the node holds all it takes, both with
/// the protocol's error body (code 4, "Forbidden" in the reference) and `Retry-After`.
fn refuse_admission<F: HandlerFactory>(
    req: &HttpRequest,
    engine: &Engine<F>,
    sid: &Sid,
) -> Option<HttpResponse> {
    let config = &engine.config;
    let address = client_address(req, config.trust_forwarded_for);
    let caps = (config.max_sessions_per_address, config.max_sessions);
    let refused = engine.admission.admit(sid, address, caps).err()?;
    let (status, message) = match refused {
        Refused::PerAddress => (
            StatusCode::TOO_MANY_REQUESTS,
            "Too many sessions from this address",
        ),
        Refused::Total => (StatusCode::SERVICE_UNAVAILABLE, "Too many sessions"),
    };
    config.metrics.sessions_refused.increment(1);
    Some(
        HttpResponse::build(status)
            .content_type("application/json")
            .insert_header((header::RETRY_AFTER, "5"))
            .body(json!({"code": 4, "message": message}).to_string()),
    )
}

fn is_websocket_upgrade(req: &HttpRequest) -> bool {
    req.headers()
        .get(header::UPGRADE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.eq_ignore_ascii_case("websocket"))
}

fn handshake<F: HandlerFactory>(engine: &Engine<F>, sid: &Sid, upgrades: &[&str]) -> Packet {
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
fn start_session<F: HandlerFactory>(
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
    if let Some(refused) = refuse_admission(req, engine, &sid) {
        return refused;
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

fn open_websocket<F: HandlerFactory>(
    req: &HttpRequest,
    body: web::Payload,
    engine: &Arc<Engine<F>>,
) -> HttpResponse {
    let Ok(mut response) = actix_web_actors::ws::handshake(req) else {
        return EngineError::BadRequest.response();
    };
    let sid = engine.new_sid();
    if let Some(refused) = refuse_admission(req, engine, &sid) {
        return refused;
    }
    let (mut writer, stream) = session_writer(engine);
    let control = writer.control();
    if writer
        .send(&handshake(engine, &sid, &[]).to_frame())
        .is_err()
    {
        engine.admission.release(&sid);
        return HttpResponse::InternalServerError().finish();
    }
    let id = NEXT_TRANSPORT_ID.fetch_add(1, Ordering::Relaxed);
    let session = start_session(engine, sid, Some((writer, id)));
    spawn_reader(engine, body, session, control, id);
    response.streaming(stream)
}

/// A writer for a session's WebSocket, bounded as the settings say, and its body stream.
fn session_writer<F: HandlerFactory>(
    engine: &Engine<F>,
) -> (
    WsWriter,
    impl futures_util::Stream<Item = Result<Bytes, actix_web::Error>> + use<F>,
) {
    WsWriter::new(
        engine.config.max_buffered_frames,
        engine.config.max_buffered_bytes,
    )
}

/// Reads the frames of WebSocket `id` (`body`) into `session` until the socket ends.
fn spawn_reader<F: HandlerFactory>(
    engine: &Engine<F>,
    body: web::Payload,
    session: actix::Addr<ConnectionActor<F::Handler>>,
    control: WsWriter,
    id: u64,
) {
    actix_web::rt::spawn(read_frames(
        body,
        session,
        control,
        id,
        engine.config.max_payload,
    ));
}

/// Accepts a WebSocket only to close it at once, before any packet, as the reference does
/// with a handshake it refuses once the upgrade is done. (The reference drops the TCP
/// connection, which the client sees as 1006; here a close frame without status code,
/// 1005, ends it as promptly.)
fn accept_and_close(req: &HttpRequest) -> HttpResponse {
    let Ok(mut response) = actix_web_actors::ws::handshake(req) else {
        return EngineError::BadRequest.response();
    };
    let (mut writer, stream) = WsWriter::new(1, usize::MAX);
    writer.close(None);
    drop(writer);
    response.streaming(stream)
}

/// A WebSocket asking to take over polling session `session`. Refused (accepted, then
/// closed) when the session is not polling or is already being upgraded.
async fn probe<F: HandlerFactory>(
    req: &HttpRequest,
    body: web::Payload,
    session: actix::Addr<ConnectionActor<F::Handler>>,
    engine: &Arc<Engine<F>>,
) -> HttpResponse {
    let Ok(mut response) = actix_web_actors::ws::handshake(req) else {
        return EngineError::BadRequest.response();
    };
    let (writer, stream) = session_writer(engine);
    let control = writer.control();
    let id = NEXT_TRANSPORT_ID.fetch_add(1, Ordering::Relaxed);
    // A refused writer has been closed by the session; the stream then ends by itself.
    if session
        .send(StartProbe { writer, id })
        .await
        .unwrap_or(false)
    {
        spawn_reader(engine, body, session, control, id);
    }
    response.streaming(stream)
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

/// A polling GET: waits for the session's next packets.
pub(super) async fn poll<H: super::SessionHandler>(
    session: actix::Addr<ConnectionActor<H>>,
) -> HttpResponse {
    let (reply, answer) = tokio::sync::oneshot::channel();
    if session.send(Poll { reply }).await.is_err() {
        return EngineError::UnknownSid.response();
    }
    match answer.await {
        Ok(Ok(body)) => polling_response("text/plain; charset=UTF-8").body(body),
        Ok(Err(error)) => poll_error(error),
        Err(_) => EngineError::UnknownSid.response(),
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
