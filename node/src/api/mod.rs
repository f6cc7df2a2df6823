//! The HTTP API under `/api/v1`, plus the operational endpoints. Handlers parse and check
//! the request, call the store, and shape the reply; errors go through [`ApiError`].

mod account;
mod admin;
mod attachments;
mod auth;
mod caller;
mod contacts;
mod groups;
mod health;
mod messages;
mod sessions;
mod users;

use actix_web::error::JsonPayloadError;
use actix_web::http::StatusCode;
use actix_web::web;

use confab_protocol::chat::ErrorCode;

use crate::chat::ChatError;
use crate::error::ApiError;

/// Registers every route. `json_limit` is the largest JSON body accepted, in bytes;
/// `/metrics` is among them only when `with_metrics` (else it has a listener of its own).
pub fn configure(cfg: &mut web::ServiceConfig, json_limit: usize, with_metrics: bool) {
    cfg.app_data(json_config(json_limit))
        .app_data(web::PathConfig::default().error_handler(|error, _| {
            ApiError::bad_request("invalid_path", error.to_string()).into()
        }))
        .app_data(web::QueryConfig::default().error_handler(|error, _| {
            ApiError::bad_request("invalid_query", error.to_string()).into()
        }))
        .configure(health::configure)
        .configure(|cfg| {
            if with_metrics {
                configure_metrics(cfg);
            }
        })
        .service(
            web::scope("/api/v1")
                .configure(auth::configure)
                .configure(account::configure)
                .configure(sessions::configure)
                .configure(admin::configure)
                .configure(users::configure)
                .configure(groups::configure)
                .configure(contacts::configure)
                .configure(messages::configure)
                .configure(attachments::configure),
        )
        .default_service(web::to(|| async {
            Err::<actix_web::HttpResponse, _>(ApiError::not_found("no such endpoint"))
        }));
}

/// Registers `/metrics` alone.
pub fn configure_metrics(cfg: &mut web::ServiceConfig) {
    health::configure_metrics(cfg);
}

/// JSON bodies: size-limited, and every way of getting them wrong has its own code.
fn json_config(limit: usize) -> web::JsonConfig {
    web::JsonConfig::default()
        .limit(limit)
        .error_handler(|error, _| {
            let reply = match &error {
                JsonPayloadError::OverflowKnownLength { .. }
                | JsonPayloadError::Overflow { .. } => ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "payload_too_large",
                    error.to_string(),
                ),
                JsonPayloadError::ContentType => ApiError::new(
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    "unsupported_media_type",
                    "the body must be JSON with Content-Type: application/json",
                ),
                JsonPayloadError::Deserialize(cause) if cause.is_data() => ApiError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "invalid_request",
                    cause.to_string(),
                ),
                JsonPayloadError::Deserialize(cause) => {
                    ApiError::bad_request("malformed_json", cause.to_string())
                }
                _ => ApiError::bad_request("bad_request", error.to_string()),
            };
            reply.into()
        })
}

/// A chat operation's refusal as an HTTP answer: its code, with the status that fits it.
impl From<ChatError> for ApiError {
    fn from(error: ChatError) -> Self {
        let status = match error.code {
            ErrorCode::InvalidRequest => StatusCode::BAD_REQUEST,
            ErrorCode::TooLarge | ErrorCode::QuotaExceeded => StatusCode::PAYLOAD_TOO_LARGE,
            ErrorCode::UnsupportedType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ErrorCode::NotFound => StatusCode::NOT_FOUND,
            ErrorCode::Forbidden | ErrorCode::Blocked => StatusCode::FORBIDDEN,
            ErrorCode::RateLimited => StatusCode::TOO_MANY_REQUESTS,
            ErrorCode::Conflict
            | ErrorCode::GroupFull
            | ErrorCode::TooManyGroups
            | ErrorCode::TooManyReactions => StatusCode::CONFLICT,
            ErrorCode::InternalError => StatusCode::INTERNAL_SERVER_ERROR,
            ErrorCode::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        };
        let mut reply = ApiError::new(status, error.code.as_str(), error.message);
        reply.retry_after = error.retry_after;
        reply
    }
}
