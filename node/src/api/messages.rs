//! Messages over HTTP: `POST /api/v1/messages` (the same as the `message:send` event),
//! `GET /api/v1/conversations` and `GET /api/v1/conversations/{id}/messages`.

use actix_web::{HttpResponse, web};
use confab_protocol::chat::{ConversationId, SendMessage};
use serde::Deserialize;
use serde_json::json;

use super::caller::Authenticated;
use crate::chat::messages;
use crate::error::ApiError;
use crate::state::AppState;

pub(super) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/messages", web::post().to(send))
        .route("/conversations", web::get().to(conversations))
        .route("/conversations/{id}/messages", web::get().to(page));
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
) -> Result<HttpResponse, ApiError> {
    let list = messages::conversations(&state.chat, &caller.user_id).await?;
    Ok(HttpResponse::Ok().json(json!({"conversations": list})))
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
