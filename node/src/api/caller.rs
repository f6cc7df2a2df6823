//! The `Authenticated` extractor: `Authorization: Bearer <token>` turned into the calling
//! user, checked by the node's `Tokens` (as the Socket.IO CONNECT's `auth.token` is) and
//! then against its session in the database, so that a revoked session's token is refused
//! at once.

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
    /// The session the token belongs to.
    pub(crate) session_id: String,
}

impl FromRequest for Authenticated {
    type Error = ApiError;
    type Future = futures_util::future::LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move { authenticate(&req).await })
    }
}

async fn authenticate(req: &HttpRequest) -> Result<Authenticated, ApiError> {
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
    let verified = state.chat.sessions.check(token).await?;
    // The token's subject is an id the server issued; one that is not is a forged token.
    let user_id = UserId::try_from(verified.user_id).map_err(|_| TokenError::Invalid)?;
    if !matches!(*req.method(), Method::GET | Method::HEAD) {
        state.chat.rate.check_http_write(&user_id)?;
    }
    Ok(Authenticated {
        user_id,
        session_id: verified.session_id,
    })
}
