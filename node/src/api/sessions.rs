//! A user's sessions (devices): `GET /api/v1/sessions` lists them, `DELETE
//! /api/v1/sessions/{id}` ends one, `DELETE /api/v1/sessions` ends all but the caller's.
//! An ended session's tokens stop working at once and its sockets close within a sweep
//! (`CONFAB_SESSION_SWEEP_MS`) on every node.

use actix_web::{HttpResponse, web};
use chrono::SecondsFormat;
use confab_entities::{RevokedReason, session};
use serde::Serialize;
use serde_json::json;

use super::caller::Authenticated;
use crate::error::ApiError;
use crate::state::AppState;

pub(super) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/sessions", web::get().to(list))
        .route("/sessions", web::delete().to(end_others))
        .route("/sessions/{id}", web::delete().to(end_one));
}

/// A session as its user sees it.
#[derive(Debug, Serialize)]
pub(super) struct SessionView {
    id: String,
    device: String,
    user_agent: String,
    created_at: String,
    last_used_at: String,
    expires_at: String,
    /// Whether it is the session of the request.
    current: bool,
}

impl SessionView {
    fn new(session: session::Model, current: &str) -> Self {
        let at =
            |at: chrono::DateTime<chrono::Utc>| at.to_rfc3339_opts(SecondsFormat::Millis, true);
        Self {
            current: session.id == current,
            id: session.id,
            device: session.device,
            user_agent: session.user_agent,
            created_at: at(session.created_at),
            last_used_at: at(session.last_used_at),
            expires_at: at(session.expires_at),
        }
    }
}

/// The caller's live sessions as they see them, most recently used first.
pub(super) async fn views_of(
    state: &AppState,
    caller: &Authenticated,
) -> Result<Vec<SessionView>, ApiError> {
    Ok(state
        .chat
        .sessions
        .list(&caller.user_id)
        .await?
        .into_iter()
        .map(|session| SessionView::new(session, &caller.session_id))
        .collect())
}

async fn list(state: web::Data<AppState>, caller: Authenticated) -> Result<HttpResponse, ApiError> {
    let sessions = views_of(&state, &caller).await?;
    Ok(HttpResponse::Ok().json(json!({"sessions": sessions})))
}

/// Ends one of the caller's sessions (the caller's own too, as a logout would); someone
/// else's, or one already ended, is `not_found`.
async fn end_one(
    state: web::Data<AppState>,
    caller: Authenticated,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let ended = state
        .chat
        .sessions
        .end(&caller.user_id, Some(&id), None, RevokedReason::Revoked)
        .await?;
    if ended == 0 {
        return Err(ApiError::not_found("no such session"));
    }
    Ok(HttpResponse::NoContent().finish())
}

/// Ends every session of the caller but the current one.
async fn end_others(
    state: web::Data<AppState>,
    caller: Authenticated,
) -> Result<HttpResponse, ApiError> {
    let ended = state
        .chat
        .sessions
        .end_others(&caller.user_id, &caller.session_id, RevokedReason::Revoked)
        .await?;
    Ok(HttpResponse::Ok().json(json!({"ended": ended})))
}
