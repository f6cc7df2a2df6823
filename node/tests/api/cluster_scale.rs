//! Confab on distributed engines: three real `confab` nodes on a 3-master Redis Cluster
//! (the directory, spread over the masters) and a 3-server NATS cluster, each node on a
//! different NATS server: direct and group messages cross nodes, presence is seen across
//! them, and a polling session is served through any node. (That the directory's entries spread over the masters is tested in the
//! `cluster` crate, with enough users to tell.)
//!
//! Faults under load (the load and its ledger of [`crate::cluster_faults::load`]): each
//! NATS server killed in turn, a Redis master lost with no replica, and one replaced by
//! its replica. Nothing acknowledged may be lost, and the nodes stay ready.

use std::time::{Duration, Instant};

use confab_cluster::Keys;
use confab_testkit::{Backend, NatsCluster, NodeProcess, RedisCluster, TestDb};
use serde_json::json;

use crate::cluster_delivery::{create_group, to_group};
use crate::cluster_faults::load::Load;
use crate::cluster_faults::{PAIRS, STEP};
use crate::cluster_fixture::{
    WITHIN, connect, direct, node_env, register, start_nodes, wait_presence, wait_ready,
};
use crate::helpers::client;

/// How long a group message may take to reach a member live.
const GROUP_WAIT: Duration = Duration::from_secs(2);

/// Three nodes on a 3-master Redis Cluster and a 3-server NATS cluster, node `n` on NATS
/// server `n` (dropped in this order: the nodes before the servers they use).
struct Scale {
    nodes: Vec<NodeProcess>,
    nats: NatsCluster,
    redis: RedisCluster,
    _db: TestDb,
}

impl Scale {
    /// With `replicas` replicas of each Redis master.
    async fn start(replicas: usize) -> Self {
        let db = TestDb::create(Backend::Postgres).await.unwrap();
        let redis = RedisCluster::start_with_replicas(3, replicas).unwrap();
        let nats = NatsCluster::start(3).unwrap();
        let nodes = start_nodes(3, |n| node_env(n, &db, &redis.url(), &nats.url(n))).await;
        Self {
            nodes,
            nats,
            redis,
            _db: db,
        }
    }
}

#[tokio::test]
async fn three_nodes_on_a_redis_cluster_and_a_nats_cluster_deliver_across_nodes() {
    let scale = Scale::start(0).await;
    let nodes = &scale.nodes;
    let (ann, bob, cid) = (
        register(&nodes[0], "ann").await,
        register(&nodes[1], "bob").await,
        register(&nodes[2], "cid").await,
    );
    let mut ann_socket = connect(&nodes[0], &ann).await;
    let mut bob_socket = connect(&nodes[1], &bob).await;
    let mut cid_socket = connect(&nodes[2], &cid).await;
    // Online as the directory says, asked on another node than each user's.
    wait_presence(&nodes[2], &cid, &[(&ann, true), (&bob, true)], WITHIN).await;

    // Direct, node 0 to node 2.
    let sent = ann_socket
        .request("message:send", direct(&cid, "hi cid", "d1"))
        .await
        .unwrap();
    assert_eq!(sent["ok"], true, "{sent}");
    assert_eq!(
        cid_socket.next("message:new").await.unwrap(),
        sent["message"]
    );

    // A group of the three, from node 1: reaches nodes 0 and 2.
    for friend in [&ann, &cid] {
        confab_testkit::befriend(&nodes[1].base_url(), &bob, friend)
            .await
            .unwrap();
    }
    let group = create_group(&nodes[1], &bob, &[&ann, &cid]).await;
    // The change reached nodes 0 and 2...
    ann_socket.next("group:updated").await.unwrap();
    cid_socket.next("group:updated").await.unwrap();
    // ...but the group's subscription may still be spreading over the NATS cluster (a
    // message published meanwhile is lost live, and `sync` repairs it): send until one
    // reaches both members live.
    let started = Instant::now();
    for attempt in 0.. {
        assert!(
            started.elapsed() < WITHIN,
            "no group message reached both live"
        );
        let body = format!("hello all {attempt}");
        let sent = bob_socket
            .request("message:send", to_group(&group, &body, &body))
            .await
            .unwrap();
        assert_eq!(sent["ok"], true, "{sent}");
        let mut reached = 0;
        for socket in [&mut ann_socket, &mut cid_socket] {
            // Earlier attempts that arrived late come first.
            while let Ok(Ok(got)) =
                tokio::time::timeout(GROUP_WAIT, socket.next("message:new")).await
            {
                if got == sent["message"] {
                    reached += 1;
                    break;
                }
            }
        }
        if reached == 2 {
            break;
        }
    }
}

/// A polling session opened on node 0 is served from nodes 1 and 2 too: its requests
/// are forwarded over the NATS cluster to node 0, which holds it.
#[tokio::test]
async fn a_polling_session_is_served_through_any_node() {
    let scale = Scale::start(0).await;
    let user = register(&scale.nodes[0], "poller").await;
    let polling = |node: usize, sid: Option<&str>| {
        let mut url = format!(
            "{}/socket.io/?EIO=4&transport=polling",
            scale.nodes[node].base_url()
        );
        if let Some(sid) = sid {
            url.push_str(&format!("&sid={sid}"));
        }
        url
    };
    let open = client().get(polling(0, None)).send().await.unwrap();
    let open = open.text().await.unwrap();
    let handshake: serde_json::Value = serde_json::from_str(&open[1..]).unwrap();
    let sid = handshake["sid"].as_str().unwrap();

    // The Socket.IO CONNECT goes in through node 1...
    let connect = format!("40{}", json!({"token": user.token}));
    let posted = client()
        .post(polling(1, Some(sid)))
        .body(connect)
        .send()
        .await
        .unwrap();
    assert_eq!(posted.text().await.unwrap(), "ok");
    // ...and its answer comes out through node 2.
    let answer = client().get(polling(2, Some(sid))).send().await.unwrap();
    let answer = answer.text().await.unwrap();
    assert!(answer.starts_with("40{\"sid\":"), "{answer}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_nats_server_killed_in_turn_under_load_loses_nothing() {
    let mut scale = Scale::start(0).await;
    let load = Load::start(&scale.nodes, PAIRS).await;
    load.wait_progress(STEP).await;
    for server in 0..3 {
        let killed_at = Instant::now();
        scale.nats.kill(server);
        // The node on it moves to another server of the cluster by itself.
        let live_after = load.wait_live_after(killed_at).await - killed_at;
        eprintln!("nats server {server} killed: every receiver live again after {live_after:?}");
        scale.nats.restart(server).unwrap();
        load.wait_progress(STEP).await;
    }
    let report = load.finish().await;
    report.assert_nothing_lost("nats servers killed in turn", &scale.nodes);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_master_lost_with_no_replica_leaves_the_nodes_ready_and_loses_nothing() {
    let mut scale = Scale::start(0).await;
    let load = Load::start(&scale.nodes, PAIRS).await;
    load.wait_progress(STEP).await;
    // A master holding none of the node leases: only users' entries are lost.
    let leases = scale.redis.serving(&Keys::default().node_index()).unwrap();
    scale.redis.kill((leases + 1) % 3);
    // Messages are still persisted and acknowledged, and no node leaves its Service.
    load.wait_progress(STEP).await;
    for node in &scale.nodes {
        wait_ready(&node.base_url(), &["redis"]).await;
    }
    load.wait_progress(STEP).await;
    let report = load.finish().await;
    report.assert_nothing_lost("a redis master lost", &scale.nodes);
    // The lost shard holds about a third of the users: the rest is delivered live.
    assert!(
        report.live * 2 > report.acked,
        "live {} of {} acked",
        report.live,
        report.acked
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_master_replaced_by_its_replica_serves_its_users_again() {
    let mut scale = Scale::start(1).await;
    let asker = register(&scale.nodes[2], "asker").await;
    // A user whose directory entry is on a master with no lease on it.
    let leases = scale.redis.serving(&Keys::default().node_index()).unwrap();
    let mut moved = None;
    for n in 0..40 {
        let user = register(&scale.nodes[1], &format!("user{n}")).await;
        let master = scale
            .redis
            .serving(&Keys::default().sharded().user_nodes(&user.id))
            .unwrap();
        if master != leases {
            moved = Some((user, master));
            break;
        }
    }
    let (user, master) = moved.expect("a user on a master without the leases");
    let _socket = connect(&scale.nodes[1], &user).await;
    wait_presence(&scale.nodes[2], &asker, &[(&user, true)], WITHIN).await;
    let load = Load::start(&scale.nodes, PAIRS).await;
    load.wait_progress(STEP).await;

    let killed_at = Instant::now();
    scale.redis.kill(master);
    // Its entry cannot be read until the replica takes over...
    wait_presence(&scale.nodes[2], &asker, &[(&user, false)], WITHIN).await;
    // ...then it can, on every node, without the user reconnecting.
    wait_presence(&scale.nodes[2], &asker, &[(&user, true)], WITHIN).await;
    eprintln!(
        "redis master killed: its users found again after {:?}",
        killed_at.elapsed()
    );
    load.wait_progress(STEP).await;
    let report = load.finish().await;
    report.assert_nothing_lost("a redis master replaced", &scale.nodes);
}
