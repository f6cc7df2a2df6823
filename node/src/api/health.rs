//! `/healthz` (the process is alive), `/readyz` (send traffic here), `/metrics` and
//! `/openapi.json`.

use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use serde_json::json;
use tokio::time::timeout;

use crate::error::ApiError;
use crate::state::AppState;

pub(super) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/healthz", web::get().to(healthz))
        .route("/readyz", web::get().to(readyz))
        .route("/metrics", web::get().to(metrics))
        .route("/openapi.json", web::get().to(openapi));
}

async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "ok"}))
}

/// How long each dependency may take to answer a readiness check.
const CHECK_WITHIN: Duration = Duration::from_secs(2);

/// 503 while the node drains, or while the database, the directory or the bus does not
/// answer (the last two always answer in standalone mode).
async fn readyz(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let unavailable = |code, message| ApiError::new(StatusCode::SERVICE_UNAVAILABLE, code, message);
    if state.is_draining() {
        return Err(unavailable("draining", "the node is shutting down"));
    }
    let (db, directory, bus) = futures_util::join!(
        timeout(CHECK_WITHIN, state.db.ping()),
        timeout(CHECK_WITHIN, state.directory.ping()),
        timeout(CHECK_WITHIN, state.bus.ping()),
    );
    if !matches!(db, Ok(Ok(()))) {
        return Err(unavailable(
            "database_unavailable",
            "the database does not answer",
        ));
    }
    if !matches!(directory, Ok(Ok(()))) {
        return Err(unavailable(
            "directory_unavailable",
            "Redis does not answer",
        ));
    }
    if !matches!(bus, Ok(Ok(()))) {
        return Err(unavailable("bus_unavailable", "NATS does not answer"));
    }
    Ok(HttpResponse::Ok().json(json!({"status": "ready"})))
}

async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(state.metrics.render())
}

/// The OpenAPI document of the HTTP API (`docs/openapi.json`, built into the binary).
async fn openapi() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(include_str!("../../../docs/openapi.json"))
}
