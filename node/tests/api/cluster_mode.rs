//! A real `confab` process in cluster mode against private Redis and NATS servers: its
//! lease in the directory, its readiness following its dependencies, and leaving cleanly.

use std::time::Duration;

use confab_cluster::{Directory, Keys, RedisDirectory};
use confab_testkit::{NatsServer, NodeProcess, RedisServer, eventually};

use crate::cluster_fixture::wait_ready;
use crate::helpers::TEST_SECRET;

const CONFAB: &str = env!("CARGO_BIN_EXE_confab");
const WITHIN: Duration = Duration::from_secs(20);

async fn lease_is(directory: &RedisDirectory, node: &str, alive: bool) {
    let what = format!("{node} alive={alive}");
    eventually(&what, WITHIN, || async {
        let nodes = directory.live_nodes().await.ok()?;
        (nodes.iter().any(|live| live == node) == alive).then_some(())
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn a_cluster_node_holds_its_lease_and_follows_its_dependencies() {
    let mut redis = RedisServer::start().unwrap();
    let mut nats = NatsServer::start().unwrap();
    let env = [
        ("CONFAB_REDIS_URL", redis.url()),
        ("CONFAB_NATS_URL", nats.url()),
        ("CONFAB_JWT_SECRET", TEST_SECRET.to_owned()),
        ("CONFAB_NODE_ID", "node-a".to_owned()),
        ("CONFAB_NODE_LEASE_TTL_SECS", "3".to_owned()),
    ];
    let mut node = NodeProcess::start(CONFAB, &env).await.unwrap();
    let base = node.base_url();
    let directory = RedisDirectory::connect(&redis.url(), Keys::default())
        .await
        .unwrap();
    lease_is(&directory, "node-a", true).await;
    wait_ready(&base, &[]).await;

    // A shared dependency down degrades the node, which stays ready and says so.
    redis.kill();
    wait_ready(&base, &["redis"]).await;
    redis.restart().unwrap();
    wait_ready(&base, &[]).await;
    // Redis came back empty; the heartbeat puts the lease back.
    lease_is(&directory, "node-a", true).await;

    nats.kill();
    wait_ready(&base, &["nats"]).await;
    nats.restart().unwrap();
    wait_ready(&base, &[]).await;

    node.signal("TERM").unwrap();
    let status = node.wait_exit(WITHIN).await.unwrap();
    assert!(status.success(), "{}", node.logs());
    // Released at once on the way out, not left to expire.
    assert!(!directory.is_node_alive("node-a").await.unwrap());
}
