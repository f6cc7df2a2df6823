//! Telemetry of a real `confab` process: JSON logs, and OTLP traces reaching a collector.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use confab_testkit::NodeProcess;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

use crate::helpers::client;

const CONFAB: &str = env!("CARGO_BIN_EXE_confab");

#[tokio::test]
async fn json_log_format_writes_one_json_object_per_line() {
    let node = NodeProcess::start(CONFAB, &[("CONFAB_LOG_FORMAT", "json".to_owned())])
        .await
        .unwrap();
    let logs = node.logs();
    let lines: Vec<&str> = logs.lines().filter(|line| !line.is_empty()).collect();
    assert!(!lines.is_empty(), "the node logged nothing");
    for line in lines {
        let entry: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|error| panic!("not JSON ({error}): {line}"));
        assert!(entry["level"].is_string(), "{line}");
    }
}

/// A stand-in OTLP/HTTP collector: records the request line of every request it gets.
async fn collector() -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let record = seen.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let record = record.clone();
            tokio::spawn(async move {
                let mut stream = BufReader::new(stream);
                let mut request_line = String::new();
                stream.read_line(&mut request_line).await.ok()?;
                let mut length = 0usize;
                loop {
                    let mut header = String::new();
                    stream.read_line(&mut header).await.ok()?;
                    if header.trim().is_empty() {
                        break;
                    }
                    if let Some((name, value)) = header.split_once(':')
                        && name.eq_ignore_ascii_case("content-length")
                    {
                        length = value.trim().parse().ok()?;
                    }
                }
                let mut body = vec![0; length];
                stream.read_exact(&mut body).await.ok()?;
                record.lock().ok()?.push(request_line.trim().to_owned());
                stream
                    .get_mut()
                    .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
                    .await
                    .ok()
            });
        }
    });
    (endpoint, seen)
}

#[tokio::test]
async fn traces_are_exported_over_otlp_when_an_endpoint_is_set() {
    let (endpoint, seen) = collector().await;
    let mut node = NodeProcess::start(CONFAB, &[("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint)])
        .await
        .unwrap();
    let reply = client()
        .get(format!("{}/healthz", node.base_url()))
        .send()
        .await
        .unwrap();
    assert!(reply.status().is_success());
    // Stopping flushes the spans still batched.
    node.signal("TERM").unwrap();
    let status = node.wait_exit(Duration::from_secs(20)).await.unwrap();
    assert!(status.success(), "{}", node.logs());
    let requests = seen.lock().unwrap().clone();
    assert!(
        requests
            .iter()
            .any(|line| line.starts_with("POST /v1/traces")),
        "the collector got {requests:?}; node log:\n{}",
        node.logs()
    );
}
