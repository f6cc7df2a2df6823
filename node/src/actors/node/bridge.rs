//! The `NodeActor`'s side of the bus: which subjects it listens on, the envelopes it sends
//! to other nodes, and what it does with the envelopes it receives.
//!
//! Subjects: the node's own and the changes subject (from start to stop), and one per
//! group with local members (from its first local member until its last one leaves). A subscription that failed or
//! ended is retried on the next heartbeat. The `NodeActor` holds the group subscriptions
//! rather than each `GroupActor`, so that one place follows membership and retries; the
//! `GroupActor` still does the local fan-out. Publishing and lookups run in spawned tasks
//! (counted in the node's [`Pending`](crate::pending::Pending) work, which a stopping node
//! lets finish), so a slow Redis or NATS never blocks the actor; their failures are counted
//! and logged, and what was lost is repaired by the clients' `sync`.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use actix::prelude::*;
use bytes::Bytes;
use confab_cluster::{Bus, BusError, BusMessage, Headers};
use confab_protocol::cluster::{Delivery, Envelope, Frames};
use futures_util::stream;
use futures_util::{FutureExt, StreamExt};
use tokio::sync::oneshot;

use super::{MembershipChanged, NodeActor, directory_failed};
use crate::actors::user::Deliver;
use crate::telemetry;

/// The state of one subject's subscription.
#[derive(Debug)]
enum Subscription {
    /// Asked for; the bus has not answered yet. The senders are told once it has (dropped
    /// if it failed).
    Pending(Vec<oneshot::Sender<()>>),
    /// Listening; the handle cancels the stream (which unsubscribes).
    Active(SpawnHandle),
}

/// The subjects the node listens on, by subject.
#[derive(Debug, Default)]
pub(super) struct Subscriptions(HashMap<String, Subscription>);

/// What a subscription's stream yields to the actor.
#[derive(Debug)]
pub(super) enum BusEvent {
    /// A message arrived.
    Received(BusMessage),
    /// The subscription ended (the bus closed it); the heartbeat subscribes again.
    Ended(String),
}

/// The recipients of each node but `origin`, from each user's nodes.
fn by_node(
    origin: &str,
    routes: impl IntoIterator<Item = (String, Arc<[String]>)>,
) -> HashMap<String, Vec<String>> {
    let mut by_node: HashMap<String, Vec<String>> = HashMap::new();
    for (user, nodes) in routes {
        for node in nodes.iter().filter(|node| node.as_str() != origin) {
            by_node.entry(node.clone()).or_default().push(user.clone());
        }
    }
    by_node
}

/// What a directory lookup started at `epoch` found for `asked` (see `routes`).
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub(super) struct RoutesFound {
    epoch: u64,
    asked: Vec<String>,
    found: HashMap<String, Vec<String>>,
}

impl Handler<RoutesFound> for NodeActor {
    type Result = ();

    fn handle(&mut self, found: RoutesFound, _: &mut Self::Context) {
        self.routes.fill(found.epoch, found.asked, &found.found);
        metrics::gauge!("confab_route_cache_users").set(self.routes.len() as f64);
    }
}

/// Says on the changes subject that something every node caches changed (a user's nodes,
/// a block), so that every node forgets it (see `routes` and `chat::blocks`).
#[derive(Debug, Clone)]
pub(super) struct ChangeNotice {
    bus: Arc<dyn Bus>,
    subject: String,
    origin: Arc<str>,
}

impl ChangeNotice {
    /// Tells every node of `change` (a `RouteChanged` or a `BlocksChanged`).
    pub(super) async fn send(&self, change: Delivery) {
        let envelope = Envelope {
            origin: self.origin.to_string(),
            delivery: change,
        };
        publish(
            self.bus.clone(),
            self.subject.clone(),
            envelope.encode(),
            Headers::new(),
        )
        .await;
    }
}

/// Counts and logs a failed bus operation; the caller carries on (at most once).
fn bus_failed(op: &'static str, error: &BusError) {
    metrics::counter!("confab_bus_errors_total", "op" => op).increment(1);
    tracing::warn!(%error, op, "bus operation failed");
}

/// Publishes `payload` with `headers` on `subject`; a failure is counted and logged.
async fn publish(bus: Arc<dyn Bus>, subject: String, payload: Bytes, headers: Headers) {
    if let Err(error) = bus.publish(&subject, payload, headers).await {
        bus_failed("publish", &error);
    }
}

/// The envelope form of what a `Deliver` hands out.
fn frames_of(deliver: &Deliver) -> Frames {
    Frames {
        frames: deliver.frames.to_vec(),
        except: deliver.except.as_ref().map(|sid| sid.as_str().to_owned()),
        message: deliver.committed_at.is_some(),
    }
}

/// A `Deliver` for what another node sent. A stored message's latency is measured from
/// its arrival here: the clocks of two nodes cannot be compared.
fn deliver_of(frames: Frames) -> Deliver {
    Deliver {
        frames: frames.frames.into(),
        except: frames.except.as_deref().map(Into::into),
        committed_at: frames.message.then(Instant::now),
    }
}

impl NodeActor {
    /// What tells the other nodes of a change they must forget what they cached of.
    pub(super) fn change_notice(&self) -> ChangeNotice {
        ChangeNotice {
            bus: self.bus.clone(),
            subject: self.keys.changes_subject(),
            origin: self.node_id.clone(),
        }
    }

    fn envelope(&self, delivery: Delivery) -> Envelope {
        Envelope {
            origin: self.node_id.to_string(),
            delivery,
        }
    }

    /// Sends `deliver` to the other nodes `users` are online on: one envelope per node,
    /// naming only that node's recipients. The route cache names the nodes; the users it
    /// does not know are looked up in the directory (one call), and what it says is kept.
    /// `trace` is the sender's trace context.
    pub(super) fn forward_to_users(
        &mut self,
        users: Vec<String>,
        deliver: &Deliver,
        trace: Headers,
        ctx: &mut Context<Self>,
    ) {
        let known = self.routes.known(users);
        let cached = by_node(&self.node_id, known.found);
        if cached.is_empty() && known.missing.is_empty() {
            return;
        }
        let frames = frames_of(deliver);
        let (directory, bus, keys) = (self.directory.clone(), self.bus.clone(), self.keys.clone());
        let (origin, epoch, node) = (self.node_id.clone(), self.routes.epoch(), ctx.address());
        let missing = known.missing;
        self.pending.spawn(async move {
            let send = |by_node: HashMap<String, Vec<String>>| {
                let (bus, keys, origin, frames, trace) = (&bus, &keys, &origin, &frames, &trace);
                async move {
                    for (node, users) in by_node {
                        let envelope = Envelope {
                            origin: origin.to_string(),
                            delivery: Delivery::Users {
                                users,
                                frames: frames.clone(),
                            },
                        };
                        let subject = keys.node_subject(&node);
                        publish(bus.clone(), subject, envelope.encode(), trace.clone()).await;
                    }
                }
            };
            send(cached).await;
            if missing.is_empty() {
                return;
            }
            let names: Vec<&str> = missing.iter().map(String::as_str).collect();
            let found = match directory.lookup_users(&names).await {
                Ok(found) => found,
                Err(error) => return directory_failed("lookup_users", &error),
            };
            let looked_up = found
                .iter()
                .map(|(user, nodes)| (user.clone(), nodes.as_slice().into()));
            // Published before the cache learns the routes: a later message that finds
            // them there cannot overtake this one.
            send(by_node(&origin, looked_up)).await;
            node.do_send(RoutesFound {
                epoch,
                asked: missing,
                found,
            });
        });
    }

    /// Publishes `deliver` once on the group's subject, for the other nodes with members.
    /// `trace` is the sender's trace context.
    pub(super) fn forward_to_group(&self, group_id: &str, deliver: &Deliver, trace: Headers) {
        let envelope = self.envelope(Delivery::Group {
            group: group_id.to_owned(),
            frames: frames_of(deliver),
        });
        self.pending.spawn(publish(
            self.bus.clone(),
            self.keys.group_subject(group_id),
            envelope.encode(),
            trace,
        ));
    }

    /// Tells the other nodes the users are online on that they joined or left a group: one
    /// directory lookup for all of them, then each user's envelope to each of their nodes.
    /// A failure leaves it to the next re-read of memberships on those nodes.
    pub(super) fn forward_membership(&self, change: MembershipChanged) {
        let payloads: HashMap<String, Bytes> = change
            .users
            .into_iter()
            .map(|(user, member)| {
                let payload = self
                    .envelope(Delivery::Membership {
                        group: change.group_id.clone(),
                        user: user.clone(),
                        member,
                    })
                    .encode();
                (user, payload)
            })
            .collect();
        let (directory, bus, keys) = (self.directory.clone(), self.bus.clone(), self.keys.clone());
        let origin = self.node_id.clone();
        self.pending.spawn(async move {
            let users: Vec<&str> = payloads.keys().map(String::as_str).collect();
            let found = match directory.lookup_users(&users).await {
                Ok(found) => found,
                Err(error) => return directory_failed("lookup_users", &error),
            };
            for (user, nodes) in found {
                let Some(payload) = payloads.get(&user) else {
                    continue;
                };
                for node in nodes.iter().filter(|node| **node != *origin) {
                    publish(
                        bus.clone(),
                        keys.node_subject(node),
                        payload.clone(),
                        Headers::new(),
                    )
                    .await;
                }
            }
        });
    }

    /// Subscribes to or leaves the subjects of groups that gained their first or lost their
    /// last local member.
    pub(super) fn follow_group_changes(&mut self, ctx: &mut Context<Self>) {
        for change in self.registry.take_group_changes() {
            let subject = self.keys.group_subject(&change.group_id);
            if change.present {
                self.subscribe(subject, ctx);
            } else if let Some(Subscription::Active(handle)) = self.subscriptions.0.remove(&subject)
            {
                ctx.cancel_future(handle);
            }
        }
    }

    /// Subscribes to every subject the node should listen on and does not (yet).
    pub(super) fn resubscribe(&mut self, ctx: &mut Context<Self>) {
        let mut wanted = vec![
            self.keys.node_subject(&self.node_id),
            self.keys.changes_subject(),
        ];
        wanted.extend(
            self.registry
                .group_ids()
                .map(|group| self.keys.group_subject(group)),
        );
        for subject in wanted {
            self.subscribe(subject, ctx);
        }
    }

    /// Subscribes to `subject` unless already subscribed or subscribing.
    fn subscribe(&mut self, subject: String, ctx: &mut Context<Self>) {
        if self.subscriptions.0.contains_key(&subject) {
            return;
        }
        self.subscriptions
            .0
            .insert(subject.clone(), Subscription::Pending(Vec::new()));
        let bus = self.bus.clone();
        let request = async move { (bus.subscribe(&subject).await, subject) };
        ctx.spawn(
            request
                .into_actor(self)
                .map(|(result, subject), actor, ctx| {
                    actor.subscribed(subject, result, ctx);
                }),
        );
    }

    /// Resolves once the subscriptions to `subjects` that are under way have been
    /// answered, and the bus server has seen them (a round trip): from then on, what is
    /// published on those subjects reaches this node. A failed subscription or round trip
    /// does not hold it up (the heartbeat retries; `sync` repairs).
    pub(super) fn when_subscribed(
        &mut self,
        subjects: Vec<String>,
    ) -> impl Future<Output = ()> + use<> {
        let mut answered = Vec::new();
        for subject in subjects {
            if let Some(Subscription::Pending(waiters)) = self.subscriptions.0.get_mut(&subject) {
                let (tx, rx) = oneshot::channel();
                waiters.push(tx);
                answered.push(rx.map(drop));
            }
        }
        let bus = self.bus.clone();
        async move {
            futures_util::future::join_all(answered).await;
            if let Err(error) = bus.ping().await {
                bus_failed("ping", &error);
            }
        }
    }

    /// The bus answered a subscription: listen, unless the subject is no longer wanted
    /// (or was subscribed again meanwhile).
    fn subscribed(
        &mut self,
        subject: String,
        result: Result<confab_cluster::Subscription, BusError>,
        ctx: &mut Context<Self>,
    ) {
        let pending = matches!(
            self.subscriptions.0.get(&subject),
            Some(Subscription::Pending(_))
        );
        match result {
            Ok(subscription) if pending => {
                let ended = stream::once(std::future::ready(BusEvent::Ended(subject.clone())));
                let events = subscription.map(BusEvent::Received).chain(ended);
                let handle = ctx.add_stream(events);
                let previous = self
                    .subscriptions
                    .0
                    .insert(subject, Subscription::Active(handle));
                if let Some(Subscription::Pending(waiters)) = previous {
                    for waiter in waiters {
                        let _ = waiter.send(());
                    }
                }
            }
            // Dropping it unsubscribes.
            Ok(_) => {}
            Err(error) => {
                bus_failed("subscribe", &error);
                if pending {
                    self.subscriptions.0.remove(&subject);
                }
            }
        }
    }

    /// Delivers an envelope another node sent to the local connections it concerns.
    fn received(&mut self, message: &BusMessage) {
        let envelope = match Envelope::decode(&message.payload) {
            Ok(envelope) => envelope,
            Err(error) => {
                metrics::counter!("confab_bus_errors_total", "op" => "decode").increment(1);
                tracing::warn!(%error, subject = %message.subject, "undecodable envelope dropped");
                return;
            }
        };
        if *envelope.origin == *self.node_id {
            return;
        }
        // Bookkeeping of the caches, not part of any message's trace.
        match &envelope.delivery {
            Delivery::RouteChanged { user } => return self.routes.forget(user),
            Delivery::BlocksChanged { a, b } => return self.blocks.forget(a, b),
            _ => {}
        }
        let span = telemetry::bus_receive_span(&message.headers, &message.subject, &self.node_id);
        let _entered = span.enter();
        match envelope.delivery {
            Delivery::Users { users, frames } => {
                self.deliver_here_to_users(&users, &deliver_of(frames));
            }
            Delivery::Group { group, frames } => {
                self.deliver_here_to_group(&group, deliver_of(frames));
            }
            Delivery::Membership {
                group,
                user,
                member,
            } => {
                self.set_membership(&group, &user, member);
            }
            Delivery::RouteChanged { .. } | Delivery::BlocksChanged { .. } => {}
        }
    }
}

impl StreamHandler<BusEvent> for NodeActor {
    fn handle(&mut self, event: BusEvent, _: &mut Self::Context) {
        match event {
            BusEvent::Received(message) => self.received(&message),
            BusEvent::Ended(subject) => {
                tracing::warn!(%subject, "bus subscription ended; resubscribing on the next heartbeat");
                self.subscriptions.0.remove(&subject);
            }
        }
    }

    /// A subscription's end is a [`BusEvent::Ended`]; the node itself keeps running.
    fn finished(&mut self, _: &mut Self::Context) {}
}
