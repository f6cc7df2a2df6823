//! The loads, each with its sizes and rates as arguments: `idle`, `connect`, `direct`,
//! `fanout` and `mixed`. A scenario is prepared (users, groups and connections, not
//! measured), then run (measured), then its connections are held until the parent says
//! stop; a run split over workers gives each a [`Scenario::slice`] of its own.

mod connect;
mod direct;
mod fanout;
mod messaging;
mod mixed;

use std::future::Future;
use std::time::Duration;

use anyhow::{Result, ensure};
use clap::{Subcommand, ValueEnum};
use futures_util::{StreamExt, TryStreamExt, stream};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::client::SioClient;
use crate::polling::PollingClient;
use crate::record::Recorder;
use crate::setup::{Harness, User};

/// How many connections are opened at once while preparing.
const CONNECTS_AT_ONCE: usize = 64;
/// Idle and connect storms use one user per this many connections (devices).
const DEVICES_PER_USER: usize = 100;

/// A load and its parameters.
#[derive(Debug, Clone, PartialEq, Subcommand, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scenario {
    /// Hold N authenticated connections; server memory per connection and heartbeat CPU.
    Idle {
        /// Connections to open (one user per 100).
        #[arg(long, default_value_t = 1000)]
        connections: usize,
        /// Seconds to hold them (the measured window).
        #[arg(long, default_value_t = 30)]
        hold: u64,
        /// What the connections are: WebSockets, or long-polling sessions (each with a GET
        /// pending; not for the raw-ws peer).
        #[arg(long, value_enum, default_value_t = IdleTransport::Websocket)]
        #[serde(default)]
        transport: IdleTransport,
    },
    /// A connection storm: authenticated connects per second and their latency.
    Connect {
        /// Connections to open (one user per 100).
        #[arg(long, default_value_t = 1000)]
        connections: usize,
        /// Connects in progress at once.
        #[arg(long, default_value_t = 50)]
        concurrency: usize,
    },
    /// Pairs of users exchanging direct messages; every message checked.
    Direct {
        /// Sender/receiver pairs.
        #[arg(long, default_value_t = 50)]
        pairs: usize,
        /// Seconds to send.
        #[arg(long, default_value_t = 10)]
        seconds: u64,
        /// A fixed offered rate, messages/s over all pairs (default: as fast as acks
        /// allow, `--in-flight` messages per sender).
        #[arg(long)]
        rate: Option<f64>,
        /// Share of pairs whose two users are on different URLs, 0..1 (default 0.5 with
        /// several URLs).
        #[arg(long)]
        cross_share: Option<f64>,
        /// Without `--rate`: messages each sender keeps in flight.
        #[arg(long, default_value_t = 8)]
        in_flight: usize,
    },
    /// Groups of M members, S senders per group at R messages/s each.
    Fanout {
        /// Groups.
        #[arg(long, default_value_t = 1)]
        groups: usize,
        /// Members per group (senders included).
        #[arg(long, default_value_t = 100)]
        members: usize,
        /// Senders per group.
        #[arg(long, default_value_t = 1)]
        senders: usize,
        /// Messages/s per sender.
        #[arg(long, default_value_t = 10.0)]
        rate: f64,
        /// Seconds to send.
        #[arg(long, default_value_t = 10)]
        seconds: u64,
    },
    /// A realistic blend: direct messages between partners, typing, read receipts and
    /// presence queries.
    Mixed {
        /// Users (an even number: they are paired).
        #[arg(long, default_value_t = 100)]
        users: usize,
        /// Seconds to run.
        #[arg(long, default_value_t = 10)]
        seconds: u64,
        /// Messages/s per user (typing on every other one, a presence query every
        /// fourth, a read for each message received).
        #[arg(long, default_value_t = 1.0)]
        rate: f64,
    },
}

/// How idle connections are carried.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum IdleTransport {
    /// A WebSocket each.
    #[default]
    Websocket,
    /// HTTP long-polling, as a browser without WebSockets.
    Polling,
}

/// `total` split over `parts`: the size of part `part`.
fn share(total: usize, part: usize, parts: usize) -> usize {
    total / parts + usize::from(part < total % parts)
}

impl Scenario {
    /// The scenario's name, as on the command line.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Idle { .. } => "idle",
            Self::Connect { .. } => "connect",
            Self::Direct { .. } => "direct",
            Self::Fanout { .. } => "fanout",
            Self::Mixed { .. } => "mixed",
        }
    }

    /// Its parameters, as the result JSON shows them.
    pub fn params(&self) -> Value {
        serde_json::to_value(self)
            .ok()
            .and_then(|value| value.get(self.name()).cloned())
            .unwrap_or(Value::Null)
    }

    /// Checks what a user could get wrong.
    pub fn validate(&self) -> Result<()> {
        let positive = |value: f64| value.is_finite() && value > 0.0;
        match *self {
            Self::Idle { connections, .. } => ensure!(connections > 0, "--connections must be > 0"),
            Self::Connect {
                connections,
                concurrency,
            } => ensure!(
                connections > 0 && concurrency > 0,
                "--connections and --concurrency must be > 0"
            ),
            Self::Direct {
                pairs,
                seconds,
                rate,
                cross_share,
                in_flight,
            } => {
                ensure!(
                    pairs > 0 && seconds > 0,
                    "--pairs and --seconds must be > 0"
                );
                ensure!(rate.is_none_or(positive), "--rate must be > 0");
                ensure!(
                    cross_share.is_none_or(|share| (0.0..=1.0).contains(&share)),
                    "--cross-share must be within 0..1"
                );
                ensure!(in_flight > 0, "--in-flight must be > 0");
            }
            Self::Fanout {
                groups,
                members,
                senders,
                rate,
                seconds,
            } => {
                ensure!(
                    groups > 0 && seconds > 0,
                    "--groups and --seconds must be > 0"
                );
                ensure!(members >= 2, "--members must be at least 2");
                ensure!(
                    (1..=members).contains(&senders),
                    "--senders must be within 1..=members"
                );
                ensure!(positive(rate), "--rate must be > 0");
            }
            Self::Mixed {
                users,
                seconds,
                rate,
            } => {
                ensure!(
                    users >= 2 && users % 2 == 0,
                    "--users must be an even number, at least 2"
                );
                ensure!(seconds > 0, "--seconds must be > 0");
                ensure!(positive(rate), "--rate must be > 0");
            }
        }
        Ok(())
    }

    /// Connections the whole run opens.
    pub fn connections(&self) -> usize {
        match *self {
            Self::Idle { connections, .. } | Self::Connect { connections, .. } => connections,
            Self::Direct { pairs, .. } => 2 * pairs,
            Self::Fanout {
                groups, members, ..
            } => groups * members,
            Self::Mixed { users, .. } => users,
        }
    }

    /// The measured window: the hold, or the time messages are sent (`None` for a
    /// connect storm, which lasts as long as it takes).
    pub fn window(&self) -> Option<Duration> {
        match *self {
            Self::Idle { hold, .. } => Some(Duration::from_secs(hold)),
            Self::Connect { .. } => None,
            Self::Direct { seconds, .. }
            | Self::Fanout { seconds, .. }
            | Self::Mixed { seconds, .. } => Some(Duration::from_secs(seconds)),
        }
    }

    /// Part `part` of `parts` of this load: connections, pairs, groups or user pairs are
    /// split evenly; a fixed total rate is split with the pairs.
    pub fn slice(&self, part: usize, parts: usize) -> Result<Self> {
        let mut slice = self.clone();
        match &mut slice {
            Self::Idle { connections, .. } => *connections = share(*connections, part, parts),
            Self::Connect {
                connections,
                concurrency,
            } => {
                *connections = share(*connections, part, parts);
                *concurrency = share(*concurrency, part, parts).max(1);
            }
            Self::Direct { pairs, rate, .. } => {
                let total = *pairs;
                *pairs = share(total, part, parts);
                *rate = rate.map(|rate| rate * *pairs as f64 / total as f64);
            }
            Self::Fanout { groups, .. } => {
                ensure!(
                    *groups >= parts,
                    "fanout over {parts} workers needs at least {parts} groups"
                );
                *groups = share(*groups, part, parts);
            }
            Self::Mixed { users, .. } => *users = 2 * share(*users / 2, part, parts),
        }
        ensure!(
            slice.connections() > 0,
            "{parts} workers leave worker {part} with nothing to do: use fewer"
        );
        Ok(slice)
    }
}

/// A scenario ready to run: its connections are open.
#[derive(Debug)]
pub(crate) struct Prepared {
    clients: Vec<SioClient>,
    work: Work,
}

#[derive(Debug)]
enum Work {
    /// Holds the connections (and the long-polling ones, which must last) this long.
    Hold(Duration, Vec<PollingClient>),
    Storm(connect::Storm),
    Messages(messaging::Plan),
}

impl Prepared {
    /// Makes the users, groups and connections of `scenario` (this process's part).
    pub(crate) async fn new(
        scenario: &Scenario,
        harness: &Harness,
        recorder: &Recorder,
    ) -> Result<Self> {
        Ok(match *scenario {
            Scenario::Idle {
                connections,
                hold,
                transport,
            } => {
                let users = harness
                    .users("i", connections.div_ceil(DEVICES_PER_USER), |index| index)
                    .await?;
                let devices: Vec<User> = (0..connections)
                    .map(|index| users[index / DEVICES_PER_USER].clone())
                    .collect();
                let hold = Duration::from_secs(hold);
                match transport {
                    IdleTransport::Websocket => Self {
                        clients: connect_all(harness, &devices, recorder).await?,
                        work: Work::Hold(hold, Vec::new()),
                    },
                    IdleTransport::Polling => {
                        let connects = devices
                            .iter()
                            .map(|user| harness.connect_polling(user, recorder))
                            .collect();
                        Self {
                            clients: Vec::new(),
                            work: Work::Hold(hold, in_order(connects).await?),
                        }
                    }
                }
            }
            Scenario::Connect {
                connections,
                concurrency,
            } => Self {
                clients: Vec::new(),
                work: Work::Storm(connect::Storm::new(harness, connections, concurrency).await?),
            },
            Scenario::Direct {
                pairs,
                seconds,
                rate,
                cross_share,
                in_flight,
            } => {
                let shape = direct::Shape {
                    pairs,
                    window: Duration::from_secs(seconds),
                    rate,
                    cross_share,
                    in_flight,
                };
                let (clients, plan) = direct::prepare(harness, recorder, &shape).await?;
                Self {
                    clients,
                    work: Work::Messages(plan),
                }
            }
            Scenario::Fanout {
                groups,
                members,
                senders,
                rate,
                seconds,
            } => {
                let shape = fanout::Shape {
                    groups,
                    members,
                    senders,
                    rate,
                    window: Duration::from_secs(seconds),
                };
                let (clients, plan) = fanout::prepare(harness, recorder, &shape).await?;
                Self {
                    clients,
                    work: Work::Messages(plan),
                }
            }
            Scenario::Mixed {
                users,
                seconds,
                rate,
            } => {
                let (clients, plan) =
                    mixed::prepare(harness, recorder, users, rate, Duration::from_secs(seconds))
                        .await?;
                Self {
                    clients,
                    work: Work::Messages(plan),
                }
            }
        })
    }

    /// Runs the measured phase; the connections stay open afterwards, until dropped.
    pub(crate) async fn run(&mut self, harness: &Harness, recorder: &Recorder) -> Result<()> {
        match &mut self.work {
            Work::Hold(hold, polling) => {
                tokio::time::sleep(*hold).await;
                let mut ended = Vec::new();
                for client in polling {
                    ended.extend(client.ended().await);
                }
                ensure!(
                    ended.is_empty(),
                    "{} long-polling sessions ended during the hold, the first: {}",
                    ended.len(),
                    ended[0]
                );
            }
            Work::Storm(storm) => self.clients = storm.run(harness, recorder).await?,
            Work::Messages(plan) => {
                let clients = std::mem::take(&mut self.clients);
                self.clients = messaging::run(clients, plan, harness, recorder).await?;
            }
        }
        Ok(())
    }
}

/// Connects every user of `users` (in order), `CONNECTS_AT_ONCE` at a time.
async fn connect_all(
    harness: &Harness,
    users: &[User],
    recorder: &Recorder,
) -> Result<Vec<SioClient>> {
    let connects = users
        .iter()
        .map(|user| harness.connect_ready(user, recorder))
        .collect();
    in_order(connects).await
}

/// Runs `connects`, `CONNECTS_AT_ONCE` at a time; their clients in order. They are made
/// beforehand: a stream mapping through a borrowing closure is not `Send` enough for
/// `tokio::spawn`.
async fn in_order<T>(connects: Vec<impl Future<Output = Result<T>>>) -> Result<Vec<T>> {
    stream::iter(connects)
        .buffered(CONNECTS_AT_ONCE)
        .try_collect()
        .await
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn slices_split_the_load_and_keep_the_total_rate() {
        let direct = Scenario::Direct {
            pairs: 5,
            seconds: 1,
            rate: Some(1000.0),
            cross_share: None,
            in_flight: 1,
        };
        let slices: Vec<Scenario> = (0..2).map(|part| direct.slice(part, 2).unwrap()).collect();
        let rates: Vec<f64> = slices
            .iter()
            .map(|slice| match slice {
                Scenario::Direct { rate, .. } => rate.unwrap(),
                _ => unreachable!(),
            })
            .collect();
        assert_eq!(slices[0].connections() + slices[1].connections(), 10);
        assert!((rates[0] - 600.0).abs() < 1e-9 && (rates[1] - 400.0).abs() < 1e-9);
        let fanout = Scenario::Fanout {
            groups: 1,
            members: 10,
            senders: 1,
            rate: 1.0,
            seconds: 1,
        };
        assert!(fanout.slice(0, 2).is_err());
        let mixed = Scenario::Mixed {
            users: 6,
            seconds: 1,
            rate: 1.0,
        };
        assert_eq!(mixed.slice(0, 2).unwrap().connections(), 4);
        assert_eq!(mixed.slice(1, 2).unwrap().connections(), 2);
    }

    #[test]
    fn bad_parameters_are_refused() {
        let mixed = Scenario::Mixed {
            users: 3,
            seconds: 1,
            rate: 1.0,
        };
        assert!(mixed.validate().is_err());
        let direct = Scenario::Direct {
            pairs: 1,
            seconds: 1,
            rate: None,
            cross_share: Some(1.5),
            in_flight: 1,
        };
        assert!(direct.validate().is_err());
        assert_eq!(
            Scenario::Idle {
                connections: 3,
                hold: 1,
                transport: IdleTransport::Polling,
            }
            .params(),
            serde_json::json!({"connections": 3, "hold": 1, "transport": "polling"})
        );
    }
}
