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

use std::fmt;
use std::pin::Pin;
use std::sync::{Arc, Weak};
use std::time::Duration;

use actix_web::http::{Method, StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, web};
use bytes::Bytes;
use confab_protocol::cluster::{EnvelopeError, PollMethod, PollReply, PollRequest};
use futures_util::{Stream, StreamExt};

use super::http::{self, EngineError, PostBody};
use super::{Engine, HandlerFactory, Sid};

/// How long to wait before listening again after the transport refused.
const RELISTEN_AFTER: Duration = Duration::from_secs(1);

/// A polling request forwarded to this node, and where its answer goes.
#[derive(Debug)]
pub struct ForwardedPoll {
    /// The encoded request.
    pub request: Bytes,
    /// Where to send the reply ([`PollTransport::respond`]).
    pub reply_to: String,
}

/// The requests forwarded to this node, as they come.
pub type ForwardedPolls = Pin<Box<dyn Stream<Item = ForwardedPoll> + Send>>;

/// How polling requests travel between the nodes of a cluster: the application implements
/// it over its own bus. Errors are for logs only.
#[async_trait::async_trait]
pub trait PollTransport: Send + Sync + 'static {
    /// Sends the encoded `request` to node `owner` and waits up to `timeout` for its reply.
    async fn request(
        &self,
        owner: &str,
        request: Bytes,
        timeout: Duration,
    ) -> Result<Bytes, String>;

    /// The requests other nodes forward to this one; the stream ends when the transport
    /// loses them (the engine then listens again).
    async fn incoming(&self) -> Result<ForwardedPolls, String>;

    /// Sends `reply` to where a forwarded request asked for it.
    async fn respond(&self, reply_to: &str, reply: Bytes) -> Result<(), String>;
}

/// This node's id and how polling requests travel.
pub(super) struct Forwarding {
    node_id: Arc<str>,
    transport: Arc<dyn PollTransport>,
}

impl fmt::Debug for Forwarding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Forwarding")
            .field("node_id", &self.node_id)
            .finish_non_exhaustive()
    }
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
    #[error("{0}")]
    Transport(String),
    #[error("undecodable polling reply: {0}")]
    Decode(#[from] EnvelopeError),
}

impl<F: HandlerFactory> Engine<F> {
    /// Names `node_id` in every new session id, forwards polling requests for other nodes'
    /// sessions to them over `transport`, and answers the requests they forward here. Call
    /// once, before serving (later calls change nothing).
    pub fn forward_polling(self: &Arc<Self>, node_id: &str, transport: Arc<dyn PollTransport>) {
        let forwarding = Forwarding {
            node_id: node_id.into(),
            transport: transport.clone(),
        };
        if self.forwarding.set(forwarding).is_ok() {
            actix_web::rt::spawn(answer_forwarded(Arc::downgrade(self), transport));
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
    let answer = async {
        let payload = forwarding
            .transport
            .request(&owner, request.encode(), timeout)
            .await
            .map_err(ForwardError::Transport)?;
        Ok::<_, ForwardError>(PollReply::decode(&payload)?)
    };
    Some(match answer.await {
        Ok(reply) => {
            engine.config.metrics.polls_forwarded_ok.increment(1);
            replay(reply)
        }
        Err(error) => {
            engine.config.metrics.polls_forwarded_failed.increment(1);
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
/// engine is dropped. Listens again whenever the transport ends or refuses.
async fn answer_forwarded<F: HandlerFactory>(
    engine: Weak<Engine<F>>,
    transport: Arc<dyn PollTransport>,
) {
    while engine.strong_count() > 0 {
        let mut incoming = match transport.incoming().await {
            Ok(incoming) => incoming,
            Err(error) => {
                tracing::warn!(%error, "cannot listen for forwarded polling requests; retrying");
                tokio::time::sleep(RELISTEN_AFTER).await;
                continue;
            }
        };
        while let Some(forwarded) = incoming.next().await {
            let Some(engine) = engine.upgrade() else {
                return;
            };
            let transport = transport.clone();
            actix_web::rt::spawn(async move {
                let reply = answer(&engine, &forwarded.request).await;
                if let Err(error) = transport.respond(&forwarded.reply_to, reply).await {
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
            // Read whole below: whether chunked does not matter.
            (Some(session), PollMethod::Get) => http::poll(session, true).await,
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
    // Reading the bodies built here cannot fail (a waiting GET's ends when its session
    // answers).
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
