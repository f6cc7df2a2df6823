//! One trace from the sender's node to the recipient's: two nodes in this process, in
//! cluster mode on a real Redis, NATS and PostgreSQL, with every span recorded by the
//! OpenTelemetry SDK's in-memory exporter. The bus carries the trace context in its
//! headers; without it the recipient's node would start a trace of its own.
//!
//! A separate test binary, because it installs the process-wide tracing subscriber.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use confab_node::config::Settings;
use confab_node::startup::Application;
use confab_testkit::{Backend, NatsServer, RedisServer, SioClient, TestDb, eventually, register};
use opentelemetry::Value as OtelValue;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider, SpanData};
use secrecy::SecretString;
use serde_json::json;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

const SECRET: &str = "trace-test-secret-trace-test-secret";

async fn start_node(settings: &Settings) -> String {
    let app = Application::build(settings, true).await.unwrap();
    let address = format!("http://127.0.0.1:{}", app.port());
    actix_web::rt::spawn(app.run_until_stopped());
    address
}

fn named<'a>(spans: &'a [SpanData], name: &str) -> Vec<&'a SpanData> {
    spans.iter().filter(|span| span.name == name).collect()
}

fn attribute<'a>(span: &'a SpanData, key: &str) -> Option<&'a OtelValue> {
    span.attributes
        .iter()
        .find(|attribute| attribute.key.as_str() == key)
        .map(|attribute| &attribute.value)
}

#[actix_web::test]
async fn a_direct_message_is_one_trace_from_the_sender_s_node_to_the_recipient_s() {
    confab_node::tls::install_crypto_provider();
    let exporter = InMemorySpanExporter::default();
    let provider = SdkTracerProvider::builder()
        .with_simple_exporter(exporter.clone())
        .build();
    tracing_subscriber::registry()
        .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("confab-test")))
        .init();

    let db = TestDb::create(Backend::Postgres).await.unwrap();
    let redis = RedisServer::start().unwrap();
    let nats = NatsServer::start().unwrap();
    let settings = |node: &str| Settings {
        listen: "127.0.0.1:0".parse().unwrap(),
        database_url: db.url().to_owned(),
        jwt_secret: Some(SecretString::from(SECRET)),
        redis_url: Some(redis.url()),
        nats_url: Some(nats.url()),
        node_id: node.to_owned(),
        workers: 1,
        ..Settings::default()
    };
    let a = start_node(&settings("node-a")).await;
    let b = start_node(&settings("node-b")).await;
    let alice = register(&a, "alice").await.unwrap();
    let bob = register(&b, "bob").await.unwrap();
    let mut bob_on_b = SioClient::with_token(&b, &bob.token).await.unwrap();
    let mut alice_on_a = SioClient::with_token(&a, &alice.token).await.unwrap();

    // A new connection's sync answers once it is routed: the directory has bob on node b.
    let synced = bob_on_b.request("sync", json!({})).await.unwrap();
    assert_eq!(synced["ok"], true, "{synced}");
    let ack = alice_on_a
        .request(
            "message:send",
            json!({"to": {"user": bob.id}, "body": "traced", "client_msg_id": "t1"}),
        )
        .await
        .unwrap();
    assert_eq!(ack["ok"], true, "{ack}");
    let delivered = bob_on_b.next("message:new").await.unwrap();
    assert_eq!(delivered["id"], ack["message"]["id"]);

    let (send, receive) = eventually(
        "the sending and receiving spans",
        Duration::from_secs(10),
        || {
            let spans = exporter.get_finished_spans().unwrap();
            async move {
                let receive = named(&spans, "bus.receive")
                    .into_iter()
                    .find(|span| attribute(span, "node") == Some(&OtelValue::from("node-b")))?
                    .clone();
                let send = named(&spans, "message.send")
                    .into_iter()
                    .find(|span| span.span_context.span_id() == receive.parent_span_id)?
                    .clone();
                Some((send, receive))
            }
        },
    )
    .await
    .unwrap();
    assert_eq!(
        receive.span_context.trace_id(),
        send.span_context.trace_id(),
        "the recipient's node continues the sender's trace"
    );
    assert!(send.span_context.is_valid());
}
