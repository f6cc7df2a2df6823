//! Groups over HTTP: `/api/v1/groups/...`. Each handler decodes the request and calls the
//! operation in `chat/groups.rs` that `group:*` events call too.

use actix_web::{HttpResponse, web};
use confab_entities::GroupRole;
use serde::Deserialize;
use serde_json::json;

use confab_protocol::chat::{GroupId, UserId};

use super::caller::Authenticated;
use crate::chat::groups::{self, CreateGroup, GroupView};
use crate::error::ApiError;
use crate::state::AppState;

pub(super) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/groups", web::post().to(create))
        .route("/groups", web::get().to(list))
        .route("/groups/public", web::get().to(directory))
        .route("/groups/{id}", web::get().to(get))
        .route("/groups/{id}", web::patch().to(rename))
        .route("/groups/{id}", web::delete().to(delete))
        .route("/groups/{id}/members", web::post().to(add_member))
        .route(
            "/groups/{id}/members/{user_id}",
            web::delete().to(remove_member),
        )
        .route(
            "/groups/{id}/members/{user_id}/role",
            web::put().to(set_role),
        )
        .route("/groups/{id}/join", web::post().to(join))
        .route("/groups/{id}/leave", web::post().to(leave));
}

#[derive(Debug, Deserialize)]
struct AddMember {
    user_id: UserId,
}

#[derive(Debug, Deserialize)]
struct Rename {
    name: String,
}

#[derive(Debug, Deserialize)]
struct SetRole {
    role: GroupRole,
}

fn group(view: GroupView) -> HttpResponse {
    HttpResponse::Ok().json(json!({"group": view}))
}

async fn create(
    state: web::Data<AppState>,
    caller: Authenticated,
    body: web::Json<CreateGroup>,
) -> Result<HttpResponse, ApiError> {
    let view = groups::create(&state.chat, &caller.user_id, body.into_inner()).await?;
    Ok(HttpResponse::Created().json(json!({"group": view})))
}

async fn list(state: web::Data<AppState>, caller: Authenticated) -> Result<HttpResponse, ApiError> {
    let views = groups::list(&state.chat, &caller.user_id).await?;
    Ok(HttpResponse::Ok().json(json!({"groups": views})))
}

/// `GET /groups/public?q=&offset=&limit=`: the directory of public groups.
async fn directory(
    state: web::Data<AppState>,
    _caller: Authenticated,
    query: web::Query<groups::DirectoryQuery>,
) -> Result<HttpResponse, ApiError> {
    let found = groups::directory(&state.chat, query.into_inner()).await?;
    Ok(HttpResponse::Ok().json(json!({"groups": found})))
}

async fn get(
    state: web::Data<AppState>,
    caller: Authenticated,
    id: web::Path<GroupId>,
) -> Result<HttpResponse, ApiError> {
    Ok(group(groups::get(&state.chat, &caller.user_id, &id).await?))
}

async fn rename(
    state: web::Data<AppState>,
    caller: Authenticated,
    id: web::Path<GroupId>,
    body: web::Json<Rename>,
) -> Result<HttpResponse, ApiError> {
    Ok(group(
        groups::rename(&state.chat, &caller.user_id, &id, &body.name).await?,
    ))
}

async fn delete(
    state: web::Data<AppState>,
    caller: Authenticated,
    id: web::Path<GroupId>,
) -> Result<HttpResponse, ApiError> {
    groups::delete(&state.chat, &caller.user_id, &id).await?;
    Ok(HttpResponse::NoContent().finish())
}

async fn add_member(
    state: web::Data<AppState>,
    caller: Authenticated,
    id: web::Path<GroupId>,
    body: web::Json<AddMember>,
) -> Result<HttpResponse, ApiError> {
    let view = groups::add_member(&state.chat, &caller.user_id, &id, &body.user_id).await?;
    Ok(group(view))
}

async fn remove_member(
    state: web::Data<AppState>,
    caller: Authenticated,
    path: web::Path<(GroupId, UserId)>,
) -> Result<HttpResponse, ApiError> {
    let (id, user_id) = path.into_inner();
    Ok(group(
        groups::remove_member(&state.chat, &caller.user_id, &id, &user_id).await?,
    ))
}

async fn set_role(
    state: web::Data<AppState>,
    caller: Authenticated,
    path: web::Path<(GroupId, UserId)>,
    body: web::Json<SetRole>,
) -> Result<HttpResponse, ApiError> {
    let (id, user_id) = path.into_inner();
    let view = groups::set_role(&state.chat, &caller.user_id, &id, &user_id, body.role).await?;
    Ok(group(view))
}

async fn join(
    state: web::Data<AppState>,
    caller: Authenticated,
    id: web::Path<GroupId>,
) -> Result<HttpResponse, ApiError> {
    Ok(group(
        groups::join(&state.chat, &caller.user_id, &id).await?,
    ))
}

async fn leave(
    state: web::Data<AppState>,
    caller: Authenticated,
    id: web::Path<GroupId>,
) -> Result<HttpResponse, ApiError> {
    groups::leave(&state.chat, &caller.user_id, &id).await?;
    Ok(HttpResponse::NoContent().finish())
}
