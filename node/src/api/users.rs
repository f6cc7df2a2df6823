//! Users as others see them: `GET /api/v1/me` and `GET /api/v1/users/{id}`.

use actix_web::{HttpResponse, web};
use confab_entities::user;
use serde::Serialize;
use serde_json::json;

use crate::auth::Authenticated;
use crate::error::ApiError;
use crate::state::AppState;
use crate::store::users;

/// The public face of a user: `{id, username, display_name}`. Never the password hash.
#[derive(Debug, Clone, Serialize)]
pub struct UserView {
    /// Opaque id.
    pub id: String,
    /// Unique, lower-case login name.
    pub username: String,
    /// Name shown to others.
    pub display_name: String,
}

impl From<user::Model> for UserView {
    fn from(user: user::Model) -> Self {
        Self {
            id: user.id,
            username: user.username,
            display_name: user.display_name,
        }
    }
}

pub(super) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/me", web::get().to(me))
        .route("/users/{id}", web::get().to(get_user));
}

async fn me(state: web::Data<AppState>, caller: Authenticated) -> Result<HttpResponse, ApiError> {
    user_reply(&state, &caller.user_id).await
}

async fn get_user(
    state: web::Data<AppState>,
    _caller: Authenticated,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    user_reply(&state, &id).await
}

async fn user_reply(state: &AppState, id: &str) -> Result<HttpResponse, ApiError> {
    let user = users::by_id(&state.db, id)
        .await?
        .ok_or_else(|| ApiError::not_found("no such user"))?;
    Ok(HttpResponse::Ok().json(json!({"user": UserView::from(user)})))
}
