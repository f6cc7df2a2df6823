//! The HTTP face of an Engine.IO server: one route (e.g. `/socket.io/`) taking the
//! handshake, polling GETs and POSTs, WebSocket connections and upgrades, with the
//! protocol's error replies and CORS.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use actix::Actor;
use actix_web::http::header::{self, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::{HttpRequest, HttpResponse, web};
use bytes::{Bytes, BytesMut};
use confab_protocol::engineio::{self, Handshake, Packet};
use futures_util::StreamExt;
use serde::Deserialize;
use serde_json::json;

use super::connection::{ConnectionActor, Poll, PollData, PollError, StartProbe};
use super::websocket::{WsWriter, read_frames};
use super::{Engine, HandlerFactory, Sid};

/// Numbers WebSocket transports so a session can tell its current one from a probe.
static NEXT_TRANSPORT_ID: AtomicU64 = AtomicU64::new(1);

/// The error replies Engine.IO defines: HTTP 400 (403 for `Forbidden`) with
/// `{"code": N, "message": ...}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum EngineError {
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

    fn response(self) -> HttpResponse {
        HttpResponse::BadRequest()
            .content_type("application/json")
            .body(json!({"code": self as u8, "message": self.message()}).to_string())
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
    add_cors(&req, &engine, &mut response);
    response
}

async fn dispatch<F: HandlerFactory>(
    req: &HttpRequest,
    body: web::Payload,
    engine: &Arc<Engine<F>>,
) -> HttpResponse {
    if req.method() == Method::OPTIONS {
        return HttpResponse::NoContent().finish();
    }
    let Ok(query) = web::Query::<EngineQuery>::from_query(req.query_string()) else {
        return EngineError::BadRequest.response();
    };
    let transport = match query.transport.as_deref() {
        Some("polling") => TransportKind::Polling,
        Some("websocket") => TransportKind::WebSocket,
        _ => return EngineError::UnknownTransport.response(),
    };
    let upgrade = is_websocket_upgrade(req);
    if let Some(sid) = query.sid.as_deref() {
        let Some(session) = engine.session(sid) else {
            return EngineError::UnknownSid.response();
        };
        return match (transport, req.method().clone()) {
            (TransportKind::Polling, Method::GET) => poll(session).await,
            (TransportKind::Polling, Method::POST) => {
                post(session, body, engine.config.max_payload).await
            }
            (TransportKind::WebSocket, Method::GET) if upgrade => {
                probe(req, body, session, engine).await
            }
            _ => EngineError::BadRequest.response(),
        };
    }
    if req.method() != Method::GET {
        return EngineError::BadHandshakeMethod.response();
    }
    if query.eio.as_deref() != Some("4") {
        return EngineError::UnsupportedProtocolVersion.response();
    }
    match transport {
        TransportKind::Polling => open_polling(engine),
        TransportKind::WebSocket if upgrade => open_websocket(req, body, engine),
        TransportKind::WebSocket => EngineError::BadRequest.response(),
    }
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
    let unregister = Arc::new(move |sid: &Sid| {
        if let Some(engine) = registry.upgrade() {
            engine.remove(sid);
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
    let session = actor.start();
    engine.insert(sid, session.clone());
    session
}

fn open_polling<F: HandlerFactory>(engine: &Arc<Engine<F>>) -> HttpResponse {
    let sid = Sid::generate();
    let mut body = Vec::new();
    handshake(engine, &sid, &["websocket"]).encode_text_into(&mut body);
    let mut response = HttpResponse::Ok();
    response.content_type("text/plain; charset=UTF-8");
    if let Some(cookie) = &engine.config.cookie {
        response.insert_header((
            header::SET_COOKIE,
            format!("{cookie}={sid}; Path=/; HttpOnly; SameSite=Lax"),
        ));
    }
    start_session(engine, sid, None);
    response.body(body)
}

fn open_websocket<F: HandlerFactory>(
    req: &HttpRequest,
    body: web::Payload,
    engine: &Arc<Engine<F>>,
) -> HttpResponse {
    let Ok(mut response) = actix_web_actors::ws::handshake(req) else {
        return EngineError::BadRequest.response();
    };
    let sid = Sid::generate();
    let (mut writer, stream) = WsWriter::new(engine.config.max_buffered_frames);
    let control = writer.control();
    if writer
        .send(&handshake(engine, &sid, &[]).to_frame())
        .is_err()
    {
        return HttpResponse::InternalServerError().finish();
    }
    let id = NEXT_TRANSPORT_ID.fetch_add(1, Ordering::Relaxed);
    let session = start_session(engine, sid, Some((writer, id)));
    actix_web::rt::spawn(read_frames(
        body,
        session,
        control,
        id,
        engine.config.max_payload,
    ));
    response.streaming(stream)
}

/// A WebSocket asking to take over polling session `session`.
async fn probe<F: HandlerFactory>(
    req: &HttpRequest,
    body: web::Payload,
    session: actix::Addr<ConnectionActor<F::Handler>>,
    engine: &Arc<Engine<F>>,
) -> HttpResponse {
    let Ok(mut response) = actix_web_actors::ws::handshake(req) else {
        return EngineError::BadRequest.response();
    };
    let (writer, stream) = WsWriter::new(engine.config.max_buffered_frames);
    let control = writer.control();
    let id = NEXT_TRANSPORT_ID.fetch_add(1, Ordering::Relaxed);
    if !session
        .send(StartProbe { writer, id })
        .await
        .unwrap_or(false)
    {
        return EngineError::BadRequest.response();
    }
    actix_web::rt::spawn(read_frames(
        body,
        session,
        control,
        id,
        engine.config.max_payload,
    ));
    response.streaming(stream)
}

async fn poll<H: super::SessionHandler>(session: actix::Addr<ConnectionActor<H>>) -> HttpResponse {
    let (reply, answer) = tokio::sync::oneshot::channel();
    if session.send(Poll { reply }).await.is_err() {
        return EngineError::UnknownSid.response();
    }
    match answer.await {
        Ok(Ok(body)) => HttpResponse::Ok()
            .content_type("text/plain; charset=UTF-8")
            .body(body),
        Ok(Err(PollError::Overlap | PollError::Gone)) => EngineError::BadRequest.response(),
        Err(_) => EngineError::UnknownSid.response(),
    }
}

async fn post<H: super::SessionHandler>(
    session: actix::Addr<ConnectionActor<H>>,
    mut body: web::Payload,
    max_payload: usize,
) -> HttpResponse {
    let mut data = BytesMut::new();
    while let Some(chunk) = body.next().await {
        let Ok(chunk) = chunk else {
            return EngineError::BadRequest.response();
        };
        if data.len() + chunk.len() > max_payload {
            session.do_send(super::connection::CloseSession);
            return HttpResponse::build(StatusCode::PAYLOAD_TOO_LARGE).finish();
        }
        data.extend_from_slice(&chunk);
    }
    let packets = match engineio::decode_payload(&data) {
        Ok(packets) => packets,
        Err(_) => {
            session.do_send(super::connection::CloseSession);
            return EngineError::BadRequest.response();
        }
    };
    match session.send(PollData { packets }).await {
        Ok(Ok(())) => HttpResponse::Ok()
            .content_type("text/html")
            .body(Bytes::from_static(b"ok")),
        _ => EngineError::BadRequest.response(),
    }
}

/// Adds the CORS headers the configuration allows for this request's `Origin`.
fn add_cors<F: HandlerFactory>(req: &HttpRequest, engine: &Engine<F>, response: &mut HttpResponse) {
    let config = &engine.config;
    let Some(origin) = req.headers().get(header::ORIGIN) else {
        return;
    };
    let any = config.cors_origins.iter().any(|allowed| allowed == "*");
    let listed = origin
        .to_str()
        .is_ok_and(|origin| config.cors_origins.iter().any(|allowed| allowed == origin));
    if !any && !listed {
        return;
    }
    let headers = response.headers_mut();
    let allow_origin = if any && !config.cors_credentials {
        HeaderValue::from_static("*")
    } else {
        origin.clone()
    };
    headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, allow_origin);
    if config.cors_credentials {
        headers.insert(
            header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
            HeaderValue::from_static("true"),
        );
    }
    if req.method() == Method::OPTIONS {
        headers.insert(
            header::ACCESS_CONTROL_ALLOW_METHODS,
            HeaderValue::from_static("GET,HEAD,PUT,PATCH,POST,DELETE"),
        );
        if let Some(requested) = req.headers().get(header::ACCESS_CONTROL_REQUEST_HEADERS) {
            headers.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, requested.clone());
        }
    }
}
