//! The figures the server records, through `metrics` handles the application hands it in
//! [`crate::engineio::EngineConfig`] and [`crate::socketio::SocketIoConfig`]: the library
//! names no metric itself, so whether they are recorded, and under which names, is the
//! application's choice.

use metrics::{Counter, Gauge};

/// Where the server records its figures, one handle each. [`Metrics::default`] records
/// nothing; [`Metrics::prefixed`] registers conventional names with the global recorder,
/// and an application wanting other names or labels registers its own handles.
#[derive(Debug, Clone)]
pub struct Metrics {
    /// Engine.IO sessions open on this server: up when one opens, down when it closes.
    pub sessions: Gauge,
    /// New sessions refused by the admission caps (too many from one client address, or
    /// on this server).
    pub sessions_refused: Counter,
    /// Sessions closed because their client did not read what was sent to it fast enough.
    pub slow_consumer_disconnects: Counter,
    /// Polling requests forwarded to the node that holds their session and answered by it.
    pub polls_forwarded_ok: Counter,
    /// Polling requests forwarded to the node that holds their session that got no valid
    /// answer (the session is then treated as gone).
    pub polls_forwarded_failed: Counter,
    /// Commands for one socket (frames to send, an emit with ack, a disconnect) that its
    /// session could not take: gone, or its mailbox full.
    pub socket_commands_dropped: Counter,
    /// Broadcast deliveries dropped: one for each session that could not take the frames
    /// of a broadcast (its mailbox full).
    pub broadcast_deliveries_dropped: Counter,
}

impl Default for Metrics {
    /// No-op handles: a library user that sets nothing records nothing.
    fn default() -> Self {
        Self {
            sessions: Gauge::noop(),
            sessions_refused: Counter::noop(),
            slow_consumer_disconnects: Counter::noop(),
            polls_forwarded_ok: Counter::noop(),
            polls_forwarded_failed: Counter::noop(),
            socket_commands_dropped: Counter::noop(),
            broadcast_deliveries_dropped: Counter::noop(),
        }
    }
}

impl Metrics {
    /// Handles registered with the global recorder as `{prefix}_engineio_sessions`,
    /// `{prefix}_engineio_sessions_refused_total`, `{prefix}_slow_consumer_disconnects_total`,
    /// `{prefix}_polling_forwarded_total` (label `result`: `ok` or `failed`),
    /// `{prefix}_socketio_dropped_total` and `{prefix}_socketio_broadcast_dropped_total`.
    ///
    /// A handle is bound to the recorder installed when it is registered: install the
    /// recorder first, or these record nothing.
    pub fn prefixed(prefix: &str) -> Self {
        let forwarded = format!("{prefix}_polling_forwarded_total");
        Self {
            sessions: metrics::gauge!(format!("{prefix}_engineio_sessions")),
            sessions_refused: metrics::counter!(format!(
                "{prefix}_engineio_sessions_refused_total"
            )),
            slow_consumer_disconnects: metrics::counter!(format!(
                "{prefix}_slow_consumer_disconnects_total"
            )),
            polls_forwarded_ok: metrics::counter!(forwarded.clone(), "result" => "ok"),
            polls_forwarded_failed: metrics::counter!(forwarded, "result" => "failed"),
            socket_commands_dropped: metrics::counter!(format!("{prefix}_socketio_dropped_total")),
            broadcast_deliveries_dropped: metrics::counter!(format!(
                "{prefix}_socketio_broadcast_dropped_total"
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use metrics::{Histogram, Key, KeyName, Metadata, Recorder, SharedString, Unit};

    use super::*;

    /// A recorder that only notes which keys are registered, as `name{label=value,...}`.
    #[derive(Debug, Default)]
    struct Registrations(Mutex<Vec<String>>);

    impl Registrations {
        fn note(&self, key: &Key) {
            let labels: Vec<String> = key
                .labels()
                .map(|label| format!("{}={}", label.key(), label.value()))
                .collect();
            let noted = format!("{}{{{}}}", key.name(), labels.join(","));
            self.0.lock().unwrap().push(noted);
        }
    }

    impl Recorder for Registrations {
        fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
        fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
        fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}

        fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
            self.note(key);
            Counter::noop()
        }

        fn register_gauge(&self, key: &Key, _: &Metadata<'_>) -> Gauge {
            self.note(key);
            Gauge::noop()
        }

        fn register_histogram(&self, key: &Key, _: &Metadata<'_>) -> Histogram {
            self.note(key);
            Histogram::noop()
        }
    }

    #[test]
    fn prefixed_registers_each_figure_under_its_name() {
        let recorder = Registrations::default();
        metrics::with_local_recorder(&recorder, || Metrics::prefixed("app"));
        let mut registered = recorder.0.lock().unwrap().clone();
        registered.sort();
        assert_eq!(
            registered,
            [
                "app_engineio_sessions_refused_total{}",
                "app_engineio_sessions{}",
                "app_polling_forwarded_total{result=failed}",
                "app_polling_forwarded_total{result=ok}",
                "app_slow_consumer_disconnects_total{}",
                "app_socketio_broadcast_dropped_total{}",
                "app_socketio_dropped_total{}",
            ]
        );
    }
}
