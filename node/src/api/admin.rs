//! The administration API, `/api/v1/admin/...`, for server administrators only (anyone
//! else gets 403 `forbidden`), and `POST /api/v1/reports`, where any user reports a message
//! they can read. The rules are in `chat::moderation`.

use actix_web::{HttpResponse, web};
use confab_protocol::chat::{ConversationId, GroupId, MessageRef, UserId};
use serde_json::json;

use super::caller::Authenticated;
use crate::chat::moderation::{
    self, Admin, AuditQuery, ReportQuery, ReportRequest, Resolution, UserQuery,
};
use crate::error::ApiError;
use crate::state::AppState;

pub(super) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/reports", web::post().to(report))
        .route("/admin/users", web::get().to(users))
        .route("/admin/users/{id}/disable", web::post().to(disable))
        .route("/admin/users/{id}/enable", web::post().to(enable))
        .route(
            "/admin/conversations/{id}/messages/{seq}",
            web::delete().to(delete_message),
        )
        .route("/admin/groups/{id}", web::delete().to(dissolve))
        .route("/admin/reports", web::get().to(reports))
        .route("/admin/reports/{id}/resolve", web::post().to(resolve))
        .route("/admin/audit", web::get().to(audit));
}

/// The caller, if a server administrator.
async fn admin(state: &AppState, caller: &Authenticated) -> Result<Admin, ApiError> {
    Ok(moderation::admin(&state.chat, &caller.user_id).await?)
}

async fn report(
    state: web::Data<AppState>,
    caller: Authenticated,
    body: web::Json<ReportRequest>,
) -> Result<HttpResponse, ApiError> {
    let report = moderation::report(&state.chat, &caller.user_id, body.into_inner()).await?;
    Ok(HttpResponse::Created().json(json!({"report": report})))
}

async fn users(
    state: web::Data<AppState>,
    caller: Authenticated,
    query: web::Query<UserQuery>,
) -> Result<HttpResponse, ApiError> {
    let admin = admin(&state, &caller).await?;
    let users = moderation::find_users(&state.chat, &admin, query.into_inner()).await?;
    Ok(HttpResponse::Ok().json(json!({"users": users})))
}

async fn set_disabled(
    state: &AppState,
    caller: &Authenticated,
    user_id: UserId,
    disabled: bool,
) -> Result<HttpResponse, ApiError> {
    let admin = admin(state, caller).await?;
    let user = moderation::set_disabled(&state.chat, &admin, &user_id, disabled).await?;
    Ok(HttpResponse::Ok().json(json!({"user": user})))
}

async fn disable(
    state: web::Data<AppState>,
    caller: Authenticated,
    id: web::Path<UserId>,
) -> Result<HttpResponse, ApiError> {
    set_disabled(&state, &caller, id.into_inner(), true).await
}

async fn enable(
    state: web::Data<AppState>,
    caller: Authenticated,
    id: web::Path<UserId>,
) -> Result<HttpResponse, ApiError> {
    set_disabled(&state, &caller, id.into_inner(), false).await
}

async fn delete_message(
    state: web::Data<AppState>,
    caller: Authenticated,
    path: web::Path<(ConversationId, i64)>,
) -> Result<HttpResponse, ApiError> {
    let admin = admin(&state, &caller).await?;
    let (conversation, seq) = path.into_inner();
    let request = MessageRef { conversation, seq };
    let message = moderation::delete_message(&state.chat, &admin, request).await?;
    Ok(HttpResponse::Ok().json(json!({"ok": true, "message": message})))
}

async fn dissolve(
    state: web::Data<AppState>,
    caller: Authenticated,
    id: web::Path<GroupId>,
) -> Result<HttpResponse, ApiError> {
    let admin = admin(&state, &caller).await?;
    moderation::dissolve_group(&state.chat, &admin, &id).await?;
    Ok(HttpResponse::NoContent().finish())
}

async fn reports(
    state: web::Data<AppState>,
    caller: Authenticated,
    query: web::Query<ReportQuery>,
) -> Result<HttpResponse, ApiError> {
    let admin = admin(&state, &caller).await?;
    let page = moderation::reports(&state.chat, &admin, query.into_inner()).await?;
    Ok(HttpResponse::Ok().json(page))
}

async fn resolve(
    state: web::Data<AppState>,
    caller: Authenticated,
    id: web::Path<String>,
    body: web::Json<Resolution>,
) -> Result<HttpResponse, ApiError> {
    let admin = admin(&state, &caller).await?;
    let report = moderation::resolve(&state.chat, &admin, &id, body.into_inner()).await?;
    Ok(HttpResponse::Ok().json(json!({"report": report})))
}

async fn audit(
    state: web::Data<AppState>,
    caller: Authenticated,
    query: web::Query<AuditQuery>,
) -> Result<HttpResponse, ApiError> {
    let admin = admin(&state, &caller).await?;
    let page = moderation::audit(&state.chat, &admin, query.into_inner()).await?;
    Ok(HttpResponse::Ok().json(page))
}
