//! What the tests start: servers, clients connected to them, and small assertions helpers.

use std::collections::HashMap;
use std::time::Duration;

use anyhow::{Context, Result};
use confab_cluster::{
    Bus, BusMessage, Directory, Keys, LocalBus, LocalDirectory, NatsBus, RedisDirectory,
    Subscription,
};
use confab_testkit::{NatsServer, RedisCluster, RedisServer, eventually};

/// A TTL the test waits out.
pub(crate) const SHORT_TTL: Duration = Duration::from_secs(1);
/// A TTL that does not lapse during a test.
pub(crate) const LONG_TTL: Duration = Duration::from_secs(120);
/// Deadline for anything the tests wait for (TTLs, reconnections, deliveries).
pub(crate) const WITHIN: Duration = Duration::from_secs(20);

/// A `RedisDirectory` on its own fresh `redis-server`, once it answers.
pub(crate) async fn redis_directory() -> Result<(RedisDirectory, RedisServer)> {
    let server = RedisServer::start()?;
    let directory = RedisDirectory::connect(&server.url(), Keys::default()).await?;
    wait_directory_ready(&directory).await?;
    Ok((directory, server))
}

/// A `RedisDirectory` on its own fresh 3-master Redis Cluster, once it answers.
pub(crate) async fn redis_cluster_directory() -> Result<(RedisDirectory, RedisCluster)> {
    let cluster = RedisCluster::start(3)?;
    let directory = RedisDirectory::connect(&cluster.url(), Keys::default()).await?;
    wait_directory_ready(&directory).await?;
    Ok((directory, cluster))
}

/// A `LocalDirectory` (the `()` stands where a server would be kept alive).
pub(crate) async fn local_directory() -> Result<(LocalDirectory, ())> {
    Ok((LocalDirectory::new(), ()))
}

/// Waits until `directory` answers a ping.
pub(crate) async fn wait_directory_ready(directory: &dyn Directory) -> Result<()> {
    eventually("the directory to answer a ping", WITHIN, || async move {
        directory.ping().await.ok()
    })
    .await
}

/// Two `NatsBus` clients (two nodes) on their own fresh `nats-server`, once both answer.
pub(crate) async fn nats_buses() -> Result<((NatsBus, NatsBus), NatsServer)> {
    let server = NatsServer::start()?;
    let first = NatsBus::connect(&server.url(), "test-node-a").await?;
    let second = NatsBus::connect(&server.url(), "test-node-b").await?;
    wait_bus_ready(&first).await?;
    wait_bus_ready(&second).await?;
    Ok(((first, second), server))
}

/// Two handles on one `LocalBus` (two parts of one standalone node).
pub(crate) async fn local_buses() -> Result<((LocalBus, LocalBus), ())> {
    let bus = LocalBus::new();
    Ok(((bus.clone(), bus), ()))
}

/// Waits until `bus` completes a round trip through its server.
pub(crate) async fn wait_bus_ready(bus: &dyn Bus) -> Result<()> {
    eventually("the bus to answer a ping", WITHIN, || async move {
        bus.ping().await.ok()
    })
    .await
}

/// The next message of `subscription`, or an error once [`WITHIN`] has passed.
pub(crate) async fn next_message(subscription: &mut Subscription) -> Result<BusMessage> {
    let subject = subscription.subject().to_owned();
    tokio::time::timeout(WITHIN, subscription.next_message())
        .await
        .with_context(|| format!("no message on {subject} within {WITHIN:?}"))?
        .with_context(|| format!("the subscription to {subject} ended"))
}

/// `found`'s nodes for `user`, sorted (order is unspecified); empty when absent.
pub(crate) fn nodes_of(found: &HashMap<String, Vec<String>>, user: &str) -> Vec<String> {
    let mut nodes = found.get(user).cloned().unwrap_or_default();
    nodes.sort();
    nodes
}

/// `nodes` sorted, for comparisons.
pub(crate) fn sorted(mut nodes: Vec<String>) -> Vec<String> {
    nodes.sort();
    nodes
}
