//! Prometheus metrics through the `metrics` crate: the process-wide recorder, the handles
//! the Socket.IO server records through, and the HTTP middleware that counts requests and
//! times them.
//!
//! Routes are labelled by their pattern (`/api/v1/users/{id}`), never by the raw path, so
//! the number of series stays bounded whatever clients send.

use std::sync::OnceLock;
use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tracing::Instrument;

/// Histogram buckets for request latency, in seconds.
const LATENCY_BUCKETS: &[f64] = &[
    0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// The handle that renders `/metrics`; installs the global recorder on first use.
pub fn recorder() -> PrometheusHandle {
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), LATENCY_BUCKETS)
                .map(PrometheusBuilder::build_recorder)
                .unwrap_or_else(|_| PrometheusBuilder::new().build_recorder());
            let handle = recorder.handle();
            // Fails only if another recorder is already installed; ours then stays unused.
            let _ = metrics::set_global_recorder(recorder);
            handle
        })
        .clone()
}

/// The handles the Socket.IO server records its figures through. Installs the recorder
/// first: a handle is bound to the recorder installed when it is registered.
///
/// The names are spelled out here rather than made by `Metrics::prefixed("confab")`: the
/// dashboard and the chart's autoscaler depend on them, and the chart tests look for them
/// in the node's sources.
pub fn socketio() -> confab_socketio::Metrics {
    recorder();
    confab_socketio::Metrics {
        sessions: metrics::gauge!("confab_engineio_sessions"),
        sessions_refused: metrics::counter!("confab_engineio_sessions_refused_total"),
        slow_consumer_disconnects: metrics::counter!("confab_slow_consumer_disconnects_total"),
        polls_forwarded_ok: metrics::counter!(
            "confab_polling_forwarded_total",
            "result" => "ok"
        ),
        polls_forwarded_failed: metrics::counter!(
            "confab_polling_forwarded_total",
            "result" => "failed"
        ),
        socket_commands_dropped: metrics::counter!("confab_socketio_dropped_total"),
        broadcast_deliveries_dropped: metrics::counter!("confab_socketio_broadcast_dropped_total"),
    }
}

/// Counts every request by method, route and status, and records its latency.
pub async fn track(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = Instant::now();
    let method = req.method().to_string();
    let route = req
        .match_pattern()
        .unwrap_or_else(|| "unmatched".to_owned());
    let span = tracing::info_span!("http", %method, %route);
    let response = next.call(req).instrument(span).await?;
    let status = response.status().as_u16().to_string();
    metrics::counter!(
        "confab_http_requests_total",
        "method" => method.clone(),
        "route" => route.clone(),
        "status" => status
    )
    .increment(1);
    metrics::histogram!(
        "confab_http_request_duration_seconds",
        "method" => method,
        "route" => route
    )
    .record(started.elapsed().as_secs_f64());
    Ok(response)
}
