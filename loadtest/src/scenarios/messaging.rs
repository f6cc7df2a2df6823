//! The engine of the message scenarios (`direct`, `fanout`, `mixed`): one task per
//! connection sends on its schedule and takes every event it receives; afterwards every
//! acked message is checked at every connection that should have received it.
//!
//! At a fixed rate the k-th message of a sender is due at `start + phase + k × period`;
//! its body carries that intended time and both latencies are measured from it, so a
//! stalled server or client shows up as latency instead of fewer samples (no coordinated
//! omission). Without a rate each sender keeps `n` messages in flight.

use std::collections::{BTreeMap, HashSet};
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;
use futures_util::stream::FuturesUnordered;
use futures_util::{Future, StreamExt};
use serde_json::{Value, json};
use tokio::sync::watch;
use tokio::time::Instant;

use crate::client::SioClient;
use crate::record::Recorder;
use crate::setup::Harness;

/// How long after the window the run waits for outstanding acks and deliveries.
const DRAIN: Duration = Duration::from_secs(10);
/// How often the drain checks whether everything has arrived.
const DRAIN_POLL: Duration = Duration::from_millis(20);

/// How a sender paces its messages.
#[derive(Debug, Clone, Copy)]
pub(super) enum Pace {
    /// One message every `period`, the first at `phase` after the start.
    Every { period: Duration, phase: Duration },
    /// As fast as acks allow, this many in flight.
    InFlight(usize),
}

/// What a sending connection sends.
#[derive(Debug, Clone)]
pub(super) struct Sends {
    /// The `to` of its messages (`{user}` or `{group}`).
    pub(super) to: Value,
    /// Indexes of the connections that must receive each message.
    pub(super) recipients: Vec<usize>,
    /// Its schedule.
    pub(super) pace: Pace,
    /// `mixed`: the partner whose presence it queries; it also types, and reads what
    /// it receives.
    pub(super) chatty: Option<String>,
}

/// What every connection of a run does (index = connection), and for how long.
#[derive(Debug)]
pub(super) struct Plan {
    pub(super) roles: Vec<Option<Sends>>,
    pub(super) window: Duration,
}

/// What an ack answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Message,
    Read,
    Presence,
}

type Pending = Pin<Box<dyn Future<Output = (Kind, Instant, Result<Value>)> + Send>>;

/// What one connection saw.
#[derive(Debug, Default)]
struct Seen {
    /// Ids of its messages that were acked.
    acked: Vec<String>,
    /// Distinct ids of the messages it received.
    inbox: HashSet<String>,
    duplicated: u64,
    counts: BTreeMap<&'static str, u64>,
}

impl Seen {
    fn count(&mut self, name: &'static str) {
        *self.counts.entry(name).or_default() += 1;
    }
}

/// Runs `plan` over `clients` and returns them, still open.
pub(super) async fn run(
    clients: Vec<SioClient>,
    plan: &Plan,
    harness: &Harness,
    recorder: &Recorder,
) -> Result<Vec<SioClient>> {
    let start = Instant::now();
    let end = start + plan.window;
    let padding: Arc<str> = "x"
        .repeat(harness.setup().body_bytes.saturating_sub(17))
        .into();
    let nonce = format!("{:x}", recorder.unix_us(start.into_std()));
    let (stop, stopped) = watch::channel(false);
    let tasks: Vec<_> = clients
        .into_iter()
        .zip(&plan.roles)
        .map(|(client, role)| {
            let connection = Connection {
                role: role.clone(),
                recorder: recorder.clone(),
                padding: padding.clone(),
                nonce: nonce.clone(),
                start,
                end,
                stopped: stopped.clone(),
                pending: FuturesUnordered::new(),
                sent: 0,
                conversation: None,
                seen: Seen::default(),
            };
            tokio::spawn(connection.drive(client))
        })
        .collect();
    tokio::time::sleep_until(end).await;
    let deadline = end + DRAIN;
    while !recorder.settled() && Instant::now() < deadline {
        tokio::time::sleep(DRAIN_POLL).await;
    }
    let _ = stop.send(true);
    let mut outcomes = Vec::with_capacity(tasks.len());
    for task in tasks {
        outcomes.push(task.await?);
    }
    let seen: Vec<Seen> = outcomes
        .iter_mut()
        .map(|(_, seen)| std::mem::take(seen))
        .collect();
    check(&seen, plan, recorder);
    Ok(outcomes.into_iter().map(|(client, _)| client).collect())
}

/// Counts lost and duplicated deliveries: every acked message at every recipient.
fn check(outcomes: &[Seen], plan: &Plan, recorder: &Recorder) {
    let mut lost = 0;
    for (outcome, role) in outcomes.iter().zip(&plan.roles) {
        let Some(sends) = role else { continue };
        for id in &outcome.acked {
            lost += sends
                .recipients
                .iter()
                .filter(|&&recipient| !outcomes[recipient].inbox.contains(id))
                .count() as u64;
        }
    }
    let mut tally = recorder.tally();
    tally.lost += lost;
    for outcome in outcomes {
        tally.duplicated += outcome.duplicated;
        for (name, count) in &outcome.counts {
            tally.count(name, *count);
        }
    }
}

/// One connection's part of the run.
struct Connection {
    role: Option<Sends>,
    recorder: Recorder,
    padding: Arc<str>,
    /// Makes `client_msg_id`s unique across runs that reuse the same users.
    nonce: String,
    start: Instant,
    end: Instant,
    stopped: watch::Receiver<bool>,
    pending: FuturesUnordered<Pending>,
    /// Messages sent so far.
    sent: u64,
    /// `mixed`: the conversation with the partner, from the first ack.
    conversation: Option<String>,
    seen: Seen,
}

impl Connection {
    fn pace(&self) -> Option<Pace> {
        self.role.as_ref().map(|sends| sends.pace)
    }

    async fn drive(mut self, mut client: SioClient) -> (SioClient, Seen) {
        let mut due = match self.pace() {
            Some(Pace::Every { phase, .. }) => Some(self.start + phase),
            Some(Pace::InFlight(count)) => {
                for _ in 0..count {
                    self.send(&mut client, Instant::now());
                }
                None
            }
            None => None,
        };
        loop {
            let next = due.unwrap_or(self.end + DRAIN);
            tokio::select! {
                _ = self.stopped.changed() => break,
                () = tokio::time::sleep_until(next), if due.is_some() => {
                    self.act(&mut client, next);
                    due = match self.pace() {
                        Some(Pace::Every { period, .. }) => Some(next + period).filter(|at| *at < self.end),
                        _ => None,
                    };
                }
                Some((kind, intended, answer)) = self.pending.next(), if !self.pending.is_empty() => {
                    self.answered(kind, intended, answer);
                    if kind == Kind::Message
                        && matches!(self.pace(), Some(Pace::InFlight(_)))
                        && Instant::now() < self.end
                    {
                        self.send(&mut client, Instant::now());
                    }
                }
                event = client.next_event() => match event {
                    Some((name, payload)) => self.received(&mut client, &name, &payload),
                    None => {
                        self.seen.count("connections_closed");
                        break;
                    }
                },
            }
        }
        (client, self.seen)
    }

    /// A scheduled tick: a message, and for a chatty connection typing before every other
    /// one and a presence query every fourth.
    fn act(&mut self, client: &mut SioClient, intended: Instant) {
        if let Some(partner) = self.role.as_ref().and_then(|sends| sends.chatty.clone()) {
            if let (Some(conversation), 0) = (&self.conversation, self.sent % 2) {
                let typing = json!({"conversation": conversation, "typing": true});
                if client.emit("typing", typing).is_ok() {
                    self.seen.count("typing_sent");
                }
            }
            if self.sent % 4 == 3 {
                let query = json!({"users": [partner]});
                if let Ok(ack) = client.send_request("presence:query", query) {
                    self.pending.push(Box::pin(
                        async move { (Kind::Presence, intended, ack.await) },
                    ));
                }
            }
        }
        self.send(client, intended);
    }

    fn send(&mut self, client: &mut SioClient, intended: Instant) {
        let Some(sends) = &self.role else { return };
        let body = format!(
            "{} {}",
            self.recorder.unix_us(intended.into_std()),
            self.padding
        );
        let payload = json!({
            "to": sends.to,
            "body": body,
            "client_msg_id": format!("{}-{}", self.nonce, self.sent),
        });
        self.sent += 1;
        self.recorder.tally().sent += 1;
        match client.send_request("message:send", payload) {
            Ok(ack) => self.pending.push(Box::pin(
                async move { (Kind::Message, intended, ack.await) },
            )),
            Err(_) => self.recorder.ack(intended.into_std(), false, 0),
        }
    }

    fn answered(&mut self, kind: Kind, intended: Instant, answer: Result<Value>) {
        let Ok(answer) = answer else {
            // The connection closed: the message stays unanswered.
            return;
        };
        let ok = answer["ok"] == true;
        match kind {
            Kind::Message => {
                let recipients = self.role.as_ref().map_or(0, |sends| sends.recipients.len());
                self.recorder
                    .ack(intended.into_std(), ok, recipients as u64);
                let message = &answer["message"];
                if let (true, Some(id)) = (ok, message["id"].as_str()) {
                    self.seen.acked.push(id.to_owned());
                }
                if let Some(id) = message["conversation"].as_str() {
                    self.conversation.get_or_insert_with(|| id.to_owned());
                }
            }
            Kind::Read if ok => self.seen.count("reads_acked"),
            Kind::Presence if ok => self.seen.count("presence_queries_acked"),
            Kind::Read | Kind::Presence => self.seen.count("other_requests_refused"),
        }
    }

    fn received(&mut self, client: &mut SioClient, name: &str, payload: &Value) {
        match name {
            "message:new" => {
                let id = payload["id"].as_str().unwrap_or_default();
                if !self.seen.inbox.insert(id.to_owned()) {
                    self.seen.duplicated += 1;
                    return;
                }
                let sent_at = payload["body"]
                    .as_str()
                    .and_then(|body| body.split(' ').next())
                    .and_then(|micros| micros.parse().ok());
                self.recorder.delivery(sent_at);
                let chatty = self
                    .role
                    .as_ref()
                    .is_some_and(|sends| sends.chatty.is_some());
                if let (true, Some(conversation), Some(seq)) = (
                    chatty,
                    payload["conversation"].as_str(),
                    payload["seq"].as_u64(),
                ) {
                    let read = json!({"conversation": conversation, "seq": seq});
                    if let Ok(ack) = client.send_request("read", read) {
                        let now = Instant::now();
                        self.pending
                            .push(Box::pin(async move { (Kind::Read, now, ack.await) }));
                    }
                }
            }
            "typing" => self.seen.count("typing_received"),
            "receipt" => self.seen.count("receipts_received"),
            _ => {}
        }
    }
}
