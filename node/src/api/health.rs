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
        .route("/openapi.json", web::get().to(openapi));
}

pub(super) fn configure_metrics(cfg: &mut web::ServiceConfig) {
    cfg.route("/metrics", web::get().to(metrics));
}

async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "ok"}))
}

/// How long each dependency may take to answer a readiness check.
const CHECK_WITHIN: Duration = Duration::from_secs(2);

/// 503 while the node drains or its database does not answer: without the database it
/// cannot acknowledge anything.
///
/// Redis and NATS are shared by every node, so a failure of either would take every pod
/// out of its Service at once, although each can still persist and acknowledge every
/// message (live delivery degrades, and `sync` repairs it). The node so stays ready and says
/// what is degraded: in the reply (`degraded`), in `confab_dependency_up` and in a log line
/// naming the dependency and the cause each time one goes down or comes back.
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
    let causes = [
        ("database", "database_unavailable", failure(db)),
        ("redis", "directory_unavailable", failure(directory)),
        ("nats", "bus_unavailable", failure(bus)),
    ];
    let mut degraded = Vec::new();
    for (dependency, code, cause) in causes {
        state.dependencies.observe(dependency, cause.as_deref());
        if let Some(cause) = cause {
            degraded.push(json!({"dependency": dependency, "code": code, "cause": cause}));
        }
    }
    if degraded
        .first()
        .is_some_and(|first| first["dependency"] == "database")
    {
        return Err(unavailable(
            "database_unavailable",
            "the database does not answer",
        ));
    }
    Ok(HttpResponse::Ok().json(json!({"status": "ready", "degraded": degraded})))
}

/// Why a check failed, if it did.
fn failure<E: std::fmt::Display>(
    result: Result<Result<(), E>, tokio::time::error::Elapsed>,
) -> Option<String> {
    match result {
        Ok(Ok(())) => None,
        Ok(Err(error)) => Some(error.to_string()),
        Err(_) => Some(format!("no answer within {CHECK_WITHIN:?}")),
    }
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
