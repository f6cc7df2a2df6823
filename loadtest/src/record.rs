//! What one process measured during a run: counts, HDR latency histograms and a
//! per-second timeline, in a [`Tally`] that worker processes serialize (histograms in
//! HdrHistogram's V2 format, base64) and the parent merges.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::Result;
use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

/// Significant figures of the whole-run histograms.
const SIGNIFICANT: u8 = 3;
/// Significant figures of the per-second histograms (they only feed the charts).
const SIGNIFICANT_PER_SECOND: u8 = 2;
/// The largest latency recorded, µs; larger ones are recorded as this.
const HIGHEST_US: u64 = 60_000_000;

/// Counts and latencies of (a part of) a run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Tally {
    /// Connections that were open for the run.
    pub connections: u64,
    /// Connection attempts that failed.
    pub connect_failures: u64,
    /// Messages sent.
    pub sent: u64,
    /// Messages acknowledged with `ok: true`.
    pub acked: u64,
    /// Messages acknowledged with an error.
    pub refused: u64,
    /// Distinct messages received by the connections meant to get them.
    pub delivered: u64,
    /// Deliveries the acked messages called for.
    pub expected: u64,
    /// Expected deliveries that never came.
    pub lost: u64,
    /// Deliveries of a message a connection had already received.
    pub duplicated: u64,
    /// Scenario-specific counts (typing, receipts, presence queries, ...).
    pub extra: BTreeMap<String, u64>,
    /// Send → ack latency, µs (from the intended send time at a fixed rate).
    #[serde(with = "v2_base64")]
    pub ack: Histogram<u64>,
    /// Send → deliver latency, µs.
    #[serde(with = "v2_base64")]
    pub deliver: Histogram<u64>,
    /// Connect latency (WebSocket open to Socket.IO CONNECT reply), µs.
    #[serde(with = "v2_base64")]
    pub connect: Histogram<u64>,
    /// One entry per second of the run.
    pub timeline: Vec<Second>,
}

/// What happened in one second of the run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Second {
    /// Messages acked in this second.
    pub acked: u64,
    /// Distinct deliveries in this second.
    pub delivered: u64,
    /// Their ack latencies, µs.
    #[serde(with = "v2_base64")]
    pub ack: Histogram<u64>,
    /// Their delivery latencies, µs.
    #[serde(with = "v2_base64")]
    pub deliver: Histogram<u64>,
}

fn histogram(significant: u8) -> Histogram<u64> {
    Histogram::new_with_bounds(1, HIGHEST_US, significant)
        .expect("the bounds and 2 or 3 significant figures are in range")
}

impl Default for Tally {
    fn default() -> Self {
        Self {
            connections: 0,
            connect_failures: 0,
            sent: 0,
            acked: 0,
            refused: 0,
            delivered: 0,
            expected: 0,
            lost: 0,
            duplicated: 0,
            extra: BTreeMap::new(),
            ack: histogram(SIGNIFICANT),
            deliver: histogram(SIGNIFICANT),
            connect: histogram(SIGNIFICANT),
            timeline: Vec::new(),
        }
    }
}

impl Second {
    fn new() -> Self {
        Self {
            acked: 0,
            delivered: 0,
            ack: histogram(SIGNIFICANT_PER_SECOND),
            deliver: histogram(SIGNIFICANT_PER_SECOND),
        }
    }
}

impl Tally {
    /// Adds `other` (another worker's part of the same run) to this one.
    pub fn merge(&mut self, other: &Tally) -> Result<()> {
        self.connections += other.connections;
        self.connect_failures += other.connect_failures;
        self.sent += other.sent;
        self.acked += other.acked;
        self.refused += other.refused;
        self.delivered += other.delivered;
        self.expected += other.expected;
        self.lost += other.lost;
        self.duplicated += other.duplicated;
        for (name, count) in &other.extra {
            *self.extra.entry(name.clone()).or_default() += count;
        }
        self.ack.add(&other.ack)?;
        self.deliver.add(&other.deliver)?;
        self.connect.add(&other.connect)?;
        for (index, second) in other.timeline.iter().enumerate() {
            let mine = self.second(index);
            mine.acked += second.acked;
            mine.delivered += second.delivered;
            mine.ack.add(&second.ack)?;
            mine.deliver.add(&second.deliver)?;
        }
        Ok(())
    }

    fn second(&mut self, index: usize) -> &mut Second {
        if self.timeline.len() <= index {
            self.timeline.resize_with(index + 1, Second::new);
        }
        &mut self.timeline[index]
    }

    /// Adds `count` to the scenario-specific counter `name`.
    pub fn count(&mut self, name: &str, count: u64) {
        *self.extra.entry(name.to_owned()).or_default() += count;
    }
}

/// The shared, live [`Tally`] of one process, with the clock of the run.
#[derive(Debug, Clone)]
pub struct Recorder {
    tally: Arc<Mutex<Tally>>,
    clock: Arc<Mutex<Clock>>,
}

/// When the measured phase started, on both clocks (delivery latency crosses processes,
/// so it is measured on the wall clock, in the message body).
#[derive(Debug, Clone, Copy)]
struct Clock {
    instant: Instant,
    unix_us: u64,
}

impl Clock {
    fn now() -> Self {
        Self {
            instant: Instant::now(),
            unix_us: unix_now_us(),
        }
    }
}

/// The wall clock in µs since the Unix epoch.
pub fn unix_now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_micros() as u64)
}

fn micros(duration: Duration) -> u64 {
    u64::try_from(duration.as_micros()).unwrap_or(u64::MAX)
}

impl Default for Recorder {
    fn default() -> Self {
        Self {
            tally: Arc::default(),
            clock: Arc::new(Mutex::new(Clock::now())),
        }
    }
}

impl Recorder {
    /// Locks the tally (a poisoned lock still holds valid counts).
    pub fn tally(&self) -> MutexGuard<'_, Tally> {
        self.tally
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Marks the start of the measured phase: the timeline counts seconds from here.
    pub fn start_clock(&self) {
        if let Ok(mut clock) = self.clock.lock() {
            *clock = Clock::now();
        }
    }

    fn clock(&self) -> Clock {
        self.clock
            .lock()
            .map_or_else(|_| Clock::now(), |clock| *clock)
    }

    /// The wall-clock time of `instant`, in µs since the Unix epoch.
    pub fn unix_us(&self, instant: Instant) -> u64 {
        let clock = self.clock();
        match instant.checked_duration_since(clock.instant) {
            Some(after) => clock.unix_us + micros(after),
            None => clock
                .unix_us
                .saturating_sub(micros(clock.instant - instant)),
        }
    }

    fn second_now(&self) -> usize {
        self.clock().instant.elapsed().as_secs() as usize
    }

    /// Records an ack that came now for a message meant to leave at `intended`, with
    /// `recipients` deliveries expected if it was accepted.
    pub fn ack(&self, intended: Instant, accepted: bool, recipients: u64) {
        let latency = micros(intended.elapsed());
        let second = self.second_now();
        let mut tally = self.tally();
        if !accepted {
            tally.refused += 1;
            return;
        }
        tally.acked += 1;
        tally.expected += recipients;
        tally.ack.saturating_record(latency);
        let second = tally.second(second);
        second.acked += 1;
        second.ack.saturating_record(latency);
    }

    /// Records the first delivery of a message whose body says it left at `sent_unix_us`.
    pub fn delivery(&self, sent_unix_us: Option<u64>) {
        let second = self.second_now();
        let latency = sent_unix_us.map(|sent| unix_now_us().saturating_sub(sent));
        let mut tally = self.tally();
        tally.delivered += 1;
        if let Some(latency) = latency {
            tally.deliver.saturating_record(latency);
        }
        let second = tally.second(second);
        second.delivered += 1;
        if let Some(latency) = latency {
            second.deliver.saturating_record(latency);
        }
    }

    /// Records a connection attempt that took `took` (successful or not).
    pub fn connect(&self, took: Duration, ok: bool) {
        let mut tally = self.tally();
        if ok {
            tally.connections += 1;
            tally.connect.saturating_record(micros(took));
        } else {
            tally.connect_failures += 1;
        }
    }

    /// A copy of the tally as it stands.
    pub fn snapshot(&self) -> Tally {
        self.tally().clone()
    }

    /// Whether every message sent was answered and every expected delivery came.
    pub fn settled(&self) -> bool {
        let tally = self.tally();
        tally.acked + tally.refused >= tally.sent && tally.delivered >= tally.expected
    }
}

/// A latency summary in µs, as the result JSON carries it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Latency {
    /// Median.
    pub p50: u64,
    /// 90th percentile.
    pub p90: u64,
    /// 99th percentile.
    pub p99: u64,
    /// 99.9th percentile.
    pub p999: u64,
    /// Largest value.
    pub max: u64,
    /// How many values.
    pub count: u64,
}

impl Latency {
    /// Summarises `histogram`; `None` when it is empty.
    pub fn of(histogram: &Histogram<u64>) -> Option<Self> {
        (!histogram.is_empty()).then(|| Self {
            p50: histogram.value_at_quantile(0.5),
            p90: histogram.value_at_quantile(0.9),
            p99: histogram.value_at_quantile(0.99),
            p999: histogram.value_at_quantile(0.999),
            max: histogram.max(),
            count: histogram.len(),
        })
    }
}

/// Serde for a histogram: HdrHistogram's V2 encoding, in base64.
mod v2_base64 {
    use base64::Engine;
    use base64::engine::general_purpose::STANDARD;
    use hdrhistogram::Histogram;
    use hdrhistogram::serialization::{Deserializer as V2Reader, Serializer as _, V2Serializer};
    use serde::{Deserialize, Deserializer, Serializer, de::Error as _, ser::Error as _};

    pub(super) fn serialize<S: Serializer>(
        histogram: &Histogram<u64>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        let mut bytes = Vec::new();
        V2Serializer::new()
            .serialize(histogram, &mut bytes)
            .map_err(|error| S::Error::custom(format!("{error:?}")))?;
        serializer.serialize_str(&STANDARD.encode(bytes))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Histogram<u64>, D::Error> {
        let text = String::deserialize(deserializer)?;
        let bytes = STANDARD.decode(text).map_err(D::Error::custom)?;
        V2Reader::new()
            .deserialize(&mut bytes.as_slice())
            .map_err(|error| D::Error::custom(format!("{error:?}")))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn tallies_survive_json_and_merge_counts_histograms_and_seconds() {
        let recorder = Recorder::default();
        recorder.tally().sent = 3;
        recorder.ack(Instant::now() - Duration::from_millis(2), true, 2);
        recorder.ack(Instant::now(), false, 2);
        recorder.delivery(Some(unix_now_us() - 1500));
        recorder.tally().count("typing", 4);
        let text = serde_json::to_string(&recorder.snapshot()).unwrap();
        let one: Tally = serde_json::from_str(&text).unwrap();
        assert_eq!((one.acked, one.refused, one.expected), (1, 1, 2));
        assert_eq!(one.ack.len(), 1);
        assert!(one.ack.max() >= 2000, "{}", one.ack.max());
        let mut merged = one.clone();
        merged.merge(&one).unwrap();
        assert_eq!((merged.sent, merged.acked, merged.delivered), (6, 2, 2));
        assert_eq!(merged.ack.len(), 2);
        assert_eq!(merged.deliver.len(), 2);
        assert_eq!(merged.extra["typing"], 8);
        assert_eq!(merged.timeline[0].acked, 2);
        assert_eq!(Latency::of(&merged.connect), None);
        assert!(!recorder.settled());
    }
}
