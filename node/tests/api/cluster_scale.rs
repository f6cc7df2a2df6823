//! Confab on distributed engines: three real `confab` nodes on a 3-master Redis Cluster
//! (the directory, spread over the masters) and a 3-server NATS cluster, each node on a
//! different NATS server: direct and group messages cross nodes, and presence is seen
//! across them. (That the directory's entries spread over the masters is tested in the
//! `cluster` crate, with enough users to tell.)

use crate::cluster_delivery::{create_group, to_group};
use crate::cluster_fixture::{CONFAB, WITHIN, connect, direct, node_env, register, wait_presence};
use confab_testkit::{Backend, NatsCluster, NodeProcess, RedisCluster, TestDb};

#[tokio::test]
async fn three_nodes_on_a_redis_cluster_and_a_nats_cluster_deliver_across_nodes() {
    let db = TestDb::create(Backend::Postgres).await.unwrap();
    let redis = RedisCluster::start(3).unwrap();
    let nats = NatsCluster::start(3).unwrap();
    let mut nodes: Vec<NodeProcess> = Vec::new();
    // One at a time: the first applies the migrations.
    for n in 0..3 {
        let env = node_env(n, &db, &redis.url(), &nats.url(n));
        nodes.push(NodeProcess::start(CONFAB, &env).await.unwrap());
    }
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
    // The change reached nodes 0 and 2 (they route the group to ann and cid from then on).
    ann_socket.next("group:updated").await.unwrap();
    cid_socket.next("group:updated").await.unwrap();
    let sent = bob_socket
        .request("message:send", to_group(&group, "hello all", "g1"))
        .await
        .unwrap();
    assert_eq!(sent["ok"], true, "{sent}");
    for socket in [&mut ann_socket, &mut cid_socket] {
        assert_eq!(socket.next("message:new").await.unwrap(), sent["message"]);
    }
}
