//! Webhooks: events POSTed as signed JSON to the URLs an operator configured, for push
//! relays (`message.offline`) and integrations. What is sent when is the chat's business
//! (`chat/hooks.rs`); this module gets it there.
//!
//! Delivery is at least once. An event goes into a bounded queue ([`QUEUE_EVENTS`]; past
//! it the event is dropped, counted and logged), from which one task writes it to the
//! database outbox (`webhook_events`, one row per endpoint) in batches; only then is it
//! sent, so a node that restarts, or dies (another node's dispatcher takes its rows once
//! their lease runs out), still delivers it. A failed delivery is tried again after 1, 2,
//! 4, ... times `webhook_retry_base_ms` (at most ten minutes apart) until
//! `webhook_max_attempts`; the outbox holds at most `webhook_queue_max` rows. Receivers
//! deduplicate by the event's `id` (`X-Confab-Event-Id`).
//!
//! Every request carries `X-Confab-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of
//! "<t>.<body>" with the secret>`, so a receiver can check where it came from and refuse
//! old replays.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use chrono::{DateTime, SubsecRound, Utc};
use confab_entities::webhook_event;
use hmac::{Hmac, KeyInit, Mac};
use sea_orm::DatabaseConnection;
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};
use sha2::Sha256;
use tokio::sync::{Notify, mpsc};
use tokio_util::sync::CancellationToken;

use crate::store::webhooks as store;

/// Events that may wait to be written to the outbox.
const QUEUE_EVENTS: usize = 10_000;
/// Most events written in one statement.
const WRITE_BATCH: usize = 64;
/// Most rows one round of the dispatcher sends (at once).
const SEND_BATCH: u64 = 32;
/// How long a node holds a row it is sending before another may take it.
const LEASE: Duration = Duration::from_secs(60);
/// Longest wait between two attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(600);
/// Longest one delivery may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// How often the dispatcher looks for due rows when nothing wakes it.
const POLL: Duration = Duration::from_millis(500);

/// How webhooks are configured.
#[derive(Debug, Clone)]
pub struct WebhookSettings {
    /// The endpoints.
    pub endpoints: Vec<String>,
    /// The signing secret.
    pub secret: SecretString,
    /// Whether events carry message text (previews and bodies).
    pub include_body: bool,
    /// The first wait before a retry.
    pub retry_base: Duration,
    /// Attempts before an event is given up.
    pub max_attempts: u32,
    /// Most rows the outbox holds.
    pub queue_max: u64,
}

/// An event on its way to the outbox.
#[derive(Debug)]
struct Outgoing {
    id: String,
    kind: &'static str,
    payload: String,
    at: DateTime<Utc>,
}

/// The handle the chat emits events through.
#[derive(Debug, Clone)]
pub struct Webhooks {
    queue: mpsc::Sender<Outgoing>,
    include_body: bool,
    /// The outbox is at `queue_max`: new events are dropped.
    full: Arc<AtomicBool>,
}

impl Webhooks {
    /// Starts the outbox writer and the dispatcher, which run until `shutdown`.
    pub fn start(
        settings: WebhookSettings,
        db: DatabaseConnection,
        shutdown: CancellationToken,
    ) -> anyhow::Result<Self> {
        let (queue, events) = mpsc::channel(QUEUE_EVENTS);
        let full = Arc::new(AtomicBool::new(false));
        let wake = Arc::new(Notify::new());
        // A redirect is no delivery: followed, it would turn the POST into a GET.
        let client = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("confab/", env!("CARGO_PKG_VERSION")))
            .build()?;
        let include_body = settings.include_body;
        let settings = Arc::new(settings);
        actix_web::rt::spawn(write_outbox(
            events,
            db.clone(),
            settings.clone(),
            wake.clone(),
        ));
        let dispatcher = Dispatcher {
            db,
            client,
            settings,
            wake,
            full: full.clone(),
        };
        actix_web::rt::spawn(dispatcher.run(shutdown));
        Ok(Self {
            queue,
            include_body,
            full,
        })
    }

    /// Whether events may carry message text.
    pub fn include_body(&self) -> bool {
        self.include_body
    }

    /// Queues an event of type `kind` (`message.created`, ...) with `data`.
    pub fn emit(&self, kind: &'static str, data: Value) {
        if self.full.load(Ordering::Relaxed) {
            dropped(kind, "the outbox is full");
            return;
        }
        let id = uuid::Uuid::now_v7().to_string();
        let at = Utc::now().trunc_subsecs(6);
        let payload = json!({"id": id, "type": kind, "created_at": at, "data": data}).to_string();
        let event = Outgoing {
            id,
            kind,
            payload,
            at,
        };
        if self.queue.try_send(event).is_err() {
            dropped(kind, "the queue is full");
        }
    }
}

fn dropped(kind: &'static str, why: &str) {
    metrics::counter!("confab_webhook_dropped_total", "type" => kind).increment(1);
    tracing::warn!(kind, why, "webhook event dropped");
}

/// Writes queued events to the outbox, a batch at a time, one row per endpoint; ends
/// when the last handle is gone.
async fn write_outbox(
    mut events: mpsc::Receiver<Outgoing>,
    db: DatabaseConnection,
    settings: Arc<WebhookSettings>,
    wake: Arc<Notify>,
) {
    let mut batch = Vec::with_capacity(WRITE_BATCH);
    while events.recv_many(&mut batch, WRITE_BATCH).await > 0 {
        let rows = batch
            .drain(..)
            .flat_map(|event| {
                settings
                    .endpoints
                    .iter()
                    .map(move |endpoint| webhook_event::Model {
                        id: uuid::Uuid::now_v7().to_string(),
                        event_id: event.id.clone(),
                        endpoint: endpoint.clone(),
                        kind: event.kind.to_owned(),
                        payload: event.payload.clone(),
                        attempts: 0,
                        next_attempt_at: event.at,
                        created_at: event.at,
                    })
            })
            .collect::<Vec<_>>();
        let count = rows.len();
        match store::insert(&db, rows).await {
            Ok(()) => wake.notify_one(),
            Err(error) => {
                metrics::counter!("confab_webhook_dropped_total", "type" => "any")
                    .increment(count as u64);
                tracing::warn!(%error, count, "webhook events could not be stored");
            }
        }
    }
}

/// Sends what is due in the outbox.
struct Dispatcher {
    db: DatabaseConnection,
    client: reqwest::Client,
    settings: Arc<WebhookSettings>,
    wake: Arc<Notify>,
    full: Arc<AtomicBool>,
}

impl Dispatcher {
    async fn run(self, shutdown: CancellationToken) {
        let mut rounds: u32 = 0;
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = self.wake.notified() => {}
                () = tokio::time::sleep(POLL) => {}
            }
            // Now and then, how much waits (which bounds the outbox).
            if rounds.is_multiple_of(10) {
                self.measure().await;
            }
            rounds = rounds.wrapping_add(1);
            match store::due(&self.db, Utc::now(), SEND_BATCH).await {
                Ok(due) => {
                    let sends = due.into_iter().map(|row| self.attempt(row));
                    let sent = futures_util::future::join_all(sends).await;
                    // A full round: more may be due at once.
                    if sent.len() as u64 == SEND_BATCH {
                        self.wake.notify_one();
                    }
                }
                Err(error) => tracing::warn!(%error, "could not read the webhook outbox"),
            }
        }
    }

    async fn measure(&self) {
        if let Ok(waiting) = store::waiting(&self.db).await {
            metrics::gauge!("confab_webhook_outbox_rows").set(waiting as f64);
            self.full
                .store(waiting >= self.settings.queue_max, Ordering::Relaxed);
        }
    }

    /// Takes `row` and tries it once: delivered or given up, it goes; else it waits.
    async fn attempt(&self, row: webhook_event::Model) {
        let lease_until = Utc::now() + LEASE;
        if !store::take(&self.db, &row, lease_until)
            .await
            .unwrap_or(false)
        {
            return;
        }
        let attempts = u32::try_from(row.attempts).unwrap_or(0) + 1;
        let endpoint = host_of(&row.endpoint);
        let outcome = match self.post(&row).await {
            Ok(()) => "delivered",
            Err(_) if attempts >= self.settings.max_attempts => "given_up",
            Err(_) => "retry",
        };
        metrics::counter!("confab_webhook_deliveries_total", "endpoint" => endpoint.clone(), "outcome" => outcome)
            .increment(1);
        let saved = if outcome == "retry" {
            let wait = backoff(self.settings.retry_base, attempts);
            store::retry_at(&self.db, &row.id, Utc::now() + wait).await
        } else {
            if outcome == "given_up" {
                tracing::warn!(
                    event = row.event_id,
                    endpoint,
                    attempts,
                    "webhook event given up"
                );
            }
            store::remove(&self.db, &row.id).await
        };
        if let Err(error) = saved {
            // The lease runs out and the row is tried again: at least once.
            tracing::warn!(%error, "could not record a webhook attempt");
        }
    }

    /// POSTs the row's payload, signed; fine only with a 2xx answer.
    async fn post(&self, row: &webhook_event::Model) -> Result<(), String> {
        let timestamp = Utc::now().timestamp();
        let signature = sign(
            self.settings.secret.expose_secret().as_bytes(),
            timestamp,
            &row.payload,
        );
        let answer = self
            .client
            .post(&row.endpoint)
            .header("content-type", "application/json")
            .header("x-confab-event-id", &row.event_id)
            .header("x-confab-event-type", &row.kind)
            .header(
                "x-confab-signature",
                format!("t={timestamp},v1={signature}"),
            )
            .body(row.payload.clone())
            .send()
            .await
            .map_err(|error| error.to_string())?;
        if answer.status().is_success() {
            Ok(())
        } else {
            Err(answer.status().to_string())
        }
    }
}

/// The wait after the `attempts`-th failure: the base, doubled per attempt, at most
/// [`MAX_BACKOFF`].
fn backoff(base: Duration, attempts: u32) -> chrono::TimeDelta {
    let wait = base
        .saturating_mul(1 << attempts.saturating_sub(1).min(20))
        .min(MAX_BACKOFF);
    chrono::TimeDelta::from_std(wait).unwrap_or(chrono::TimeDelta::MAX)
}

/// Hex HMAC-SHA256 of `"<timestamp>.<body>"`.
pub fn sign(secret: &[u8], timestamp: i64, body: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes any key length");
    mac.update(format!("{timestamp}.").as_bytes());
    mac.update(body.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// An endpoint as a metric label: its host and port, never its path or credentials.
fn host_of(endpoint: &str) -> String {
    reqwest::Url::parse(endpoint)
        .ok()
        .and_then(|url| {
            let host = url.host_str()?.to_owned();
            Some(match url.port() {
                Some(port) => format!("{host}:{port}"),
                None => host,
            })
        })
        .unwrap_or_else(|| "invalid".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_wait_twice_as_long_each_time_up_to_ten_minutes() {
        let base = Duration::from_secs(1);
        let secs = |attempts| backoff(base, attempts).num_seconds();
        assert_eq!([secs(1), secs(2), secs(3), secs(10)], [1, 2, 4, 512]);
        assert_eq!(secs(11), 600);
        assert_eq!(secs(u32::MAX), 600);
    }

    #[test]
    fn the_signature_is_the_hmac_of_the_timestamp_and_body() {
        // Computed apart (Python's hmac module) for the key of RFC 4231's second case.
        assert_eq!(
            sign(b"Jefe", 0, "what do ya want for nothing?"),
            "37f471929915ccd2cbbe79feb84ffcff4f2bb25e15fc41c2506687331ae179cc"
        );
        assert_ne!(
            sign(b"Jefe", 1, "what do ya want for nothing?"),
            sign(b"Jefe", 0, "what do ya want for nothing?")
        );
    }

    #[test]
    fn endpoints_are_labelled_by_host_and_port_only() {
        assert_eq!(
            host_of("https://user:pw@push.example:8443/hook?k=1"),
            "push.example:8443"
        );
        assert_eq!(host_of("http://relay.local/x"), "relay.local");
        assert_eq!(host_of("not a url"), "invalid");
    }
}
