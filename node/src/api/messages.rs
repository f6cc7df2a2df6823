//! Messages over HTTP: `POST /api/v1/messages` (the same as the `message:send` event),
//! `GET /api/v1/conversations` and `GET /api/v1/conversations/{id}/messages`, and the
//! changes to a sent message: edit (`PATCH`), delete (`DELETE`), recall, reactions, and a
//! conversation's expiry. Each calls the same operation as its Socket.IO event.

use actix_web::{HttpResponse, web};
use confab_protocol::chat::{
    ConversationId, ConversationRef, EditMessage, ExpiryRequest, MessageRef, ReactionRequest,
    ReadRequest, SearchRequest, SendMessage,
};
use serde::Deserialize;
use serde_json::{Value, json};

use super::caller::Authenticated;
use crate::chat::changes::{self, Deletion};
use crate::chat::{expiry, messages, reactions, search};
use crate::error::ApiError;
use crate::state::AppState;

pub(super) fn configure(cfg: &mut web::ServiceConfig) {
    const MESSAGE: &str = "/conversations/{id}/messages/{seq}";
    cfg.route("/messages", web::post().to(send))
        .route("/conversations", web::get().to(conversations))
        .route("/conversations/{id}/messages", web::get().to(page))
        .route("/conversations/{id}/read", web::post().to(read))
        .route("/conversations/{id}/reads", web::get().to(reads))
        .route(MESSAGE, web::patch().to(edit))
        .route(MESSAGE, web::delete().to(delete))
        .route(
            "/conversations/{id}/messages/{seq}/recall",
            web::post().to(recall),
        )
        .route(
            "/conversations/{id}/messages/{seq}/reactions/{emoji}",
            web::put().to(react),
        )
        .route(
            "/conversations/{id}/messages/{seq}/reactions/{emoji}",
            web::delete().to(unreact),
        )
        .route("/conversations/{id}/expiry", web::put().to(set_expiry))
        .route("/search", web::get().to(search));
}

/// `GET /search?q=&conversation=&limit=&offset=`.
#[derive(Debug, Deserialize)]
struct SearchQuery {
    q: String,
    conversation: Option<ConversationId>,
    limit: Option<u32>,
    offset: Option<u32>,
}

async fn search(
    state: web::Data<AppState>,
    caller: Authenticated,
    query: web::Query<SearchQuery>,
) -> Result<HttpResponse, ApiError> {
    // The costliest read there is: it takes from the same bucket as writes.
    state.chat.rate.check_http_write(caller.user_id.as_str())?;
    let SearchQuery {
        q,
        conversation,
        limit,
        offset,
    } = query.into_inner();
    let request = SearchRequest {
        query: q,
        conversation,
        limit,
        offset,
    };
    let found = search::search(&state.chat, &caller.user_id, request).await?;
    Ok(HttpResponse::Ok().json(found))
}

/// A message named in the path: its conversation and seq.
type MessagePath = web::Path<(ConversationId, i64)>;

/// The body of an edit: the new body and meta.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct EditBody {
    body: String,
    #[serde(default)]
    meta: Option<Value>,
}

async fn edit(
    state: web::Data<AppState>,
    caller: Authenticated,
    path: MessagePath,
    body: web::Json<EditBody>,
) -> Result<HttpResponse, ApiError> {
    let (conversation, seq) = path.into_inner();
    let EditBody { body, meta } = body.into_inner();
    let request = EditMessage {
        conversation,
        seq,
        body,
        meta,
    };
    let message = changes::edit(&state.chat, &caller.user_id, request, None).await?;
    Ok(HttpResponse::Ok().json(json!({"ok": true, "message": message})))
}

async fn delete(
    state: web::Data<AppState>,
    caller: Authenticated,
    path: MessagePath,
) -> Result<HttpResponse, ApiError> {
    remove(&state, &caller, path, Deletion::Delete).await
}

async fn recall(
    state: web::Data<AppState>,
    caller: Authenticated,
    path: MessagePath,
) -> Result<HttpResponse, ApiError> {
    remove(&state, &caller, path, Deletion::Recall).await
}

async fn remove(
    state: &AppState,
    caller: &Authenticated,
    path: MessagePath,
    deletion: Deletion,
) -> Result<HttpResponse, ApiError> {
    let (conversation, seq) = path.into_inner();
    let request = MessageRef { conversation, seq };
    let message = changes::delete(&state.chat, &caller.user_id, request, deletion, None).await?;
    Ok(HttpResponse::Ok().json(json!({"ok": true, "message": message})))
}

async fn react(
    state: web::Data<AppState>,
    caller: Authenticated,
    path: web::Path<(ConversationId, i64, String)>,
) -> Result<HttpResponse, ApiError> {
    reaction(&state, &caller, path, true).await
}

async fn unreact(
    state: web::Data<AppState>,
    caller: Authenticated,
    path: web::Path<(ConversationId, i64, String)>,
) -> Result<HttpResponse, ApiError> {
    reaction(&state, &caller, path, false).await
}

async fn reaction(
    state: &AppState,
    caller: &Authenticated,
    path: web::Path<(ConversationId, i64, String)>,
    added: bool,
) -> Result<HttpResponse, ApiError> {
    let (conversation, seq, emoji) = path.into_inner();
    let request = ReactionRequest {
        conversation,
        seq,
        emoji,
    };
    reactions::react(&state.chat, &caller.user_id, request, added, None).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// The body of `PUT /conversations/{id}/expiry`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ExpiryBody {
    #[serde(default)]
    seconds: Option<u64>,
}

async fn set_expiry(
    state: web::Data<AppState>,
    caller: Authenticated,
    id: web::Path<ConversationId>,
    body: web::Json<ExpiryBody>,
) -> Result<HttpResponse, ApiError> {
    let request = ExpiryRequest {
        conversation: id.into_inner(),
        seconds: body.into_inner().seconds,
    };
    let conversation = expiry::set(&state.chat, &caller.user_id, request).await?;
    Ok(HttpResponse::Ok().json(json!({"ok": true, "conversation": conversation})))
}

async fn send(
    state: web::Data<AppState>,
    caller: Authenticated,
    body: web::Json<SendMessage>,
) -> Result<HttpResponse, ApiError> {
    let message = messages::send(&state.chat, &caller.user_id, body.into_inner(), None).await?;
    Ok(HttpResponse::Ok().json(json!({"ok": true, "message": message})))
}

async fn conversations(
    state: web::Data<AppState>,
    caller: Authenticated,
    page: web::Query<messages::ConversationPage>,
) -> Result<HttpResponse, ApiError> {
    let list = messages::conversations(&state.chat, &caller.user_id, page.into_inner()).await?;
    Ok(HttpResponse::Ok().json(list))
}

#[derive(Debug, Deserialize)]
struct ReadUpTo {
    seq: i64,
}

/// `POST /conversations/{id}/read`: as the `read` event (the receipt goes to every
/// connection of the reader).
async fn read(
    state: web::Data<AppState>,
    caller: Authenticated,
    id: web::Path<ConversationId>,
    body: web::Json<ReadUpTo>,
) -> Result<HttpResponse, ApiError> {
    let request = ReadRequest {
        conversation: id.into_inner(),
        seq: body.seq,
    };
    messages::read(&state.chat, &caller.user_id, request, None).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// `GET /conversations/{id}/reads`: how far the other members have read.
async fn reads(
    state: web::Data<AppState>,
    caller: Authenticated,
    id: web::Path<ConversationId>,
) -> Result<HttpResponse, ApiError> {
    let request = ConversationRef {
        conversation: id.into_inner(),
    };
    Ok(HttpResponse::Ok().json(messages::reads(&state.chat, &caller.user_id, request).await?))
}

#[derive(Debug, Deserialize)]
struct PageQuery {
    before_seq: Option<i64>,
    after_seq: Option<i64>,
    limit: Option<u32>,
}

async fn page(
    state: web::Data<AppState>,
    caller: Authenticated,
    id: web::Path<ConversationId>,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let PageQuery {
        before_seq,
        after_seq,
        limit,
    } = query.into_inner();
    let page = messages::page(
        &state.chat,
        &caller.user_id,
        &id,
        before_seq,
        after_seq,
        limit,
    )
    .await?;
    Ok(HttpResponse::Ok().json(page))
}
