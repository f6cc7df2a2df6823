//! Faults under load, on three real `confab` processes sharing one PostgreSQL database, a
//! private Redis and a private NATS: a node killed, Redis restarted empty, NATS restarted,
//! and a rolling restart of every node. Whatever fails, no acknowledged message may be
//! lost: each receiver ends up holding every message acknowledged to its sender, from live
//! delivery or from `sync` after it reconnected (see [`load`]).
//!
//! Each test prints its counts and timings (`--nocapture` shows them).

pub(crate) mod load;

use std::time::{Duration, Instant};

use self::load::Load;
use crate::cluster_fixture::{Cluster, WITHIN, connect, register, wait_presence, wait_ready};

/// Sender/receiver pairs: two senders and two receivers per node.
pub(crate) const PAIRS: usize = 6;
/// Acks per pair between two steps of a test: the load keeps going through each step.
pub(crate) const STEP: usize = 5;
/// The node lease TTL the SIGKILL test runs with (the fixture's default).
const LEASE_TTL: Duration = Duration::from_secs(3);
/// Beyond the lease TTL, for the heartbeat's last refresh and the query itself.
const PRESENCE_SLACK: Duration = Duration::from_secs(2);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_nodes_users_go_offline_and_its_clients_resync_elsewhere_losing_nothing() {
    let mut cluster = Cluster::start(3).await;
    let (gone, stays, asker) = (
        register(&cluster.nodes[0], "gone").await,
        register(&cluster.nodes[0], "stays").await,
        register(&cluster.nodes[0], "asker").await,
    );
    // Two idle users that never reconnect: one on the node that dies, one on another.
    let _gone = connect(&cluster.nodes[0], &gone).await;
    let _stays = connect(&cluster.nodes[1], &stays).await;
    wait_presence(
        &cluster.nodes[2],
        &asker,
        &[(&gone, true), (&stays, true)],
        WITHIN,
    )
    .await;
    let load = Load::start(&cluster.nodes, PAIRS).await;
    load.wait_progress(STEP).await;

    let displaced = load.users_on(0);
    let killed_at = Instant::now();
    cluster.nodes[0].kill();
    wait_presence(
        &cluster.nodes[2],
        &asker,
        &[(&gone, false), (&stays, true)],
        LEASE_TTL + PRESENCE_SLACK,
    )
    .await;
    let offline_after = killed_at.elapsed();
    let recovered_after = load.wait_reconnected(&displaced).await - killed_at;
    load.wait_progress(STEP).await;
    let report = load.finish().await;

    eprintln!(
        "sigkill: {} users displaced; SIGKILL -> its users offline {offline_after:?}, -> all \
         its clients reconnected and synced {recovered_after:?}",
        displaced.len()
    );
    report.assert_nothing_lost("sigkill", &cluster.nodes);
    assert_eq!(displaced.len(), 4, "two senders and two receivers per node");
}

/// The dependency a test kills and restarts.
#[derive(Debug, Clone, Copy)]
enum Dependency {
    Redis,
    Nats,
}

/// Kills `dependency` under load, keeps sending while it is down, restarts it (Redis comes
/// back empty) and checks that live delivery resumes by itself on the same connections.
async fn dependency_restarts_under_load(dependency: Dependency) {
    let mut cluster = Cluster::start(3).await;
    let load = Load::start(&cluster.nodes, PAIRS).await;
    load.wait_progress(STEP).await;

    let killed_at = Instant::now();
    let degraded = match dependency {
        Dependency::Redis => {
            cluster.redis.kill();
            "redis"
        }
        Dependency::Nats => {
            cluster.nats.kill();
            "nats"
        }
    };
    // Every node noticed and stays ready (the dependency is shared: unready, the whole
    // fleet would leave its Service), and they keep acknowledging messages while it is down.
    for node in &cluster.nodes {
        wait_ready(&node.base_url(), &[degraded]).await;
    }
    load.wait_progress(STEP).await;
    let restarted_at = Instant::now();
    match dependency {
        Dependency::Redis => cluster.redis.restart().unwrap(),
        Dependency::Nats => cluster.nats.restart().unwrap(),
    }
    let resumed_at = load.wait_live_after(restarted_at).await;
    load.wait_progress(STEP).await;
    // From then on, everything arrives live.
    load.wait_all_live_after(resumed_at).await;
    for node in &cluster.nodes {
        wait_ready(&node.base_url(), &[]).await;
    }
    let reconnects = load.reconnects();
    let report = load.finish().await;

    let name = format!("{dependency:?}").to_lowercase();
    eprintln!(
        "{name}: down {:?}; restart -> live delivery to every receiver {:?}",
        restarted_at - killed_at,
        resumed_at - restarted_at
    );
    report.assert_nothing_lost(&name, &cluster.nodes);
    assert_eq!(
        reconnects,
        (0, 0),
        "(all users, receivers) reconnected: the nodes kept their connections"
    );
    for (n, node) in cluster.nodes.iter_mut().enumerate() {
        assert!(node.is_running(), "node-{n} exited:\n{}", node.logs());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_restarted_empty_under_load_loses_nothing_and_delivery_resumes() {
    dependency_restarts_under_load(Dependency::Redis).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nats_restarted_under_load_loses_nothing_and_delivery_resumes() {
    dependency_restarts_under_load(Dependency::Nats).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rolling_restart_under_load_loses_nothing_and_every_client_comes_back() {
    let mut cluster = Cluster::start_with(
        3,
        &[
            ("CONFAB_DRAIN_WINDOW_SECS", "1"),
            ("CONFAB_DRAIN_DEADLINE_SECS", "5"),
        ],
    )
    .await;
    let load = Load::start(&cluster.nodes, PAIRS).await;
    load.wait_progress(STEP).await;

    let mut drains = Vec::new();
    for node in &mut cluster.nodes {
        let stopping = Instant::now();
        node.signal("TERM").unwrap();
        let status = node.wait_exit(WITHIN).await.unwrap();
        assert!(status.success(), "{status}:\n{}", node.logs());
        drains.push(stopping.elapsed());
        node.restart().await.unwrap();
        // As an orchestrator does, the next node goes once this one is ready.
        wait_ready(&node.base_url(), &[]).await;
        load.wait_progress(STEP).await;
    }
    let report = load.finish().await;

    eprintln!("rolling restart: SIGTERM -> exit per node {drains:?}");
    report.assert_nothing_lost("rolling restart", &cluster.nodes);
    assert!(
        report.all_reconnected,
        "every user's node was restarted under it"
    );
}
