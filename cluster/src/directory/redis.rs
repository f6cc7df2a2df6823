//! The directory in Redis, through `fred`: what a cluster of nodes shares.
//!
//! One multiplexed connection (fred pipelines concurrent commands on it) that reconnects by
//! itself with an exponential backoff, forever; commands issued while it is down wait for the
//! reconnection up to [`RedisDirectory::COMMAND_TIMEOUT`] and then fail, so a caller never
//! hangs. Every multi-key update is a Lua script from `src/lua/`; the layout of the keys is
//! described in [`crate::keys`].
//!
//! Lookups are coalesced: a node looks up the recipients of every message it routes, and
//! the lookups asked for while one runs go to Redis together, as one script call (see
//! [`lookups`]). At a few thousand messages a second that is a fraction of the script
//! calls, and of the CPU they cost Redis and the node.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::path::Path;
use std::sync::OnceLock;
use std::time::Duration;

use async_trait::async_trait;
use fred::prelude::{
    Builder, Client, ClientLike, Config, EventInterface, FromValue, KeysInterface, LuaInterface,
    ReconnectPolicy, SortedSetsInterface,
};
use futures_util::future::try_join_all;
use tokio::sync::{mpsc, oneshot};

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

/// The [`Directory`] in Redis (standalone, TLS, Cluster or Sentinel).
pub struct RedisDirectory {
    client: Client,
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
            .field("state", &self.client.state())
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
        if let Some(ca_file) = tls_ca_file {
            config.tls = Some(client_tls_trusting(ca_file)?.into());
        }
        // Retry the first connection like any other instead of failing: Redis may start
        // after us (a Kubernetes rollout), and readiness reports the wait.
        config.fail_fast = false;
        // fred names the server only for errors of one connection; the others (a cluster
        // resync, a failed reconnection round) are named by the servers configured.
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
                connection.internal_command_timeout = Self::COMMAND_TIMEOUT;
                connection.tcp.nodelay = Some(true);
            })
            .with_performance_config(|performance| {
                performance.default_command_timeout = Self::COMMAND_TIMEOUT;
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
        let (lookups_tx, lookups_rx) = mpsc::unbounded_channel();
        tokio::spawn(lookups(client.clone(), keys.clone(), lookups_rx));
        Ok(Self {
            client,
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
        Ok(self.client.quit().await?)
    }
}

#[async_trait]
impl Directory for RedisDirectory {
    async fn refresh_node_lease(&self, node: &str, ttl: Duration) -> Result<(), DirectoryError> {
        let ttl = ttl_millis(ttl)?;
        let keys = vec![self.keys.node_lease(node), self.keys.node_index()];
        let args = vec![node.to_owned(), ttl.to_string()];
        let _: i64 = self
            .scripts
            .refresh_lease
            .run(&self.client, keys, args)
            .await?;
        Ok(())
    }

    async fn release_node_lease(&self, node: &str) -> Result<(), DirectoryError> {
        let keys = vec![self.keys.node_lease(node), self.keys.node_index()];
        let _: i64 = self
            .scripts
            .release_lease
            .run(&self.client, keys, vec![node.to_owned()])
            .await?;
        Ok(())
    }

    async fn live_nodes(&self) -> Result<Vec<String>, DirectoryError> {
        let keys = vec![self.keys.node_index()];
        let args = vec![self.keys.node_lease_prefix()];
        Ok(self
            .scripts
            .live_nodes
            .run(&self.client, keys, args)
            .await?)
    }

    async fn is_node_alive(&self, node: &str) -> Result<bool, DirectoryError> {
        let existing: u32 = self.client.exists(self.keys.node_lease(node)).await?;
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
        let _: i64 = self.client.zrem(self.keys.user_nodes(user), node).await?;
        Ok(())
    }

    async fn refresh_node_users(
        &self,
        node: &str,
        users: &[&str],
        ttl: Duration,
    ) -> Result<(), DirectoryError> {
        let ttl = ttl_millis(ttl)?.to_string();
        // Batches go out concurrently; fred pipelines them on the connection.
        let batches = users.chunks(REGISTER_BATCH).map(|batch| {
            let keys = batch
                .iter()
                .map(|user| self.keys.user_nodes(user))
                .collect();
            let args = vec![node.to_owned(), ttl.clone()];
            self.scripts
                .register_users
                .run::<i64>(&self.client, keys, args)
        });
        try_join_all(batches).await?;
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
        let _: String = self.client.ping(None).await?;
        Ok(())
    }
}

/// One caller's lookup, waiting for its round.
struct Lookup {
    users: Vec<String>,
    reply: oneshot::Sender<Result<HashMap<String, Vec<String>>, DirectoryError>>,
}

/// Answers lookups in rounds, one round at a time: a round takes the lookups waiting (up
/// to [`LOOKUPS_PER_ROUND`]) whose callers still listen, asks Redis once for the users of
/// all of them (in concurrent script calls of up to [`LOOKUP_BATCH`] users) and answers
/// each caller with its own users, so a busy node makes few, larger script calls. When a
/// round fails (Redis down: after the command timeout), every lookup waiting by then fails
/// with it rather than queueing behind another timeout. Ends when the directory is dropped.
async fn lookups(client: Client, keys: Keys, mut waiting: mpsc::UnboundedReceiver<Lookup>) {
    let script = LuaScript::new(include_str!("../lua/lookup_users.lua"));
    let prefix = keys.node_lease_prefix();
    let mut round = Vec::new();
    while waiting.recv_many(&mut round, LOOKUPS_PER_ROUND).await > 0 {
        round.retain(|lookup| !lookup.reply.is_closed());
        let answers = answer_round(&client, &keys, &script, &prefix, &round).await;
        let failed = answers
            .iter()
            .find_map(|answer| answer.as_ref().err().cloned());
        for (lookup, answer) in round.drain(..).zip(answers) {
            // A caller that gave up no longer listens.
            let _ = lookup.reply.send(answer);
        }
        if let Some(error) = failed {
            while let Ok(lookup) = waiting.try_recv() {
                let _ = lookup.reply.send(Err(error.clone()));
            }
        }
    }
}

/// Looks up the users of every lookup of `round` at once; the answers are in its order.
async fn answer_round(
    client: &Client,
    keys: &Keys,
    script: &LuaScript,
    prefix: &str,
    round: &[Lookup],
) -> Vec<Result<HashMap<String, Vec<String>>, DirectoryError>> {
    let mut seen = HashSet::new();
    let users: Vec<&str> = round
        .iter()
        .flat_map(|lookup| &lookup.users)
        .map(String::as_str)
        .filter(|user| seen.insert(*user))
        .collect();
    let calls = users.chunks(LOOKUP_BATCH).map(|chunk| {
        let user_keys = chunk.iter().map(|user| keys.user_nodes(user)).collect();
        script.run::<Vec<Vec<String>>>(client, user_keys, vec![prefix.to_owned()])
    });
    let found: HashMap<&str, Vec<String>> = match try_join_all(calls).await {
        Ok(answers) => users
            .iter()
            .copied()
            .zip(answers.into_iter().flatten())
            .collect(),
        Err(error) => {
            let error = DirectoryError::from(error);
            return round.iter().map(|_| Err(error.clone())).collect();
        }
    };
    round
        .iter()
        .map(|lookup| {
            Ok(lookup
                .users
                .iter()
                .filter_map(|user| {
                    let nodes = found.get(user.as_str()).filter(|nodes| !nodes.is_empty())?;
                    Some((user.clone(), nodes.clone()))
                })
                .collect())
        })
        .collect()
}
