//! The `Authenticated` extractor: `Authorization: Bearer <token>` turned into the calling
//! user, checked by the node's `Tokens` (as the Socket.IO CONNECT's `auth.token` is).

use std::future::{Ready, ready};

use actix_web::dev::Payload;
use actix_web::http::Method;
use actix_web::{FromRequest, HttpRequest, web};

use confab_protocol::chat::UserId;

use crate::auth::TokenError;
use crate::error::ApiError;
use crate::state::AppState;

/// The authenticated caller of an HTTP endpoint. A request that changes something (any
/// method but GET and HEAD) also takes one from the caller's bucket of HTTP writes.
#[derive(Debug, Clone)]
pub(crate) struct Authenticated {
    /// The caller's user id, taken from the token only.
    pub(crate) user_id: UserId,
}

impl FromRequest for Authenticated {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(authenticate(req))
    }
}

fn authenticate(req: &HttpRequest) -> Result<Authenticated, ApiError> {
    let state = req
        .app_data::<web::Data<AppState>>()
        .ok_or_else(|| ApiError::internal("AppState missing from app data"))?;
    let token = req
        .headers()
        .get(actix_web::http::header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|token| !token.is_empty())
        .ok_or(TokenError::Missing)?;
    // The token's subject is an id the server issued; one that is not is a forged token.
    let user_id = UserId::try_from(state.tokens.verify(token)?).map_err(|_| TokenError::Invalid)?;
    if !matches!(*req.method(), Method::GET | Method::HEAD) {
        state.chat.rate.check_http_write(&user_id)?;
    }
    Ok(Authenticated { user_id })
}
