//! Users as others see them: `GET /api/v1/users/{id}` and `GET /api/v1/users?q=`.

use actix_web::{HttpResponse, web};
use serde_json::json;

use super::caller::Authenticated;
use crate::chat::users::UserView;
use crate::error::ApiError;
use crate::state::AppState;
use crate::store::users;

pub(super) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/users", web::get().to(search))
        .route("/users/{id}", web::get().to(get_user));
}

async fn get_user(
    state: web::Data<AppState>,
    _caller: Authenticated,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    user_reply(&state, &id).await
}

#[derive(Debug, serde::Deserialize)]
struct SearchQuery {
    q: String,
}

/// Most users one search returns.
const SEARCH_LIMIT: u64 = 20;

/// `GET /api/v1/users?q=`: users whose username starts with `q` (case-insensitive).
async fn search(
    state: web::Data<AppState>,
    _caller: Authenticated,
    query: web::Query<SearchQuery>,
) -> Result<HttpResponse, ApiError> {
    let prefix = query.q.trim().to_lowercase();
    if prefix.is_empty() || prefix.chars().count() > 32 {
        return Err(ApiError::bad_request(
            "invalid_request",
            "q has 1 to 32 characters",
        ));
    }
    let found = users::search(&state.db, &prefix, SEARCH_LIMIT).await?;
    let found: Vec<UserView> = found.into_iter().map(UserView::from).collect();
    Ok(HttpResponse::Ok().json(json!({"users": found})))
}

async fn user_reply(state: &AppState, id: &str) -> Result<HttpResponse, ApiError> {
    let user = users::by_id(&state.db, id)
        .await?
        .ok_or_else(|| ApiError::not_found("no such user"))?;
    Ok(HttpResponse::Ok().json(json!({"user": UserView::from(user)})))
}
