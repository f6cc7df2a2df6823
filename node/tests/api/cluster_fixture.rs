//! A cluster of real `confab` processes for the cluster suites: N nodes on one fresh
//! PostgreSQL database, with a private Redis (the directory) and NATS (the bus), and the
//! users and connections the tests drive them with.

use std::time::Duration;

use confab_testkit::{
    Backend, NatsServer, NodeProcess, RedisServer, SioClient, TestDb, eventually,
};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TEST_SECRET, client};

const CONFAB: &str = env!("CARGO_BIN_EXE_confab");
/// How long a cluster test waits for something that must happen.
pub(crate) const WITHIN: Duration = Duration::from_secs(20);
/// The node lease TTL unless a test sets another.
const LEASE_TTL_SECS: &str = "3";

/// Nodes sharing a database, a directory and a bus (dropped in this order: the nodes
/// before the servers they use).
pub(crate) struct Cluster {
    /// `node-0`, `node-1`, …, in the order they were started.
    pub(crate) nodes: Vec<NodeProcess>,
    pub(crate) nats: NatsServer,
    pub(crate) redis: RedisServer,
    _db: TestDb,
}

impl Cluster {
    /// `count` nodes with the default test settings.
    pub(crate) async fn start(count: usize) -> Self {
        Self::start_with(count, &[]).await
    }

    /// `count` nodes, each with `settings` on top of the test defaults (a lease TTL of
    /// 3 s).
    pub(crate) async fn start_with(count: usize, settings: &[(&str, &str)]) -> Self {
        let db = TestDb::create(Backend::Postgres).await.unwrap();
        let redis = RedisServer::start().unwrap();
        let nats = NatsServer::start().unwrap();
        let nodes = start_nodes(count, |n| {
            let mut env = node_env(n, &db, &redis.url(), &nats.url());
            env.extend(
                settings
                    .iter()
                    .map(|(name, value)| (*name, (*value).to_owned())),
            );
            env
        })
        .await;
        Self {
            nodes,
            nats,
            redis,
            _db: db,
        }
    }

    /// Every node's base URL, by index.
    pub(crate) fn urls(&self) -> Vec<String> {
        self.nodes.iter().map(NodeProcess::base_url).collect()
    }

    /// Every node's log, for failure messages.
    pub(crate) fn logs(&self) -> String {
        logs_of(&self.nodes)
    }
}

/// Every node's log, for failure messages.
pub(crate) fn logs_of(nodes: &[NodeProcess]) -> String {
    nodes
        .iter()
        .enumerate()
        .map(|(n, node)| format!("node-{n}:\n{}\n", node.logs()))
        .collect()
}

/// `count` nodes, node `n` with the settings `env_of(n)`, started one at a time: the
/// first applies the migrations.
pub(crate) async fn start_nodes<'a>(
    count: usize,
    env_of: impl Fn(usize) -> Vec<(&'a str, String)>,
) -> Vec<NodeProcess> {
    let mut nodes = Vec::with_capacity(count);
    for n in 0..count {
        nodes.push(NodeProcess::start(CONFAB, &env_of(n)).await.unwrap());
    }
    nodes
}

/// The settings of node `n` (`node-<n>`) on `db`, the directory at `redis_url` and the
/// bus at `nats_url`, with the test defaults (a lease TTL of 3 s).
pub(crate) fn node_env(
    n: usize,
    db: &TestDb,
    redis_url: &str,
    nats_url: &str,
) -> Vec<(&'static str, String)> {
    vec![
        ("CONFAB_DATABASE_URL", db.url().to_owned()),
        ("CONFAB_REDIS_URL", redis_url.to_owned()),
        ("CONFAB_NATS_URL", nats_url.to_owned()),
        ("CONFAB_JWT_SECRET", TEST_SECRET.to_owned()),
        ("CONFAB_NODE_ID", format!("node-{n}")),
        ("CONFAB_NODE_LEASE_TTL_SECS", LEASE_TTL_SECS.to_owned()),
    ]
}

/// A registered user.
pub(crate) type User = confab_testkit::Registered;

/// Registers `name` through `node`.
pub(crate) async fn register(node: &NodeProcess, name: &str) -> User {
    confab_testkit::register(&node.base_url(), name)
        .await
        .unwrap()
}

/// A Socket.IO connection of `user` to `node`.
pub(crate) async fn connect(node: &NodeProcess, user: &User) -> SioClient {
    SioClient::with_token(&node.base_url(), &user.token)
        .await
        .unwrap()
}

/// Waits until `asker`, connected to `node`, sees each of `users` as `online` says (from
/// the directory, whichever node they are on). Each poll asks over a new connection of its
/// own.
pub(crate) async fn wait_presence(
    node: &NodeProcess,
    asker: &User,
    users: &[(&User, bool)],
    within: Duration,
) {
    let ids: Vec<String> = users.iter().map(|(user, _)| user.id.clone()).collect();
    let wanted: Vec<bool> = users.iter().map(|(_, online)| *online).collect();
    let (base, token) = (node.base_url(), asker.token.clone());
    let what = format!("{ids:?} to be online={wanted:?}");
    eventually(&what, within, || {
        let (base, token, ids) = (base.clone(), token.clone(), ids.clone());
        let wanted = wanted.clone();
        async move {
            let mut client = SioClient::with_token(&base, &token).await.ok()?;
            let answer = client
                .request("presence:query", json!({"users": ids}))
                .await
                .ok()?;
            client.close();
            let online: Vec<bool> = answer["presence"]
                .as_array()?
                .iter()
                .map(|one| one["online"] == true)
                .collect();
            (online == wanted).then_some(())
        }
    })
    .await
    .unwrap();
}

/// A `message:send` payload for a direct message.
pub(crate) fn direct(to: &User, body: &str, client_msg_id: &str) -> Value {
    json!({"to": {"user": to.id}, "body": body, "client_msg_id": client_msg_id})
}

/// Waits until the node at `base_url` answers `/readyz` with 200 and reports exactly
/// the dependencies `degraded` (`redis`, `nats`) as down.
pub(crate) async fn wait_ready(base_url: &str, degraded: &[&str]) {
    let client = client();
    let url = format!("{base_url}/readyz");
    let what = format!("readyz to answer ready with {degraded:?} degraded");
    eventually(&what, WITHIN, || {
        let request = client.get(&url).send();
        async move {
            let reply = request.await.ok()?;
            if reply.status() != StatusCode::OK {
                return None;
            }
            let body: Value = reply.json().await.ok()?;
            let down: Vec<&str> = body["degraded"]
                .as_array()?
                .iter()
                .filter_map(|entry| entry["dependency"].as_str())
                .collect();
            (down == degraded).then_some(())
        }
    })
    .await
    .unwrap();
}
