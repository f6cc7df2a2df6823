//! Contacts and blocks over HTTP: `/api/v1/contacts/...` and `/api/v1/blocks/...`. Each
//! handler decodes the request and calls the operation in `chat/contacts.rs` that
//! `contact:*` events call too.

use actix_web::{HttpResponse, web};
use serde_json::json;

use confab_protocol::chat::UserId;

use super::caller::Authenticated;
use crate::chat::contacts::{self, UserRef};
use crate::error::ApiError;
use crate::state::AppState;

pub(super) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/contacts", web::get().to(list))
        .route("/contacts/requests", web::post().to(request))
        .route("/contacts/requests/{id}/accept", web::post().to(accept))
        .route("/contacts/requests/{id}/decline", web::post().to(decline))
        .route("/contacts/{user_id}", web::delete().to(remove))
        .route("/blocks/{user_id}", web::put().to(block))
        .route("/blocks/{user_id}", web::delete().to(unblock));
}

async fn list(state: web::Data<AppState>, caller: Authenticated) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(contacts::list(&state.chat, &caller.user_id).await?))
}

/// 201 with the new request; 200 when it accepted the other user's pending request.
async fn request(
    state: web::Data<AppState>,
    caller: Authenticated,
    body: web::Json<UserRef>,
) -> Result<HttpResponse, ApiError> {
    let (request, created) = contacts::request(&state.chat, &caller.user_id, &body.user_id).await?;
    let mut reply = if created {
        HttpResponse::Created()
    } else {
        HttpResponse::Ok()
    };
    Ok(reply.json(json!({"request": request})))
}

async fn accept(
    state: web::Data<AppState>,
    caller: Authenticated,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let contact = contacts::accept(&state.chat, &caller.user_id, &id).await?;
    Ok(HttpResponse::Ok().json(json!({"contact": contact})))
}

async fn decline(
    state: web::Data<AppState>,
    caller: Authenticated,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let contact = contacts::decline(&state.chat, &caller.user_id, &id).await?;
    Ok(HttpResponse::Ok().json(json!({"contact": contact})))
}

async fn remove(
    state: web::Data<AppState>,
    caller: Authenticated,
    user_id: web::Path<UserId>,
) -> Result<HttpResponse, ApiError> {
    contacts::remove(&state.chat, &caller.user_id, &user_id).await?;
    Ok(HttpResponse::NoContent().finish())
}

async fn block(
    state: web::Data<AppState>,
    caller: Authenticated,
    user_id: web::Path<UserId>,
) -> Result<HttpResponse, ApiError> {
    contacts::block(&state.chat, &caller.user_id, &user_id).await?;
    Ok(HttpResponse::NoContent().finish())
}

async fn unblock(
    state: web::Data<AppState>,
    caller: Authenticated,
    user_id: web::Path<UserId>,
) -> Result<HttpResponse, ApiError> {
    contacts::unblock(&state.chat, &caller.user_id, &user_id).await?;
    Ok(HttpResponse::NoContent().finish())
}
