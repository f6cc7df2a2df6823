//! The directory in Redis, through `fred`: what a cluster of nodes shares.
//!
//! One multiplexed connection (one per master on a Redis Cluster; fred pipelines
//! concurrent commands on it) that reconnects by itself with an exponential backoff, forever; commands issued while it is down wait for the
//! reconnection up to [`RedisDirectory::COMMAND_TIMEOUT`] and then fail, so a caller never
//! hangs. Every multi-key update is a Lua script from `src/lua/`; the layout of the keys is
//! described in [`crate::keys`].
//!
//! Lookups are coalesced: a node looks up the recipients of every message it routes, and
//! the lookups asked for while one runs go to Redis together, as one script call (see
//! [`lookups`]). At a few thousand messages a second that is a fraction of the script
//! calls, and of the CPU they cost Redis and the node.
//!
//! On a Redis Cluster (a `redis-cluster://` URL) the users' entries are spread over
//! buckets whose slots sit on every master ([`Keys::sharded`]): registrations and lookups
//! make one script call per bucket, and a round of lookups reads the live nodes once, from
//! the leases' slot, instead of inside the scripts. Each master has a client of its own
//! ([`Shards`], which says why), so a shard that fails fails only the lookups and
//! registrations of the users it holds, at once and naming the shard; if the leases' shard
//! fails, lookups go on by the entries' own expiry.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::path::Path;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use async_trait::async_trait;
use fred::prelude::{
    Builder, Client, ClientLike, Config, EventInterface, FromValue, KeysInterface, LuaInterface,
    ReconnectPolicy, SortedSetsInterface,
};
use futures_util::future::join_all;
use tokio::sync::{mpsc, oneshot};

use super::shards::Shards;
use super::{Directory, ttl_millis};
use crate::error::DirectoryError;
use crate::keys::Keys;
use crate::security::client_tls_trusting;

/// How long one connection attempt may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// Reconnect backoff: from 100 ms, doubling, up to 5 s, forever.
const RECONNECT_MIN_MS: u32 = 100;
const RECONNECT_MAX_MS: u32 = 5_000;
/// Users per `register_users` script call: bounds how long one script blocks Redis.
const REGISTER_BATCH: usize = 500;
/// Users per `lookup_users` script call, for the same reason.
const LOOKUP_BATCH: usize = 500;
/// How long a connection may leave a command unanswered before it is dropped and made
/// again: a master that hangs with its connection open (a frozen VM, a partition) then
/// counts as lost, so that its calls fail at once instead of each waiting for its timeout.
const UNRESPONSIVE_AFTER: Duration = Duration::from_secs(2);
/// How long a round of lookups waits for the live nodes before it goes without them.
const LIVE_NODES_WITHIN: Duration = Duration::from_millis(500);
/// Most waiting lookups answered by one round (its script calls run concurrently).
const LOOKUPS_PER_ROUND: usize = 8192;

/// A Lua script from `src/lua/`, run by its SHA1 once Redis knows it.
struct LuaScript {
    source: &'static str,
    /// Learnt from `SCRIPT LOAD` on first use (fred only hashes locally with a feature we do
    /// not build).
    sha: OnceLock<String>,
}

impl LuaScript {
    const fn new(source: &'static str) -> Self {
        Self {
            source,
            sha: OnceLock::new(),
        }
    }

    /// Runs the script with `EVALSHA`; when the server does not know it (first use, or a
    /// restarted or failed-over Redis) falls back to `EVAL`, which also caches it again.
    async fn run<R: FromValue>(
        &self,
        client: &Client,
        keys: Vec<String>,
        args: Vec<String>,
    ) -> Result<R, fred::error::Error> {
        let sha = match self.sha.get() {
            Some(sha) => sha.clone(),
            None => {
                let sha: String = client.script_load(self.source).await?;
                self.sha.get_or_init(|| sha).clone()
            }
        };
        match client.evalsha(sha, keys.clone(), args.clone()).await {
            Err(error) if error.details().starts_with("NOSCRIPT") => {
                client.eval(self.source, keys, args).await
            }
            result => result,
        }
    }
}

/// The scripts this directory runs.
struct Scripts {
    refresh_lease: LuaScript,
    release_lease: LuaScript,
    live_nodes: LuaScript,
    register_users: LuaScript,
}

impl Scripts {
    const fn new() -> Self {
        Self {
            refresh_lease: LuaScript::new(include_str!("../lua/refresh_lease.lua")),
            release_lease: LuaScript::new(include_str!("../lua/release_lease.lua")),
            live_nodes: LuaScript::new(include_str!("../lua/live_nodes.lua")),
            register_users: LuaScript::new(include_str!("../lua/register_users.lua")),
        }
    }
}

/// Where the directory's commands go: one client (one Redis, or Sentinel), or a client
/// per master of a Redis Cluster ([`Shards`]).
#[derive(Clone)]
enum Redis {
    One(Client),
    Cluster(Arc<Shards>),
}

impl Redis {
    /// The client to send a command on `key` to.
    async fn client_for(&self, key: &str) -> Result<Client, DirectoryError> {
        match self {
            Self::One(client) => Ok(client.clone()),
            Self::Cluster(shards) => {
                shards
                    .client_for(key, RedisDirectory::COMMAND_TIMEOUT)
                    .await
            }
        }
    }

    /// `error` of a command on `key`, as the directory reports it.
    fn failed(&self, key: &str, error: fred::error::Error) -> DirectoryError {
        match self {
            Self::One(_) => DirectoryError::Redis(error),
            Self::Cluster(shards) => shards.failed(key, error),
        }
    }

    /// Runs `script` on the keys `keys` (which share a slot).
    async fn run<R: FromValue>(
        &self,
        script: &LuaScript,
        keys: Vec<String>,
        args: Vec<String>,
    ) -> Result<R, DirectoryError> {
        let first = keys.first().cloned().unwrap_or_default();
        let client = self.client_for(&first).await?;
        script
            .run(&client, keys, args)
            .await
            .map_err(|error| self.failed(&first, error))
    }
}

/// The [`Directory`] in Redis (standalone, TLS, Cluster or Sentinel).
pub struct RedisDirectory {
    redis: Redis,
    keys: Keys,
    scripts: Scripts,
    /// Where lookups wait for the next round (see [`lookups`]).
    lookups: mpsc::UnboundedSender<Lookup>,
}

impl fmt::Debug for RedisDirectory {
    // The client's configuration holds the password: show the state only.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisDirectory")
            .field("keys", &self.keys)
            .field("cluster", &matches!(self.redis, Redis::Cluster(_)))
            .finish_non_exhaustive()
    }
}

impl RedisDirectory {
    /// How long a command may wait, reconnection included, before it fails.
    pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(3);

    /// Starts a client for `url` and returns at once; the connection is made, and remade
    /// whenever it drops, in the background. Readiness is [`Directory::ping`].
    ///
    /// `url` is any form fred accepts: `redis://[user:pass@]host[:port][/db]`, `rediss://`
    /// (TLS through rustls with the system's roots), `redis-cluster://host:port?node=...`
    /// and `redis-sentinel://host:port/db?sentinelServiceName=...&node=...`.
    pub async fn connect(url: &str, keys: Keys) -> Result<Self, DirectoryError> {
        Self::connect_with(url, keys, None).await
    }

    /// [`RedisDirectory::connect`], trusting only the CA in the PEM file `tls_ca_file` for
    /// a `rediss://` server (instead of the system's roots). A user and password go in the
    /// URL.
    pub async fn connect_with(
        url: &str,
        keys: Keys,
        tls_ca_file: Option<&Path>,
    ) -> Result<Self, DirectoryError> {
        let mut config = Config::from_url(url)?;
        let keys = if config.server.is_clustered() {
            keys.sharded()
        } else {
            keys
        };
        if let Some(ca_file) = tls_ca_file {
            config.tls = Some(client_tls_trusting(ca_file)?.into());
        }
        // Retry the first connection like any other instead of failing: Redis may start
        // after us (a Kubernetes rollout), and readiness reports the wait.
        config.fail_fast = false;
        let redis = if config.server.is_clustered() {
            Redis::Cluster(Shards::start(config, build_client)?)
        } else {
            Redis::One(build_client(config)?)
        };
        let (lookups_tx, lookups_rx) = mpsc::unbounded_channel();
        tokio::spawn(lookups(redis.clone(), keys.clone(), lookups_rx));
        Ok(Self {
            redis,
            keys,
            scripts: Scripts::new(),
            lookups: lookups_tx,
        })
    }

    /// The names this directory uses.
    pub fn keys(&self) -> &Keys {
        &self.keys
    }

    /// Closes the connection (after a drain); later calls fail.
    pub async fn quit(&self) -> Result<(), DirectoryError> {
        match &self.redis {
            Redis::One(client) => Ok(client.quit().await?),
            Redis::Cluster(shards) => shards.quit().await,
        }
    }
}

#[async_trait]
impl Directory for RedisDirectory {
    async fn refresh_node_lease(&self, node: &str, ttl: Duration) -> Result<(), DirectoryError> {
        let ttl = ttl_millis(ttl)?;
        let keys = vec![self.keys.node_lease(node), self.keys.node_index()];
        let args = vec![node.to_owned(), ttl.to_string()];
        let _: i64 = self
            .redis
            .run(&self.scripts.refresh_lease, keys, args)
            .await?;
        Ok(())
    }

    async fn release_node_lease(&self, node: &str) -> Result<(), DirectoryError> {
        let keys = vec![self.keys.node_lease(node), self.keys.node_index()];
        let _: i64 = self
            .redis
            .run(&self.scripts.release_lease, keys, vec![node.to_owned()])
            .await?;
        Ok(())
    }

    async fn live_nodes(&self) -> Result<Vec<String>, DirectoryError> {
        let keys = vec![self.keys.node_index()];
        let args = vec![self.keys.node_lease_prefix()];
        self.redis.run(&self.scripts.live_nodes, keys, args).await
    }

    async fn is_node_alive(&self, node: &str) -> Result<bool, DirectoryError> {
        let key = self.keys.node_lease(node);
        let existing: u32 = self
            .redis
            .client_for(&key)
            .await?
            .exists(&key)
            .await
            .map_err(|error| self.redis.failed(&key, error))?;
        Ok(existing == 1)
    }

    async fn register_user(
        &self,
        user: &str,
        node: &str,
        ttl: Duration,
    ) -> Result<(), DirectoryError> {
        self.refresh_node_users(node, &[user], ttl).await
    }

    async fn unregister_user(&self, user: &str, node: &str) -> Result<(), DirectoryError> {
        let key = self.keys.user_nodes(user);
        let _: i64 = self
            .redis
            .client_for(&key)
            .await?
            .zrem(&key, node)
            .await
            .map_err(|error| self.redis.failed(&key, error))?;
        Ok(())
    }

    async fn refresh_node_users(
        &self,
        node: &str,
        users: &[&str],
        ttl: Duration,
    ) -> Result<(), DirectoryError> {
        let ttl = ttl_millis(ttl)?.to_string();
        // Batches (of one bucket each) go out concurrently; fred pipelines them.
        let batches = by_bucket(&self.keys, users, REGISTER_BATCH);
        let calls = batches.iter().map(|batch| {
            let keys = batch
                .iter()
                .map(|user| self.keys.user_nodes(user))
                .collect();
            let args = vec![node.to_owned(), ttl.clone()];
            self.redis
                .run::<i64>(&self.scripts.register_users, keys, args)
        });
        // The first failure is returned; the other buckets are written all the same.
        for result in join_all(calls).await {
            result?;
        }
        Ok(())
    }

    async fn lookup_users(
        &self,
        users: &[&str],
    ) -> Result<HashMap<String, Vec<String>>, DirectoryError> {
        if users.is_empty() {
            return Ok(HashMap::new());
        }
        let (reply, answer) = oneshot::channel();
        let lookup = Lookup {
            users: users.iter().map(|user| (*user).to_owned()).collect(),
            reply,
        };
        self.lookups
            .send(lookup)
            .map_err(|_| DirectoryError::Stopped)?;
        answer.await.map_err(|_| DirectoryError::Stopped)?
    }

    async fn ping(&self) -> Result<(), DirectoryError> {
        match &self.redis {
            Redis::One(client) => {
                let _: String = client.ping(None).await?;
                Ok(())
            }
            Redis::Cluster(shards) => shards.ping().await,
        }
    }
}

/// A started client of `config`: it connects in the background and reconnects with an
/// exponential backoff, forever; its connection errors are logged with the server.
fn build_client(config: Config) -> Result<Client, fred::error::Error> {
    // fred names the server only for errors of one connection; the others (a failed
    // reconnection round) are named by the servers configured.
    let configured = config
        .server
        .hosts()
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(",");
    let client = Builder::from_config(config)
        .with_connection_config(|connection| {
            connection.connection_timeout = CONNECT_TIMEOUT;
            connection.internal_command_timeout = RedisDirectory::COMMAND_TIMEOUT;
            connection.tcp.nodelay = Some(true);
            connection.unresponsive.max_timeout = Some(UNRESPONSIVE_AFTER);
            connection.unresponsive.interval = UNRESPONSIVE_AFTER / 4;
        })
        .with_performance_config(|performance| {
            performance.default_command_timeout = RedisDirectory::COMMAND_TIMEOUT;
        })
        .set_policy(ReconnectPolicy::new_exponential(
            0,
            RECONNECT_MIN_MS,
            RECONNECT_MAX_MS,
            2,
        ))
        .build()?;
    client.on_error(move |(error, server)| {
        let server = server.map_or_else(|| configured.clone(), |server| server.to_string());
        async move {
            tracing::warn!(%error, %server, "redis connection error");
            Ok(())
        }
    });
    client.on_reconnect(|server| async move {
        tracing::info!(%server, "connected to redis");
        Ok(())
    });
    client.connect();
    Ok(client)
}

/// One caller's lookup, waiting for its round.
struct Lookup {
    users: Vec<String>,
    reply: oneshot::Sender<Result<HashMap<String, Vec<String>>, DirectoryError>>,
}

/// Answers lookups in rounds, one round at a time: a round takes the lookups waiting (up
/// to [`LOOKUPS_PER_ROUND`]) whose callers still listen, asks Redis once for the users of
/// all of them (in concurrent script calls of up to [`LOOKUP_BATCH`] users of one bucket)
/// and answers each caller with its own users, so a busy node makes few, larger script
/// calls. A lookup fails if a call for one of its users failed. When every call of a round
/// fails (Redis down: after the command timeout), every lookup waiting by then fails with
/// it rather than queueing behind another timeout. Ends when the directory is dropped.
async fn lookups(redis: Redis, keys: Keys, mut waiting: mpsc::UnboundedReceiver<Lookup>) {
    let script = LuaScript::new(include_str!("../lua/lookup_users.lua"));
    let mut live = LiveNodes::new(&keys);
    let mut round = Vec::new();
    while waiting.recv_many(&mut round, LOOKUPS_PER_ROUND).await > 0 {
        round.retain(|lookup| !lookup.reply.is_closed());
        let (answers, all_failed) = answer_round(&redis, &keys, &script, &mut live, &round).await;
        for (lookup, answer) in round.drain(..).zip(answers) {
            // A caller that gave up no longer listens.
            let _ = lookup.reply.send(answer);
        }
        if let Some(error) = all_failed {
            while let Ok(lookup) = waiting.try_recv() {
                let _ = lookup.reply.send(Err(error.clone()));
            }
        }
    }
}

/// The nodes holding a lease, read once per round of lookups on a Redis Cluster (where the
/// lookup script cannot see the leases); on one Redis the script checks them itself.
struct LiveNodes {
    script: Option<LuaScript>,
    keys: Keys,
    /// Whether the last read failed (logged once per outage).
    failing: bool,
}

impl LiveNodes {
    fn new(keys: &Keys) -> Self {
        Self {
            script: keys
                .is_sharded()
                .then(|| LuaScript::new(include_str!("../lua/live_nodes.lua"))),
            keys: keys.clone(),
            failing: false,
        }
    }

    /// The lease key prefix the lookup script checks leases with (empty: it does not).
    fn script_prefix(&self) -> String {
        if self.script.is_some() {
            String::new()
        } else {
            self.keys.node_lease_prefix()
        }
    }

    /// Reads the live nodes (nothing to read on one Redis). Returns `None` when there is
    /// nothing to filter with: on one Redis, or when the leases' shard does not answer.
    /// Lookups then go by the entries' own expiry, one lease TTL: a node that died
    /// meanwhile is named until its entries lapse (what it is sent, `sync` repairs),
    /// while a set kept from before would hide the users of every node started since.
    async fn read(&mut self, redis: &Redis) -> Option<HashSet<String>> {
        let script = self.script.as_ref()?;
        let (index, prefix) = (self.keys.node_index(), self.keys.node_lease_prefix());
        let read = redis.run::<Vec<String>>(script, vec![index], vec![prefix]);
        let read = tokio::time::timeout(LIVE_NODES_WITHIN, read)
            .await
            .unwrap_or_else(|_| {
                Err(DirectoryError::Redis(fred::error::Error::new(
                    fred::error::ErrorKind::Timeout,
                    "the live nodes were not read in time",
                )))
            });
        match read {
            Ok(nodes) => {
                if std::mem::take(&mut self.failing) {
                    tracing::info!("the live nodes can be read again");
                }
                Some(nodes.into_iter().collect())
            }
            Err(error) => {
                if !std::mem::replace(&mut self.failing, true) {
                    tracing::warn!(%error, "could not read the live nodes; lookups go by the entries' expiry");
                }
                None
            }
        }
    }
}

/// Looks up the users of every lookup of `round` at once; the answers are in its order,
/// with the error that failed every call, if every one failed.
async fn answer_round(
    redis: &Redis,
    keys: &Keys,
    script: &LuaScript,
    live: &mut LiveNodes,
    round: &[Lookup],
) -> (
    Vec<Result<HashMap<String, Vec<String>>, DirectoryError>>,
    Option<DirectoryError>,
) {
    let mut seen = HashSet::new();
    let users: Vec<&str> = round
        .iter()
        .flat_map(|lookup| &lookup.users)
        .map(String::as_str)
        .filter(|user| seen.insert(*user))
        .collect();
    let batches = by_bucket(keys, &users, LOOKUP_BATCH);
    let prefix = live.script_prefix();
    let calls = batches.iter().map(|batch| {
        let user_keys = batch.iter().map(|user| keys.user_nodes(user)).collect();
        redis.run::<Vec<Vec<String>>>(script, user_keys, vec![prefix.clone()])
    });
    let (results, live) = futures_util::join!(join_all(calls), live.read(redis));
    let mut found: HashMap<&str, Vec<String>> = HashMap::new();
    let mut failed: HashMap<&str, DirectoryError> = HashMap::new();
    let mut last_error = None;
    let mut succeeded = false;
    for (batch, result) in batches.iter().zip(results) {
        match result {
            Ok(answers) => {
                succeeded = true;
                for (user, mut nodes) in batch.iter().copied().zip(answers) {
                    if let Some(live) = &live {
                        nodes.retain(|node| live.contains(node));
                    }
                    found.insert(user, nodes);
                }
            }
            Err(error) => {
                failed.extend(batch.iter().map(|user| (*user, error.clone())));
                last_error = Some(error);
            }
        }
    }
    let answers = round
        .iter()
        .map(|lookup| {
            if let Some(error) = lookup
                .users
                .iter()
                .find_map(|user| failed.get(user.as_str()))
            {
                return Err(error.clone());
            }
            Ok(lookup
                .users
                .iter()
                .filter_map(|user| {
                    let nodes = found.get(user.as_str()).filter(|nodes| !nodes.is_empty())?;
                    Some((user.clone(), nodes.clone()))
                })
                .collect())
        })
        .collect();
    (answers, last_error.filter(|_| !succeeded))
}

/// `users` in batches of at most `size`, each of one bucket (one slot on a Redis Cluster).
fn by_bucket<'a>(keys: &Keys, users: &[&'a str], size: usize) -> Vec<Vec<&'a str>> {
    let mut buckets: HashMap<u16, Vec<&'a str>> = HashMap::new();
    for user in users {
        buckets
            .entry(keys.user_bucket(user))
            .or_default()
            .push(user);
    }
    buckets
        .into_values()
        .flat_map(|bucket| {
            bucket
                .chunks(size)
                .map(<[&str]>::to_vec)
                .collect::<Vec<_>>()
        })
        .collect()
}
