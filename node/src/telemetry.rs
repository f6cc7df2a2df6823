//! Logging and tracing: `tracing` everywhere, filtered by `RUST_LOG`, written as text or JSON,
//! and exported as OTLP traces when `OTEL_EXPORTER_OTLP_ENDPOINT` is set.
//!
//! Across nodes, the W3C trace context (`traceparent`, `tracestate`) of the span that sent a
//! delivery travels in the bus message's headers, and the receiving node's `bus.receive`
//! span continues that trace: one trace shows a message from the sender's node to the
//! recipients' nodes. With tracing off, no header is added.
//!
//! The OTLP exporter reads the standard `OTEL_*` variables itself (endpoint, headers,
//! timeouts, `OTEL_BSP_*` batching); Confab only decides whether to install it.

use anyhow::{Context, Result};
use confab_cluster::Headers;
use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator};
use opentelemetry::trace::{TraceContextExt, TracerProvider as _};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

use crate::config::LogFormat;

/// The variable that turns OTLP export on.
const OTLP_ENDPOINT_VAR: &str = "OTEL_EXPORTER_OTLP_ENDPOINT";

/// Keeps the trace exporter alive; dropping it flushes the spans still buffered.
#[derive(Debug)]
pub struct TelemetryGuard {
    provider: Option<SdkTracerProvider>,
}

impl Drop for TelemetryGuard {
    fn drop(&mut self) {
        if let Some(provider) = self.provider.take()
            && let Err(error) = provider.shutdown()
        {
            eprintln!("flushing traces failed: {error}");
        }
    }
}

/// Installs the global subscriber. Call once, before the runtime starts.
pub fn init(format: LogFormat, node_id: &str) -> Result<TelemetryGuard> {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let fmt = match format {
        LogFormat::Text => tracing_subscriber::fmt::layer().boxed(),
        LogFormat::Json => tracing_subscriber::fmt::layer()
            .json()
            .flatten_event(true)
            .boxed(),
    };
    let provider = match std::env::var_os(OTLP_ENDPOINT_VAR) {
        Some(_) => Some(otlp_provider(node_id)?),
        None => None,
    };
    let otel = provider.as_ref().map(|provider| {
        tracing_opentelemetry::layer().with_tracer(provider.tracer(env!("CARGO_PKG_NAME")))
    });
    tracing_subscriber::registry()
        .with(filter)
        .with(fmt)
        .with(otel)
        .try_init()
        .context("installing the tracing subscriber")?;
    Ok(TelemetryGuard { provider })
}

fn otlp_provider(node_id: &str) -> Result<SdkTracerProvider> {
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .build()
        .context("building the OTLP span exporter")?;
    let resource = Resource::builder()
        .with_service_name("confab")
        .with_attribute(opentelemetry::KeyValue::new(
            "service.instance.id",
            node_id.to_owned(),
        ))
        .build();
    Ok(SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(resource)
        .build())
}

/// The W3C trace context of `span`, as bus headers; empty when `span` is not traced.
pub fn trace_headers(span: &tracing::Span) -> Headers {
    let mut headers = Headers::new();
    TraceContextPropagator::new()
        .inject_context(&span.context(), &mut HeadersInjector(&mut headers));
    headers
}

/// The span in which a node handles a message from the bus: a child of the sending span
/// when `headers` carry its trace context.
pub fn bus_receive_span(headers: &Headers, subject: &str, node_id: &str) -> tracing::Span {
    let span = tracing::info_span!("bus.receive", subject, node = node_id);
    let parent = TraceContextPropagator::new().extract(&HeadersExtractor(headers));
    if parent.span().span_context().is_valid() {
        // Fails only when no OpenTelemetry layer is installed: nothing to link then.
        let _ = span.set_parent(parent);
    }
    span
}

struct HeadersInjector<'a>(&'a mut Headers);

impl Injector for HeadersInjector<'_> {
    fn set(&mut self, key: &str, value: String) {
        self.0.insert(key, value);
    }
}

struct HeadersExtractor<'a>(&'a Headers);

impl Extractor for HeadersExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key)
    }

    fn keys(&self) -> Vec<&str> {
        self.0.iter().map(|(name, _)| name).collect()
    }
}
