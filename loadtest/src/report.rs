//! The result of a run ([`Report`], serialized as the result JSON) and its Markdown form.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::Path;

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::proc::Sample;
use crate::record::{Latency, Tally};
use crate::scenarios::Scenario;

/// One second of the run, as the charts show it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Point {
    /// Seconds since the start of the measured phase.
    pub second: usize,
    /// Messages acked in that second.
    pub acked: u64,
    /// Deliveries in that second.
    pub delivered: u64,
    /// Ack latency p50 in that second, µs.
    pub ack_p50_us: Option<u64>,
    /// Ack latency p99 in that second, µs.
    pub ack_p99_us: Option<u64>,
    /// Delivery latency p50 in that second, µs.
    pub deliver_p50_us: Option<u64>,
    /// Delivery latency p99 in that second, µs.
    pub deliver_p99_us: Option<u64>,
}

/// The result of one run. Fields that do not apply to the scenario are `null`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// The system under test.
    pub label: String,
    /// The scenario's name.
    pub scenario: String,
    /// Its parameters.
    pub params: Value,
    /// Parts the load was split into (worker processes with `--workers`, else 1).
    pub workers: usize,
    /// The measured window: sending time, hold, or the connect storm's length.
    pub duration_s: f64,
    /// Connections open during the run.
    pub connections: u64,
    /// Connection attempts that failed.
    pub connect_failures: u64,
    /// Messages sent.
    pub sent: Option<u64>,
    /// Messages acked `ok: true`.
    pub acked: Option<u64>,
    /// Messages acked with an error.
    pub refused: Option<u64>,
    /// Messages never answered.
    pub unanswered: Option<u64>,
    /// Distinct deliveries received.
    pub delivered: Option<u64>,
    /// Deliveries the acked messages called for.
    pub expected_deliveries: Option<u64>,
    /// Expected deliveries that never came.
    pub lost: Option<u64>,
    /// Repeated deliveries.
    pub duplicated: Option<u64>,
    /// Acked messages per second of the window.
    pub throughput_per_s: Option<f64>,
    /// Deliveries per second of the window.
    pub deliveries_per_s: Option<f64>,
    /// Send → ack latency.
    pub ack_latency_us: Option<Latency>,
    /// Send → deliver latency.
    pub deliver_latency_us: Option<Latency>,
    /// Successful connects per second (connect).
    pub connects_per_s: Option<f64>,
    /// Connect latency (connect, idle).
    pub connect_latency_us: Option<Latency>,
    /// CPU seconds of the `--pid` processes and their children over the window.
    pub server_cpu_s: Option<f64>,
    /// The same by process name (the nodes, the database, Redis...).
    pub server_cpu_s_by_process: BTreeMap<String, f64>,
    /// Server CPU per acked message, µs.
    pub cpu_us_per_message: Option<f64>,
    /// Server CPU per delivery, µs.
    pub cpu_us_per_delivery: Option<f64>,
    /// Server CPU as a share of one core over the window, percent.
    pub server_cpu_percent: Option<f64>,
    /// The load generator's own CPU (workers included) as a share of one core over the
    /// window, percent: near 100 per core it has, the figures measure the client.
    pub loadgen_cpu_percent: Option<f64>,
    /// Summed RSS of the `--pid` processes before connecting.
    pub server_rss_bytes_before: Option<u64>,
    /// Summed RSS at the end of the window, connections still open.
    pub server_rss_bytes_after: Option<u64>,
    /// (after − before) / connections (idle).
    pub rss_bytes_per_connection: Option<f64>,
    /// Scenario-specific counts (typing, receipts, presence queries, closed connections).
    pub extra: BTreeMap<String, u64>,
    /// Per-second throughput and latency.
    pub timeline: Vec<Point>,
}

/// What the parent measured around the run.
#[derive(Debug, Clone)]
pub struct Measured {
    /// Server sample before any connection.
    pub before: Option<Sample>,
    /// At the start of the measured phase.
    pub start: Option<Sample>,
    /// At its end.
    pub end: Option<Sample>,
    /// Wall time of the measured phase, seconds.
    pub wall_s: f64,
    /// CPU seconds the load generator (with its workers) spent in it.
    pub loadgen_cpu_s: Option<f64>,
}

impl Report {
    /// Builds the report of `scenario` from the merged tally and the server samples.
    pub fn new(
        label: &str,
        scenario: &Scenario,
        workers: usize,
        tally: &Tally,
        measured: Measured,
    ) -> Self {
        let messaging = matches!(
            scenario,
            Scenario::Direct { .. } | Scenario::Fanout { .. } | Scenario::Mixed { .. }
        );
        let duration_s = scenario
            .window()
            .map_or(measured.wall_s, |window| window.as_secs_f64());
        let count = |count: u64| messaging.then_some(count);
        let per_second =
            |count: u64| (messaging && duration_s > 0.0).then(|| count as f64 / duration_s);
        let (cpu, cpu_by_process) = match (&measured.start, &measured.end) {
            (Some(start), Some(end)) => (
                Some(end.cpu_s() - start.cpu_s()),
                end.cpu_s_by_name
                    .iter()
                    .map(|(name, cpu)| {
                        let before = start.cpu_s_by_name.get(name).copied().unwrap_or_default();
                        (name.clone(), cpu - before)
                    })
                    .collect(),
            ),
            _ => (None, BTreeMap::new()),
        };
        let per = |count: u64| {
            cpu.filter(|_| messaging && count > 0)
                .map(|cpu| 1e6 * cpu / count as f64)
        };
        let idle = matches!(scenario, Scenario::Idle { .. });
        let rss_per_connection = match (&measured.before, &measured.end) {
            (Some(before), Some(end)) if idle && tally.connections > 0 => Some(
                end.rss_bytes.saturating_sub(before.rss_bytes) as f64 / tally.connections as f64,
            ),
            _ => None,
        };
        let storm = matches!(scenario, Scenario::Connect { .. });
        Self {
            label: label.to_owned(),
            scenario: scenario.name().to_owned(),
            params: scenario.params(),
            workers,
            duration_s,
            connections: tally.connections,
            connect_failures: tally.connect_failures,
            sent: count(tally.sent),
            acked: count(tally.acked),
            refused: count(tally.refused),
            unanswered: count(tally.sent.saturating_sub(tally.acked + tally.refused)),
            delivered: count(tally.delivered),
            expected_deliveries: count(tally.expected),
            lost: count(tally.lost),
            duplicated: count(tally.duplicated),
            throughput_per_s: per_second(tally.acked),
            deliveries_per_s: per_second(tally.delivered),
            ack_latency_us: Latency::of(&tally.ack),
            deliver_latency_us: Latency::of(&tally.deliver),
            connects_per_s: (storm && measured.wall_s > 0.0)
                .then(|| tally.connections as f64 / measured.wall_s),
            connect_latency_us: Latency::of(&tally.connect),
            server_cpu_s: cpu,
            server_cpu_s_by_process: cpu_by_process,
            cpu_us_per_message: per(tally.acked),
            cpu_us_per_delivery: per(tally.delivered),
            server_cpu_percent: cpu
                .filter(|_| measured.wall_s > 0.0)
                .map(|cpu| 100.0 * cpu / measured.wall_s),
            loadgen_cpu_percent: measured
                .loadgen_cpu_s
                .filter(|_| measured.wall_s > 0.0)
                .map(|cpu| 100.0 * cpu / measured.wall_s),
            server_rss_bytes_before: measured.before.as_ref().map(|sample| sample.rss_bytes),
            server_rss_bytes_after: measured.end.as_ref().map(|sample| sample.rss_bytes),
            rss_bytes_per_connection: rss_per_connection,
            extra: tally.extra.clone(),
            timeline: tally
                .timeline
                .iter()
                .enumerate()
                .map(|(second, counts)| Point {
                    second,
                    acked: counts.acked,
                    delivered: counts.delivered,
                    ack_p50_us: Latency::of(&counts.ack).map(|latency| latency.p50),
                    ack_p99_us: Latency::of(&counts.ack).map(|latency| latency.p99),
                    deliver_p50_us: Latency::of(&counts.deliver).map(|latency| latency.p50),
                    deliver_p99_us: Latency::of(&counts.deliver).map(|latency| latency.p99),
                })
                .collect(),
        }
    }

    /// A short Markdown section: the figures that apply, in a two-column table.
    pub fn markdown(&self) -> String {
        let mut rows: Vec<(String, String)> = vec![
            ("connections".into(), self.connections.to_string()),
            ("window".into(), format!("{:.1} s", self.duration_s)),
        ];
        let mut row = |name: &str, value: Option<String>| {
            if let Some(value) = value {
                rows.push((name.to_owned(), value));
            }
        };
        let latency = |latency: Option<Latency>| {
            latency.map(|latency| {
                format!(
                    "{:.2} / {:.2} / {:.2} / {:.2} ms (p50 / p99 / p99.9 / max)",
                    ms(latency.p50),
                    ms(latency.p99),
                    ms(latency.p999),
                    ms(latency.max)
                )
            })
        };
        row(
            "sent / acked / refused",
            self.sent
                .zip(self.acked)
                .zip(self.refused)
                .map(|((sent, acked), refused)| format!("{sent} / {acked} / {refused}")),
        );
        row(
            "delivered / expected",
            self.delivered
                .zip(self.expected_deliveries)
                .map(|(delivered, expected)| format!("{delivered} / {expected}")),
        );
        row(
            "lost / duplicated",
            self.lost
                .zip(self.duplicated)
                .map(|(lost, duplicated)| format!("{lost} / {duplicated}")),
        );
        row(
            "messages/s",
            self.throughput_per_s.map(|rate| format!("{rate:.0}")),
        );
        row(
            "deliveries/s",
            self.deliveries_per_s.map(|rate| format!("{rate:.0}")),
        );
        row("send → ack", latency(self.ack_latency_us));
        row("send → deliver", latency(self.deliver_latency_us));
        row(
            "connects/s",
            self.connects_per_s.map(|rate| format!("{rate:.0}")),
        );
        row(
            "failed connects",
            (self.connect_failures > 0).then(|| self.connect_failures.to_string()),
        );
        row("connect latency", latency(self.connect_latency_us));
        row(
            "server CPU",
            self.server_cpu_s.map(|cpu| {
                format!(
                    "{cpu:.2} s ({:.0}% of a core)",
                    self.server_cpu_percent.unwrap_or_default()
                )
            }),
        );
        row(
            "server CPU by process",
            shares(&self.server_cpu_s_by_process),
        );
        row(
            "load generator CPU",
            self.loadgen_cpu_percent
                .map(|percent| format!("{percent:.0}% of a core")),
        );
        row(
            "server CPU per message",
            self.cpu_us_per_message.map(|us| format!("{us:.1} µs")),
        );
        row(
            "server CPU per delivery",
            self.cpu_us_per_delivery.map(|us| format!("{us:.2} µs")),
        );
        row(
            "server RSS before → after",
            self.server_rss_bytes_before
                .zip(self.server_rss_bytes_after)
                .map(|(before, after)| format!("{:.1} → {:.1} MiB", mib(before), mib(after))),
        );
        row(
            "RSS per connection",
            self.rss_bytes_per_connection
                .map(|bytes| format!("{:.1} KB", bytes / 1000.0)),
        );
        for (name, count) in &self.extra {
            rows.push((name.replace('_', " "), count.to_string()));
        }
        let mut text = format!(
            "### {} — {} {}\n\n| figure | value |\n|---|---|\n",
            self.label, self.scenario, self.params
        );
        for (name, value) in rows {
            let _ = writeln!(text, "| {name} | {value} |");
        }
        text
    }

    /// Writes the JSON to `path`.
    pub fn write_json(&self, path: &Path) -> Result<()> {
        let text = serde_json::to_string_pretty(self)?;
        std::fs::write(path, text + "\n").with_context(|| format!("writing {}", path.display()))
    }

    /// Appends the Markdown section to `path`.
    pub fn append_markdown(&self, path: &Path) -> Result<()> {
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .with_context(|| format!("opening {}", path.display()))?;
        writeln!(file, "{}", self.markdown()).with_context(|| format!("writing {}", path.display()))
    }
}

fn ms(micros: u64) -> f64 {
    micros as f64 / 1000.0
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / 1_048_576.0
}

/// Each process's share of the server CPU, largest first ("confab 58%, postgres 29%"), when
/// there is more than one process and any CPU was used.
fn shares(by_process: &BTreeMap<String, f64>) -> Option<String> {
    let total: f64 = by_process.values().sum();
    if by_process.len() < 2 || total <= 0.0 {
        return None;
    }
    let mut shares: Vec<_> = by_process.iter().collect();
    shares.sort_by(|a, b| b.1.total_cmp(a.1));
    let shares: Vec<String> = shares
        .into_iter()
        .map(|(name, cpu)| format!("{name} {:.0}%", 100.0 * cpu / total))
        .collect();
    Some(shares.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_are_listed_largest_first_and_only_for_several_processes() {
        let by_process: BTreeMap<String, f64> =
            [("confab", 6.0), ("nats-server", 0.5), ("postgres", 3.5)]
                .into_iter()
                .map(|(name, cpu)| (name.to_owned(), cpu))
                .collect();
        assert_eq!(
            shares(&by_process).as_deref(),
            Some("confab 60%, postgres 35%, nats-server 5%")
        );
        let alone: BTreeMap<String, f64> = [("confab".to_owned(), 6.0)].into_iter().collect();
        assert_eq!(shares(&alone), None);
        let idle: BTreeMap<String, f64> = [("a".to_owned(), 0.0), ("b".to_owned(), 0.0)]
            .into_iter()
            .collect();
        assert_eq!(shares(&idle), None);
    }
}
