//! Long-polling without sticky sessions.
//!
//! In a cluster every session id names the node that holds the session ([`Sid::owner`]). A
//! polling GET or POST that a load balancer sends to another node is forwarded to the owner
//! as a bus request on the owner's polling subject; the owner runs it against the session
//! exactly as if it had arrived there and answers with the HTTP reply, which the receiving
//! node sends back to the client. Round-robin balancing therefore works for polling
//! clients. A WebSocket (or an upgrade probe) for another node's session cannot be relayed
//! this way: it is refused as an unknown session, and the client keeps polling.
//!
//! A GET may wait on the owner for up to a ping interval, so a forwarded request may take
//! that long plus the ping timeout before the receiving node gives up. When the owner is
//! gone (no responders) or does not answer in time, the client is told its session is
//! unknown and opens a new one, then catches up with `sync`.

use std::sync::{Arc, Weak};
use std::time::Duration;

use actix_web::http::{Method, StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, web};
use bytes::Bytes;
use confab_cluster::{Bus, BusError, Headers, Keys};
use confab_protocol::cluster::{EnvelopeError, PollMethod, PollReply, PollRequest};

use super::http::{self, EngineError, PostBody};
use super::{Engine, HandlerFactory, Sid};

/// How long to wait before subscribing again after the bus refused.
const RESUBSCRIBE_AFTER: Duration = Duration::from_secs(1);

/// This node's id and the bus that polling requests travel on.
#[derive(Debug)]
pub(super) struct Forwarding {
    node_id: Arc<str>,
    bus: Arc<dyn Bus>,
    keys: Keys,
}

impl Forwarding {
    /// The node id that new session ids name.
    pub(super) fn node_id(&self) -> &str {
        &self.node_id
    }
}

/// Why a forwarded request got no usable answer.
#[derive(Debug, thiserror::Error)]
enum ForwardError {
    #[error(transparent)]
    Bus(#[from] BusError),
    #[error("undecodable polling reply: {0}")]
    Decode(#[from] EnvelopeError),
}

impl<F: HandlerFactory> Engine<F> {
    /// Names `node_id` in every new session id, forwards polling requests for other nodes'
    /// sessions to them over `bus`, and answers the requests they forward here. Call once,
    /// before serving (later calls change nothing).
    pub fn forward_polling(self: &Arc<Self>, node_id: &str, bus: Arc<dyn Bus>, keys: Keys) {
        let subject = keys.poll_request_subject(node_id);
        let forwarding = Forwarding {
            node_id: node_id.into(),
            bus: bus.clone(),
            keys,
        };
        if self.forwarding.set(forwarding).is_ok() {
            actix_web::rt::spawn(answer_forwarded(Arc::downgrade(self), bus, subject));
        }
    }
}

/// Forwards a polling request for session `sid` to the node that owns it. `None` when the
/// request is not another node's to answer (no forwarding configured, no owner named, the
/// owner is this node, a method polling does not use).
pub(super) async fn forward<F: HandlerFactory>(
    engine: &Engine<F>,
    req: &HttpRequest,
    body: web::Payload,
    sid: &str,
) -> Option<HttpResponse> {
    let forwarding = engine.forwarding.get()?;
    let owner = Sid::owner(sid).filter(|owner| *owner != *forwarding.node_id)?;
    let (method, body) = match *req.method() {
        Method::GET => (PollMethod::Get, Bytes::new()),
        Method::POST => match http::read_post(req, body, engine.config.max_payload).await {
            Ok(PostBody::Binary) => (PollMethod::Post { binary: true }, Bytes::new()),
            Ok(PostBody::Text(data)) => (PollMethod::Post { binary: false }, data),
            Err(response) => return Some(response),
        },
        _ => return None,
    };
    let request = PollRequest {
        sid: sid.to_owned(),
        method,
        body,
    };
    let timeout = engine.config.ping_interval + engine.config.ping_timeout;
    let subject = forwarding.keys.poll_request_subject(&owner);
    let answer = async {
        let payload = forwarding
            .bus
            .request(&subject, request.encode(), Headers::new(), timeout)
            .await?;
        Ok::<_, ForwardError>(PollReply::decode(&payload)?)
    };
    Some(match answer.await {
        Ok(reply) => {
            metrics::counter!("confab_polling_forwarded_total", "result" => "ok").increment(1);
            replay(reply)
        }
        Err(error) => {
            metrics::counter!("confab_polling_forwarded_total", "result" => "failed").increment(1);
            tracing::info!(%error, %owner, "forwarding a polling request failed; the session is treated as gone");
            EngineError::UnknownSid.response()
        }
    })
}

/// The owner's reply as this node's HTTP response.
fn replay(reply: PollReply) -> HttpResponse {
    let status = StatusCode::from_u16(reply.status).unwrap_or(StatusCode::BAD_GATEWAY);
    let mut response = HttpResponse::build(status);
    if let Some(content_type) = reply.content_type {
        response.insert_header((header::CONTENT_TYPE, content_type));
    }
    response
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(reply.body)
}

/// Answers the polling requests other nodes forward for sessions held here, until the
/// engine is dropped. The subscription is renewed whenever the bus ends or refuses it.
async fn answer_forwarded<F: HandlerFactory>(
    engine: Weak<Engine<F>>,
    bus: Arc<dyn Bus>,
    subject: String,
) {
    while engine.strong_count() > 0 {
        let mut subscription = match bus.subscribe(&subject).await {
            Ok(subscription) => subscription,
            Err(error) => {
                tracing::warn!(%error, %subject, "cannot subscribe to forwarded polling requests; retrying");
                tokio::time::sleep(RESUBSCRIBE_AFTER).await;
                continue;
            }
        };
        while let Some(message) = subscription.next_message().await {
            let Some(engine) = engine.upgrade() else {
                return;
            };
            let Some(reply_to) = message.reply else {
                continue;
            };
            let bus = bus.clone();
            actix_web::rt::spawn(async move {
                let reply = answer(&engine, &message.payload).await;
                if let Err(error) = bus.respond(&reply_to, reply, Headers::new()).await {
                    tracing::warn!(%error, "answering a forwarded polling request failed");
                }
            });
        }
    }
}

/// Runs a forwarded request against the local session and encodes the HTTP reply.
async fn answer<F: HandlerFactory>(engine: &Engine<F>, payload: &Bytes) -> Bytes {
    let response = match PollRequest::decode(payload) {
        Err(error) => {
            tracing::warn!(%error, "undecodable forwarded polling request");
            EngineError::BadRequest.response()
        }
        Ok(request) => match (engine.session(&request.sid), request.method) {
            (None, PollMethod::Get) => http::farewell(engine, &request.sid)
                .unwrap_or_else(|| EngineError::UnknownSid.response()),
            (None, PollMethod::Post { .. }) => EngineError::UnknownSid.response(),
            (Some(session), PollMethod::Get) => http::poll(session).await,
            (Some(session), PollMethod::Post { binary: true }) => http::refuse_binary(&session),
            (Some(session), PollMethod::Post { binary: false }) => {
                http::post(session, &request.body).await
            }
        },
    };
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned);
    // The bodies built here are in memory: reading them cannot fail.
    let body = actix_web::body::to_bytes(response.into_body())
        .await
        .unwrap_or_default();
    PollReply {
        status,
        content_type,
        body,
    }
    .encode()
}
