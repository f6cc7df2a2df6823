//! The load the fault tests run through a cluster, and the ledger that tells whether an
//! acknowledged message was lost.
//!
//! Sender/receiver pairs, each user on one connection, the receiver on another node than
//! its sender. A sender sends direct messages one after the other (waiting for each ack,
//! with a small pause); a message counts as acknowledged only when its ack is `ok: true`.
//! A send that fails without an ack is retried with the same `client_msg_id` (idempotent)
//! until it is acknowledged or the load stops. A receiver keeps every `message:new`.
//!
//! As a real client, a user whose connection closed, or whose send got no ack, reconnects
//! to another node that accepts it, then `sync`s from its cursors (per conversation, the
//! last `seq` below which it holds every message) and merges what comes back, dropping
//! duplicates by id. At the end every receiver syncs once more, and every acknowledged id
//! must be among what it holds.

use std::collections::hash_map::Entry;
use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use confab_testkit::{SioClient, eventually};
use serde_json::{Value, json};
use tokio::task::JoinHandle;

use confab_testkit::NodeProcess;

use crate::cluster_fixture::{User, WITHIN, direct, logs_of, register};

/// The pause between a sender's ack and its next message.
const PACING: Duration = Duration::from_millis(50);
/// How long a client waits for an ack before it gives up on its connection.
const ACK_WAIT: Duration = Duration::from_secs(5);
/// How long one connection attempt may take.
const CONNECT_WAIT: Duration = Duration::from_secs(3);
/// The pause between two reconnection attempts.
const RETRY_PAUSE: Duration = Duration::from_millis(50);
/// Messages per `sync` page.
const SYNC_LIMIT: u64 = 200;
/// How often a receiver looks up from its queue (to notice the end of the load).
const RECEIVE_TICK: Duration = Duration::from_millis(100);

/// How a message first reached a receiver.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Via {
    Live,
    Sync,
}

/// What one simulated user holds, shared between its task and the test.
#[derive(Debug, Default)]
struct Inbox {
    /// Messages received (as a recipient, not its own), by id: how they came first.
    messages: HashMap<String, Via>,
    /// Per conversation, the `seq`s held (received, or own and acknowledged).
    seqs: HashMap<String, BTreeSet<u64>>,
    /// Messages received again and dropped.
    duplicates: usize,
    /// The node the user is connected to (or was last).
    node: usize,
    /// Reconnections so far.
    reconnects: usize,
    /// When the last sync after a reconnection finished.
    synced_at: Option<Instant>,
}

impl Inbox {
    /// Keeps a message received `via` live delivery or sync (dropping a duplicate).
    fn receive(&mut self, message: &Value, via: Via) {
        self.hold(message);
        let id = message["id"].as_str().unwrap_or_default().to_owned();
        match self.messages.entry(id) {
            Entry::Occupied(_) => self.duplicates += 1,
            Entry::Vacant(slot) => {
                slot.insert(via);
            }
        }
    }

    /// Notes a message's place in its conversation, for the sync cursors.
    fn hold(&mut self, message: &Value) {
        let conversation = message["conversation"].as_str().unwrap_or_default();
        let seq = message["seq"].as_u64().unwrap_or_default();
        self.seqs
            .entry(conversation.to_owned())
            .or_default()
            .insert(seq);
    }

    /// The `sync` cursors: per conversation, the last `seq` with nothing missing below it.
    fn cursors(&self) -> Value {
        let cursors: serde_json::Map<String, Value> = self
            .seqs
            .iter()
            .map(|(conversation, seqs)| {
                let complete = seqs
                    .iter()
                    .zip(1..)
                    .take_while(|(seq, expected)| **seq == *expected)
                    .count();
                (conversation.clone(), json!(complete))
            })
            .collect();
        Value::Object(cursors)
    }
}

/// One simulated user: its connection, and what it holds.
struct Peer {
    user: User,
    urls: Arc<Vec<String>>,
    client: Option<SioClient>,
    inbox: Arc<Mutex<Inbox>>,
    /// Which way round the nodes it tries when reconnecting (+1 or -1), to spread users.
    step: usize,
}

impl Peer {
    async fn connect(user: User, urls: Arc<Vec<String>>, node: usize, step: usize) -> Self {
        let client = SioClient::with_token(&urls[node], &user.token)
            .await
            .unwrap();
        let inbox = Inbox {
            node,
            ..Inbox::default()
        };
        Self {
            user,
            urls,
            client: Some(client),
            inbox: Arc::new(Mutex::new(inbox)),
            step,
        }
    }

    fn inbox(&self) -> std::sync::MutexGuard<'_, Inbox> {
        self.inbox.lock().unwrap()
    }

    /// Whether the server closed the connection (without waiting).
    async fn closed(&mut self) -> bool {
        match self.client.as_mut() {
            Some(client) => matches!(
                tokio::time::timeout(Duration::ZERO, client.wait_closed()).await,
                Ok(Ok(()))
            ),
            None => true,
        }
    }

    /// Drops the connection, connects to the next node that accepts (never the same one
    /// first) and syncs; tries again if the new connection fails during the sync.
    async fn reconnect(&mut self) {
        if let Some(client) = self.client.take() {
            client.close();
        }
        let deadline = Instant::now() + WITHIN;
        let count = self.urls.len();
        let mut node = self.inbox().node;
        loop {
            node = (node + self.step) % count;
            let attempt = tokio::time::timeout(
                CONNECT_WAIT,
                SioClient::with_token(&self.urls[node], &self.user.token),
            )
            .await;
            if let Ok(Ok(client)) = attempt {
                self.client = Some(client);
                {
                    let mut inbox = self.inbox();
                    inbox.node = node;
                    inbox.reconnects += 1;
                }
                if self.sync().await.is_ok() {
                    self.inbox().synced_at = Some(Instant::now());
                    return;
                }
            }
            assert!(
                Instant::now() < deadline,
                "{} could not reconnect and sync within {WITHIN:?}",
                self.user.id
            );
            tokio::time::sleep(RETRY_PAUSE).await;
        }
    }

    /// Pages through `sync` from the current cursors, merging what comes back.
    async fn sync(&mut self) -> Result<()> {
        let client = self.client.as_mut().context("not connected")?;
        loop {
            let cursors = self.inbox.lock().unwrap().cursors();
            let answer = client
                .request("sync", json!({"cursors": cursors, "limit": SYNC_LIMIT}))
                .await?;
            if answer["ok"] != true {
                bail!("sync refused: {answer}");
            }
            let messages = answer["messages"].as_array().context("messages")?;
            let mut inbox = self.inbox.lock().unwrap();
            for message in messages {
                if message["from"] != self.user.id.as_str() {
                    inbox.receive(message, Via::Sync);
                } else {
                    inbox.hold(message);
                }
            }
            if answer["more"] != true {
                return Ok(());
            }
        }
    }

    /// Takes the live messages already queued, without waiting.
    fn take_queued(&mut self) {
        if let Some(client) = self.client.as_mut() {
            let mut inbox = self.inbox.lock().unwrap();
            for message in client.received("message:new") {
                inbox.receive(&message, Via::Live);
            }
        }
    }
}

/// An acknowledged message.
#[derive(Debug, Clone)]
struct Acked {
    id: String,
    pair: usize,
    /// When the send that was acknowledged started.
    sent_at: Instant,
}

/// What the senders counted.
#[derive(Debug, Default)]
struct Ledger {
    acked: Vec<Acked>,
    /// Sends answered `ok: false`, by error code.
    refused: HashMap<String, usize>,
    /// Sends that got no ack (connection closed or ack timed out).
    unanswered: usize,
}

/// The load, running.
pub(crate) struct Load {
    senders: Vec<Arc<Mutex<Inbox>>>,
    receivers: Vec<Arc<Mutex<Inbox>>>,
    sending: Vec<JoinHandle<Peer>>,
    receiving: Vec<JoinHandle<Peer>>,
    stop_sending: Arc<AtomicBool>,
    stop_receiving: Arc<AtomicBool>,
    ledger: Arc<Mutex<Ledger>>,
}

impl Load {
    /// Registers `pairs` sender/receiver pairs, connects pair `i`'s sender to node
    /// `i % n` and its receiver to node `(i + 1) % n`, and starts sending.
    pub(crate) async fn start(nodes: &[NodeProcess], pairs: usize) -> Self {
        let urls = Arc::new(nodes.iter().map(NodeProcess::base_url).collect::<Vec<_>>());
        let count = urls.len();
        let stop_sending = Arc::new(AtomicBool::new(false));
        let stop_receiving = Arc::new(AtomicBool::new(false));
        let ledger = Arc::new(Mutex::new(Ledger::default()));
        let mut load = Self {
            senders: Vec::new(),
            receivers: Vec::new(),
            sending: Vec::new(),
            receiving: Vec::new(),
            stop_sending: stop_sending.clone(),
            stop_receiving: stop_receiving.clone(),
            ledger: ledger.clone(),
        };
        for pair in 0..pairs {
            let registrar = &nodes[pair % count];
            let from = register(registrar, &format!("sender{pair}")).await;
            let to = register(registrar, &format!("receiver{pair}")).await;
            let step = if pair % 2 == 0 { 1 } else { count - 1 };
            let sender = Peer::connect(from, urls.clone(), pair % count, step).await;
            let receiver = Peer::connect(to.clone(), urls.clone(), (pair + 1) % count, step).await;
            load.senders.push(sender.inbox.clone());
            load.receivers.push(receiver.inbox.clone());
            load.receiving
                .push(tokio::spawn(receive(receiver, stop_receiving.clone())));
            load.sending.push(tokio::spawn(send(
                sender,
                to,
                pair,
                ledger.clone(),
                stop_sending.clone(),
            )));
        }
        load
    }

    fn acked_per_pair(&self) -> Vec<usize> {
        let mut counts = vec![0; self.receivers.len()];
        for acked in &self.ledger.lock().unwrap().acked {
            counts[acked.pair] += 1;
        }
        counts
    }

    /// Waits until every pair has had `more` further messages acknowledged.
    pub(crate) async fn wait_progress(&self, more: usize) {
        let from = self.acked_per_pair();
        eventually(&format!("{more} more acks per pair"), WITHIN, || {
            let now = self.acked_per_pair();
            let done = now.iter().zip(&from).all(|(now, from)| *now >= from + more);
            async move { done.then_some(()) }
        })
        .await
        .unwrap();
    }

    /// The users (senders then receivers, by index) connected to `node` now, with how
    /// often each has reconnected so far.
    pub(crate) fn users_on(&self, node: usize) -> Vec<(usize, usize)> {
        self.inboxes()
            .enumerate()
            .filter_map(|(n, inbox)| {
                let inbox = inbox.lock().unwrap();
                (inbox.node == node).then_some((n, inbox.reconnects))
            })
            .collect()
    }

    fn inboxes(&self) -> impl Iterator<Item = &Arc<Mutex<Inbox>>> {
        self.senders.iter().chain(&self.receivers)
    }

    /// Waits until each of `users` (from [`Load::users_on`]) has reconnected and synced
    /// since then; returns when the last one had.
    pub(crate) async fn wait_reconnected(&self, users: &[(usize, usize)]) -> Instant {
        let inboxes: Vec<_> = self.inboxes().collect();
        eventually("the users to reconnect and sync", WITHIN, || {
            let latest = users.iter().try_fold(None, |latest, (n, before)| {
                let inbox = inboxes[*n].lock().unwrap();
                let synced = inbox.synced_at.filter(|_| inbox.reconnects > *before)?;
                Some(latest.max(Some(synced)))
            });
            async move { latest.flatten() }
        })
        .await
        .unwrap()
    }

    /// Every receiver's live messages that were sent after `since`, by pair.
    fn live_sent_after(&self, since: Instant) -> Vec<(usize, usize)> {
        let ledger = self.ledger.lock().unwrap();
        let mut counts = vec![(0, 0); self.receivers.len()];
        for acked in ledger.acked.iter().filter(|acked| acked.sent_at > since) {
            let inbox = self.receivers[acked.pair].lock().unwrap();
            counts[acked.pair].0 += 1;
            if inbox.messages.get(&acked.id) == Some(&Via::Live) {
                counts[acked.pair].1 += 1;
            }
        }
        counts
    }

    /// Waits until every receiver has had a message sent after `since` delivered live;
    /// returns when that was first seen for all.
    pub(crate) async fn wait_live_after(&self, since: Instant) -> Instant {
        eventually("live delivery to every receiver", WITHIN, || {
            let all = self
                .live_sent_after(since)
                .iter()
                .all(|(_, live)| *live > 0);
            async move { all.then(Instant::now) }
        })
        .await
        .unwrap()
    }

    /// Waits until every message acknowledged so far and sent after `since` reached its
    /// receiver live.
    pub(crate) async fn wait_all_live_after(&self, since: Instant) {
        eventually(
            "every message sent since then to arrive live",
            WITHIN,
            || {
                let counts = self.live_sent_after(since);
                let all = counts.iter().all(|(sent, live)| sent == live);
                async move { all.then_some(()) }
            },
        )
        .await
        .unwrap();
    }

    /// Reconnections so far: of every user, and of the receivers alone.
    pub(crate) fn reconnects(&self) -> (usize, usize) {
        let count = |inboxes: &[Arc<Mutex<Inbox>>]| -> usize {
            inboxes
                .iter()
                .map(|inbox| inbox.lock().unwrap().reconnects)
                .sum()
        };
        (
            count(&self.senders) + count(&self.receivers),
            count(&self.receivers),
        )
    }

    /// Stops sending, lets every receiver take what is queued and sync a last time, and
    /// counts.
    pub(crate) async fn finish(self) -> Report {
        self.stop_sending.store(true, Ordering::SeqCst);
        let mut senders = Vec::new();
        for task in self.sending {
            senders.push(task.await.unwrap());
        }
        self.stop_receiving.store(true, Ordering::SeqCst);
        let mut receivers = Vec::new();
        for task in self.receiving {
            let mut receiver = task.await.unwrap();
            receiver.take_queued();
            if receiver.closed().await || receiver.sync().await.is_err() {
                receiver.reconnect().await;
            }
            receivers.push(receiver);
        }
        let ledger = self.ledger.lock().unwrap();
        let mut report = Report {
            acked: ledger.acked.len(),
            refused: ledger.refused.clone(),
            unanswered: ledger.unanswered,
            ..Report::default()
        };
        for acked in &ledger.acked {
            match receivers[acked.pair].inbox().messages.get(&acked.id) {
                Some(Via::Live) => report.live += 1,
                Some(Via::Sync) => report.repaired += 1,
                None => report.lost.push(acked.id.clone()),
            }
        }
        for peer in senders.iter().chain(&receivers) {
            let inbox = peer.inbox();
            report.duplicates += inbox.duplicates;
            report.reconnects += inbox.reconnects;
            report.all_reconnected &= inbox.reconnects > 0;
        }
        report
    }
}

/// A sender: sends until told to stop, reconnecting when it must.
async fn send(
    mut peer: Peer,
    to: User,
    pair: usize,
    ledger: Arc<Mutex<Ledger>>,
    stop: Arc<AtomicBool>,
) -> Peer {
    let mut n = 0;
    while !stop.load(Ordering::SeqCst) {
        let client_msg_id = format!("p{pair}-{n}");
        let payload = direct(&to, "under load", &client_msg_id);
        while !stop.load(Ordering::SeqCst) {
            if peer.closed().await {
                peer.reconnect().await;
            }
            let Some(client) = peer.client.as_mut() else {
                continue;
            };
            let sent_at = Instant::now();
            let answer =
                tokio::time::timeout(ACK_WAIT, client.request("message:send", payload.clone()))
                    .await;
            match answer {
                Ok(Ok(ack)) if ack["ok"] == true => {
                    peer.inbox().hold(&ack["message"]);
                    let id = ack["message"]["id"].as_str().unwrap().to_owned();
                    ledger
                        .lock()
                        .unwrap()
                        .acked
                        .push(Acked { id, pair, sent_at });
                    break;
                }
                Ok(Ok(refusal)) => {
                    let code = refusal["error"]["code"].as_str().unwrap_or("?").to_owned();
                    *ledger.lock().unwrap().refused.entry(code).or_default() += 1;
                    tokio::time::sleep(PACING).await;
                }
                Ok(Err(_)) | Err(_) => {
                    ledger.lock().unwrap().unanswered += 1;
                    peer.reconnect().await;
                }
            }
        }
        n += 1;
        tokio::time::sleep(PACING).await;
    }
    peer
}

/// A receiver: keeps every live message until told to stop, reconnecting when it must.
async fn receive(mut peer: Peer, stop: Arc<AtomicBool>) -> Peer {
    while !stop.load(Ordering::SeqCst) {
        let Some(client) = peer.client.as_mut() else {
            peer.reconnect().await;
            continue;
        };
        match tokio::time::timeout(RECEIVE_TICK, client.next("message:new")).await {
            Ok(Ok(message)) => peer.inbox().receive(&message, Via::Live),
            // The connection closed.
            Ok(Err(_)) => peer.reconnect().await,
            Err(_) => {}
        }
    }
    peer
}

/// What the load counted at the end.
#[derive(Debug)]
pub(crate) struct Report {
    /// Messages acknowledged `ok: true`.
    pub(crate) acked: usize,
    /// Acknowledged messages whose receiver got them first live.
    pub(crate) live: usize,
    /// Acknowledged messages whose receiver got them first from `sync`.
    pub(crate) repaired: usize,
    /// Acknowledged messages no receiver holds.
    pub(crate) lost: Vec<String>,
    /// Messages received again and dropped by id.
    pub(crate) duplicates: usize,
    /// Reconnections of all users.
    pub(crate) reconnects: usize,
    /// Whether every user reconnected at least once.
    pub(crate) all_reconnected: bool,
    /// Sends refused, by code.
    pub(crate) refused: HashMap<String, usize>,
    /// Sends that got no ack.
    pub(crate) unanswered: usize,
}

impl Default for Report {
    fn default() -> Self {
        Self {
            acked: 0,
            live: 0,
            repaired: 0,
            lost: Vec::new(),
            duplicates: 0,
            reconnects: 0,
            all_reconnected: true,
            refused: HashMap::new(),
            unanswered: 0,
        }
    }
}

impl Report {
    /// Prints the counts under `test`'s name and fails if an acknowledged message is lost.
    pub(crate) fn assert_nothing_lost(&self, test: &str, nodes: &[NodeProcess]) {
        eprintln!(
            "{test}: acked {}, delivered live {}, repaired by sync {}, lost {}, duplicates \
             dropped {}, reconnections {}, sends without ack {}, refused {:?}",
            self.acked,
            self.live,
            self.repaired,
            self.lost.len(),
            self.duplicates,
            self.reconnects,
            self.unanswered,
            self.refused,
        );
        assert!(self.acked > 0, "nothing was acknowledged");
        assert!(
            self.lost.is_empty(),
            "{test}: {} acknowledged messages lost: {:?}\n{}",
            self.lost.len(),
            self.lost,
            logs_of(nodes)
        );
    }
}
