//! A Redis Cluster as one client per master, routed by the directory itself.
//!
//! fred's cluster client, after losing a connection, resynchronises by connecting to every
//! master of the slot map at once (fred 10.1, `router/clustered.rs`, `sync`). While one
//! master is down (lost with no replica, or until its replica is promoted) that never
//! completes, and every command waits and times out, also those bound for the masters
//! that are up: one lost shard stalled live delivery on every node.
//!
//! So the directory keeps a plain client per master and a map of slots to masters, read
//! with `CLUSTER SLOTS` from any master that answers. A call goes to the master of its
//! key's slot, and fails at once, naming the shard, while that master's client is not
//! connected. The map is read again every [`REFRESH_EVERY`] and soon after a call failed,
//! so a promoted replica or a moved slot is followed within about a second; a call that
//! met a `MOVED` reply fails, and the next goes where the slot now is.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock, RwLockReadGuard};
use std::time::Duration;

use fred::error::{Error, ErrorKind};
use fred::interfaces::ClusterInterface;
use fred::prelude::{Client, ClientLike, Config, EventInterface, Server, ServerConfig};
use fred::types::Value;
use futures_util::future::join_all;
use tokio::sync::Notify;

use crate::error::DirectoryError;

/// How often the slot map is read again when nothing failed.
const REFRESH_EVERY: Duration = Duration::from_secs(1);
/// How long reading the slot map from one master may take.
const ASK_WITHIN: Duration = Duration::from_secs(1);
/// The shortest time between two reads of the slot map, however many calls fail.
const REFRESH_GAP: Duration = Duration::from_millis(200);

/// What the directory knows of the cluster.
#[derive(Default)]
struct Topology {
    /// Slot ranges (first, last) and the master serving each, sorted by first slot.
    ranges: Vec<(u16, u16, Server)>,
    /// A client for each master, and for each seed of the configuration.
    clients: HashMap<Server, Master>,
}

/// The client of one master, and whether it has ever connected: until it has (a node
/// starting, a new master), calls wait for it; once it has, a lost connection fails them
/// at once.
#[derive(Clone)]
struct Master {
    client: Client,
    connected_once: Arc<AtomicBool>,
}

/// The masters of a Redis Cluster, each behind its own client.
pub(super) struct Shards {
    /// The configuration every master's client copies, but for its server.
    template: Config,
    /// Makes a started client of a configuration.
    build: Box<dyn Fn(Config) -> Result<Client, Error> + Send + Sync>,
    seeds: Vec<Server>,
    topology: RwLock<Topology>,
    /// Wakes the task that reads the slot map.
    stale: Arc<Notify>,
    /// Whether the slot map was read once: until then, calls wait for it.
    mapped: tokio::sync::watch::Sender<bool>,
}

impl Shards {
    /// The cluster that `config` (clustered) names, with clients made by `build`; reads
    /// its slot map in the background from now on, until the returned handle is dropped.
    pub(super) fn start(
        config: Config,
        build: impl Fn(Config) -> Result<Client, Error> + Send + Sync + 'static,
    ) -> Result<Arc<Self>, Error> {
        let seeds = config.server.hosts();
        let shards = Arc::new(Self {
            template: config,
            build: Box::new(build),
            seeds: seeds.clone(),
            topology: RwLock::default(),
            stale: Arc::default(),
            mapped: tokio::sync::watch::Sender::new(false),
        });
        for seed in seeds {
            let master = shards.client_of(&seed)?;
            shards.write().clients.insert(seed, master);
        }
        tokio::spawn(refresh(Arc::downgrade(&shards), shards.stale.clone()));
        Ok(shards)
    }

    fn read(&self) -> RwLockReadGuard<'_, Topology> {
        self.topology
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Topology> {
        self.topology
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// A new client for `server`, connecting in the background.
    fn client_of(&self, server: &Server) -> Result<Master, Error> {
        let mut config = self.template.clone();
        config.server = ServerConfig::new_centralized(server.host.to_string(), server.port);
        let client = (self.build)(config)?;
        let connected_once = Arc::new(AtomicBool::new(false));
        let connected = connected_once.clone();
        client.on_reconnect(move |_| {
            connected.store(true, Ordering::Release);
            async { Ok(()) }
        });
        Ok(Master {
            client,
            connected_once,
        })
    }

    /// The client of the master serving `key`'s slot, if it is connected. Before the slot
    /// map was first read (a node starting), waits for it up to `within`.
    pub(super) async fn client_for(
        &self,
        key: &str,
        within: Duration,
    ) -> Result<Client, DirectoryError> {
        let mut mapped = self.mapped.subscribe();
        let _ = tokio::time::timeout(within, mapped.wait_for(|mapped| *mapped)).await;
        let slot = fred::util::redis_keyslot(key.as_bytes());
        let found = {
            let topology = self.read();
            master_of(&topology.ranges, slot)
                .map(|server| (server.to_string(), topology.clients.get(server).cloned()))
        };
        let Some((server, master)) = found else {
            self.stale.notify_one();
            return Err(shard_failed(
                "unknown",
                slot,
                not_connected("no master known for it"),
            ));
        };
        let failed = || shard_failed(&server, slot, not_connected("not connected to its master"));
        let master = master.ok_or_else(failed)?;
        if master.client.is_connected() {
            return Ok(master.client);
        }
        if master.connected_once.load(Ordering::Acquire) {
            return Err(failed());
        }
        match tokio::time::timeout(within, master.client.wait_for_connect()).await {
            Ok(Ok(())) => Ok(master.client),
            _ => Err(failed()),
        }
    }

    /// `error` of a call on `key`, named by its shard; the slot map is read again soon.
    pub(super) fn failed(&self, key: &str, error: Error) -> DirectoryError {
        let slot = fred::util::redis_keyslot(key.as_bytes());
        self.stale.notify_one();
        let server = master_of(&self.read().ranges, slot)
            .map_or_else(|| "unknown".to_owned(), ToString::to_string);
        shard_failed(&server, slot, error)
    }

    /// Pings every master: the first that fails, if one does (none known yet counts).
    pub(super) async fn ping(&self) -> Result<(), DirectoryError> {
        let masters: Vec<(Server, Option<Client>, u16)> = {
            let topology = self.read();
            let mut masters: Vec<(Server, Option<Client>, u16)> = Vec::new();
            for (first, _, server) in &topology.ranges {
                if masters.iter().all(|(known, _, _)| known != server) {
                    masters.push((
                        server.clone(),
                        topology
                            .clients
                            .get(server)
                            .map(|master| master.client.clone()),
                        *first,
                    ));
                }
            }
            masters
        };
        if masters.is_empty() {
            return Err(shard_failed(
                "unknown",
                0,
                not_connected("the cluster's slot map has not been read yet"),
            ));
        }
        let pings = masters.iter().map(|(server, client, slot)| async move {
            let Some(client) = client else {
                return Err(shard_failed(
                    &server.to_string(),
                    *slot,
                    not_connected("no client"),
                ));
            };
            client
                .ping::<String>(None)
                .await
                .map(drop)
                .map_err(|error| shard_failed(&server.to_string(), *slot, error))
        });
        join_all(pings).await.into_iter().collect()
    }

    /// Closes every client.
    pub(super) async fn quit(&self) -> Result<(), DirectoryError> {
        let clients: Vec<Client> = self
            .read()
            .clients
            .values()
            .map(|master| master.client.clone())
            .collect();
        for result in join_all(clients.iter().map(|client| client.quit())).await {
            result?;
        }
        Ok(())
    }

    /// Reads the slot map from the first master (or seed) that answers, and keeps a
    /// client for each master it names (and each seed); false if none answered.
    async fn refresh(&self) -> bool {
        let mut asked: Vec<(Server, Client)> = self
            .read()
            .clients
            .iter()
            .map(|(server, master)| (server.clone(), master.client.clone()))
            .collect();
        // Those connected first: the others may answer only once they reconnect.
        asked.sort_by_key(|(_, client)| !client.is_connected());
        for (server, client) in asked {
            let Ok(Ok(slots)) =
                tokio::time::timeout(ASK_WITHIN, client.cluster_slots::<Value>()).await
            else {
                continue;
            };
            let Some(ranges) = parse_slots(slots, &server.host) else {
                continue;
            };
            self.adopt(ranges);
            return true;
        }
        false
    }

    /// Routes by `ranges` from now on, with a client for each master they name.
    fn adopt(&self, mut ranges: Vec<(u16, u16, Server)>) {
        ranges.sort_by_key(|(first, _, _)| *first);
        let mut topology = self.write();
        let mut clients = std::mem::take(&mut topology.clients);
        let mut kept = HashMap::new();
        for server in ranges
            .iter()
            .map(|(_, _, server)| server)
            .chain(&self.seeds)
        {
            if kept.contains_key(server) {
                continue;
            }
            let master = match clients.remove(server) {
                Some(master) => master,
                None => match self.client_of(server) {
                    Ok(master) => master,
                    Err(error) => {
                        tracing::warn!(%error, %server, "could not make a client for a redis master");
                        continue;
                    }
                },
            };
            kept.insert(server.clone(), master);
        }
        for (server, master) in clients {
            tracing::info!(%server, "redis master left the cluster's slot map");
            tokio::spawn(async move { drop(master.client.quit().await) });
        }
        topology.clients = kept;
        topology.ranges = ranges;
        drop(topology);
        self.mapped.send_replace(true);
    }
}

/// Reads the slot map every [`REFRESH_EVERY`], or sooner when a call failed, until the
/// shards are dropped.
async fn refresh(shards: std::sync::Weak<Shards>, stale: Arc<Notify>) {
    loop {
        let Some(alive) = shards.upgrade() else {
            return;
        };
        alive.refresh().await;
        drop(alive);
        tokio::time::sleep(REFRESH_GAP).await;
        let _ = tokio::time::timeout(REFRESH_EVERY - REFRESH_GAP, stale.notified()).await;
    }
}

/// The master serving `slot` in `ranges` (sorted by first slot).
fn master_of(ranges: &[(u16, u16, Server)], slot: u16) -> Option<&Server> {
    let index = ranges.partition_point(|(first, _, _)| *first <= slot);
    let (first, last, server) = ranges.get(index.checked_sub(1)?)?;
    (*first..=*last).contains(&slot).then_some(server)
}

/// The ranges of a `CLUSTER SLOTS` reply: `[first, last, [host, port, id, ...], replicas...]`.
/// A master announced without a usable host (empty, `?` or null, as Redis answers for an
/// unknown endpoint) is taken to be on `asked`, the host that answered.
fn parse_slots(reply: Value, asked: &str) -> Option<Vec<(u16, u16, Server)>> {
    let Value::Array(entries) = reply else {
        return None;
    };
    let mut ranges = Vec::with_capacity(entries.len());
    for entry in entries {
        let Value::Array(entry) = entry else {
            return None;
        };
        let (Some(first), Some(last), Some(Value::Array(master))) =
            (entry.first(), entry.get(1), entry.get(2))
        else {
            return None;
        };
        let host = master
            .first()
            .and_then(Value::as_string)
            .filter(|host| !host.is_empty() && host != "?")
            .unwrap_or_else(|| asked.to_owned());
        let port = u16::try_from(master.get(1)?.as_u64()?).ok()?;
        ranges.push((
            u16::try_from(first.as_u64()?).ok()?,
            u16::try_from(last.as_u64()?).ok()?,
            Server::new(host, port),
        ));
    }
    (!ranges.is_empty()).then_some(ranges)
}

fn not_connected(why: &str) -> Error {
    Error::new(ErrorKind::IO, why.to_owned())
}

fn shard_failed(server: &str, slot: u16, source: Error) -> DirectoryError {
    DirectoryError::Shard {
        server: server.to_owned(),
        slot,
        source,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_slot_map_is_read_and_an_unknown_endpoint_is_the_host_asked() {
        let entry = |first: i64, last: i64, host: Value, port: i64| {
            Value::Array(vec![
                Value::Integer(first),
                Value::Integer(last),
                Value::Array(vec![host, Value::Integer(port), Value::from("id")]),
            ])
        };
        let reply = Value::Array(vec![
            entry(0, 8191, Value::from("10.0.0.1"), 7000),
            entry(8192, 16383, Value::from("?"), 7001),
        ]);
        let ranges = parse_slots(reply, "redis-0").unwrap();
        assert_eq!(
            ranges,
            vec![
                (0, 8191, Server::new("10.0.0.1", 7000)),
                (8192, 16383, Server::new("redis-0", 7001)),
            ]
        );
        assert_eq!(parse_slots(Value::Array(Vec::new()), "redis-0"), None);
        assert_eq!(parse_slots(Value::from("nonsense"), "redis-0"), None);
    }

    #[test]
    fn a_slot_goes_to_the_master_of_its_range_and_a_gap_to_none() {
        let ranges = vec![
            (0, 5460, Server::new("a", 1)),
            (5461, 10922, Server::new("b", 2)),
            (12000, 16383, Server::new("c", 3)),
        ];
        assert_eq!(master_of(&ranges, 0), Some(&Server::new("a", 1)));
        assert_eq!(master_of(&ranges, 5461), Some(&Server::new("b", 2)));
        assert_eq!(master_of(&ranges, 16383), Some(&Server::new("c", 3)));
        assert_eq!(master_of(&ranges, 11000), None);
        assert_eq!(master_of(&[], 7), None);
    }
}
