//! The loads: `idle` (many connections doing nothing but heartbeats) and `direct` (pairs
//! of users exchanging direct messages as fast as acks allow, every message checked).

use std::collections::HashSet;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use hdrhistogram::Histogram;
use serde_json::{Value, json};

use crate::client::SioClient;
use crate::proc;

/// A user registered on the server under test.
#[derive(Debug, Clone)]
pub struct Account {
    /// The user id.
    pub id: String,
    /// A token for it.
    pub token: String,
}

/// Registers a user with a random-enough name.
pub async fn register(http: &reqwest::Client, url: &str, name: &str) -> Result<Account> {
    let reply: Value = http
        .post(format!("{url}/api/v1/auth/register"))
        .json(&json!({"username": name, "password": "load-test-password"}))
        .send()
        .await?
        .json()
        .await?;
    Ok(Account {
        id: reply["user"]["id"]
            .as_str()
            .context("no user id")?
            .to_owned(),
        token: reply["token"].as_str().context("no token")?.to_owned(),
    })
}

/// Opens `connections` authenticated connections, holds them `hold`, and reports the
/// server's memory per connection and its CPU time per second of idling.
pub async fn idle(
    url: &str,
    server_pid: u32,
    connections: usize,
    hold: Duration,
    run: &str,
) -> Result<String> {
    let http = reqwest::Client::new();
    let account = register(&http, url, &format!("idle-{run}")).await?;
    let before = proc::rss_bytes(server_pid)?;
    let mut clients = Vec::with_capacity(connections);
    let started = Instant::now();
    for _ in 0..connections {
        clients.push(SioClient::with_token(url, &account.token).await?);
    }
    let connect_secs = started.elapsed().as_secs_f64();
    let cpu_start = proc::cpu_seconds(server_pid)?;
    tokio::time::sleep(hold).await;
    let cpu = proc::cpu_seconds(server_pid)? - cpu_start;
    let after = proc::rss_bytes(server_pid)?;
    let per_connection = after.saturating_sub(before) as f64 / connections as f64;
    drop(clients);
    Ok(format!(
        "idle: {connections} connections ({:.0} connects/s, one at a time), server RSS {:.1} MiB -> {:.1} MiB: {:.1} KB per connection; \
         server CPU while idle {:.3} s over {:.0} s ({:.2}% of a core)",
        connections as f64 / connect_secs,
        before as f64 / 1048576.0,
        after as f64 / 1048576.0,
        per_connection / 1000.0,
        cpu,
        hold.as_secs_f64(),
        100.0 * cpu / hold.as_secs_f64()
    ))
}

/// `pairs` senders each send to their own receiver as fast as acks allow for `duration`;
/// every message must arrive once. Reports throughput, ack latency and server CPU.
pub async fn direct(
    url: &str,
    server_pid: Option<u32>,
    pairs: usize,
    duration: Duration,
    run: &str,
) -> Result<String> {
    let http = reqwest::Client::new();
    let mut tasks = Vec::new();
    let mut receivers = Vec::new();
    for pair in 0..pairs {
        let sender = register(&http, url, &format!("s{pair}-{run}")).await?;
        let receiver = register(&http, url, &format!("r{pair}-{run}")).await?;
        receivers.push(SioClient::with_token(url, &receiver.token).await?);
        let client = SioClient::with_token(url, &sender.token).await?;
        tasks.push((client, receiver.id));
    }
    let cpu_start = server_pid.map(proc::cpu_seconds).transpose()?;
    let started = Instant::now();
    let senders: Vec<_> = tasks
        .into_iter()
        .enumerate()
        .map(|(pair, (mut client, to))| {
            tokio::spawn(async move {
                let mut latencies = Histogram::<u64>::new(3)?;
                let mut sent = 0u64;
                while started.elapsed() < duration {
                    let body = json!({"to": {"user": to}, "body": "load test message", "client_msg_id": format!("{pair}-{sent}")});
                    let at = Instant::now();
                    let ack = client.request("message:send", body).await?;
                    if ack["ok"] != true {
                        bail!("send refused: {ack}");
                    }
                    latencies.record(at.elapsed().as_micros() as u64)?;
                    sent += 1;
                }
                anyhow::Ok((sent, latencies))
            })
        })
        .collect();
    let mut latencies = Histogram::<u64>::new(3)?;
    let mut sent_per_pair = Vec::with_capacity(pairs);
    for task in senders {
        let (count, histogram) = task.await??;
        sent_per_pair.push(count);
        latencies.add(histogram)?;
    }
    let sent: u64 = sent_per_pair.iter().sum();
    let elapsed = started.elapsed().as_secs_f64();
    let cpu = match (server_pid, cpu_start) {
        (Some(pid), Some(start)) => Some(proc::cpu_seconds(pid)? - start),
        _ => None,
    };
    let mut delivered = 0u64;
    let mut duplicated = 0u64;
    for (receiver, expected) in receivers.iter_mut().zip(sent_per_pair) {
        let mut ids = HashSet::new();
        while (ids.len() as u64) < expected {
            let Ok(message) = receiver.next("message:new").await else {
                break;
            };
            if !ids.insert(message["id"].as_str().unwrap_or_default().to_owned()) {
                duplicated += 1;
            }
        }
        delivered += ids.len() as u64;
    }
    let cpu_text = cpu.map_or(String::new(), |cpu| {
        format!(
            ", server CPU {:.1} µs per message",
            1e6 * cpu / sent.max(1) as f64
        )
    });
    Ok(format!(
        "direct: {pairs} pairs, {sent} messages in {elapsed:.1} s = {:.0} msg/s; ack latency p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms; \
         delivered {delivered}, lost {}, duplicated {duplicated}{cpu_text}",
        sent as f64 / elapsed,
        latencies.value_at_quantile(0.5) as f64 / 1000.0,
        latencies.value_at_quantile(0.99) as f64 / 1000.0,
        latencies.max() as f64 / 1000.0,
        sent.saturating_sub(delivered),
    ))
}
