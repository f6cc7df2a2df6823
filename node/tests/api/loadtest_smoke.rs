//! Smoke runs of every load-generator scenario against real `confab` processes, small and
//! short, for correctness only: every message sent is acked, nothing is lost and nothing
//! is duplicated. One node on SQLite for each scenario; the worker protocol (parts run
//! apart, their histograms and counts merged); and two nodes of a cluster with every
//! direct pair crossing nodes and groups spread over both. Timings are never asserted.

use confab_loadtest::{IdleTransport, Report, RunOptions, Scenario, Setup, Target, Workers, run};
use confab_testkit::NodeProcess;

use crate::cluster_fixture::Cluster;

const CONFAB: &str = env!("CARGO_BIN_EXE_confab");

/// The chat's rate limits, raised out of the way of a load (every user of which registers
/// from one address).
const UNLIMITED: [(&str, &str); 11] = [
    ("CONFAB_MESSAGES_PER_SEC", "100000"),
    ("CONFAB_MESSAGES_BURST", "100000"),
    ("CONFAB_EVENTS_PER_SEC", "100000"),
    ("CONFAB_EVENTS_BURST", "100000"),
    ("CONFAB_USER_EVENTS_PER_SEC", "100000"),
    ("CONFAB_USER_EVENTS_BURST", "100000"),
    ("CONFAB_HTTP_WRITES_PER_SEC", "100000"),
    ("CONFAB_HTTP_WRITES_BURST", "100000"),
    ("CONFAB_AUTH_PER_MINUTE", "100000"),
    ("CONFAB_AUTH_BURST", "100000"),
    ("CONFAB_MAX_SESSIONS_PER_ADDRESS", "100000"),
];

async fn node() -> NodeProcess {
    let env: Vec<(&str, String)> = UNLIMITED
        .iter()
        .map(|(name, value)| (*name, (*value).to_owned()))
        .collect();
    NodeProcess::start(CONFAB, &env).await.unwrap()
}

fn setup(urls: Vec<String>, run: &str) -> Setup {
    Setup {
        urls,
        target: Target::Chat,
        run: run.to_owned(),
        source_addrs: Vec::new(),
        body_bytes: 64,
    }
}

async fn load(setup: &Setup, scenario: Scenario, workers: Workers) -> Report {
    let options = RunOptions {
        label: Some("confab".to_owned()),
        pids: Vec::new(),
        workers,
        quiet: true,
    };
    run(setup, &scenario, &options).await.unwrap()
}

/// Every message sent was acked and reached every connection it should have, once.
fn assert_complete(report: &Report) {
    let what = serde_json::to_string_pretty(report).unwrap();
    let sent = report.sent.unwrap();
    assert!(sent > 0, "nothing was sent: {what}");
    assert_eq!(report.acked, Some(sent), "{what}");
    let expected = report.expected_deliveries.unwrap();
    assert!(expected > 0, "{what}");
    assert_eq!(report.lost, Some(0), "{what}");
    assert_eq!(report.duplicated, Some(0), "{what}");
    let delivered = report.delivered.unwrap();
    assert!(delivered >= expected, "{what}");
    assert_eq!(
        report.deliver_latency_us.unwrap().count,
        delivered,
        "{what}"
    );
    assert!(!report.timeline.is_empty(), "{what}");
}

#[tokio::test]
async fn every_scenario_on_one_node_loses_and_duplicates_nothing() {
    let node = node().await;
    let setup = setup(vec![node.base_url()], "one");
    let one = || Workers::InProcess(1);

    let idle = load(
        &setup,
        Scenario::Idle {
            connections: 20,
            hold: 1,
            transport: IdleTransport::Websocket,
        },
        one(),
    )
    .await;
    assert_eq!((idle.connections, idle.connect_failures), (20, 0));
    assert_eq!(idle.sent, None, "message counts do not apply to idle");
    let polling = Scenario::Idle {
        connections: 20,
        hold: 1,
        transport: IdleTransport::Polling,
    };
    let polling = load(&setup, polling, one()).await;
    assert_eq!((polling.connections, polling.connect_failures), (20, 0));
    let storm = Scenario::Connect {
        connections: 30,
        concurrency: 10,
    };
    let storm = load(&setup, storm, one()).await;
    assert_eq!(storm.connections, 30);
    assert_eq!(storm.connect_latency_us.unwrap().count, 30);
    assert!(storm.connects_per_s.unwrap() > 0.0);

    let as_fast_as_acks_allow = Scenario::Direct {
        pairs: 4,
        seconds: 2,
        rate: None,
        cross_share: None,
        in_flight: 2,
    };
    assert_complete(&load(&setup, as_fast_as_acks_allow, one()).await);
    let fixed_rate = Scenario::Direct {
        pairs: 4,
        seconds: 2,
        rate: Some(40.0),
        cross_share: None,
        in_flight: 1,
    };
    let fixed = load(&setup, fixed_rate, one()).await;
    assert_complete(&fixed);
    assert_eq!(fixed.sent, Some(80), "the offered rate is kept");
    let fanout = Scenario::Fanout {
        groups: 2,
        members: 8,
        senders: 2,
        rate: 5.0,
        seconds: 2,
    };
    let fanout = load(&setup, fanout, one()).await;
    assert_complete(&fanout);
    assert_eq!(
        fanout.expected_deliveries,
        fanout.acked.map(|acked| acked * 7)
    );
    let mixed = Scenario::Mixed {
        users: 6,
        seconds: 2,
        rate: 4.0,
    };
    let mixed = load(&setup, mixed, one()).await;
    assert_complete(&mixed);
    for event in [
        "typing_received",
        "receipts_received",
        "presence_queries_acked",
    ] {
        assert!(
            mixed.extra.get(event).is_some_and(|&count| count > 0),
            "{event}: {mixed:?}"
        );
    }
}

#[tokio::test]
async fn a_run_split_over_workers_merges_their_counts_and_histograms() {
    let node = node().await;
    let setup = setup(vec![node.base_url()], "split");
    let fanout = Scenario::Fanout {
        groups: 2,
        members: 5,
        senders: 1,
        rate: 10.0,
        seconds: 2,
    };
    let report = load(&setup, fanout, Workers::InProcess(2)).await;
    assert_complete(&report);
    assert_eq!(report.workers, 2);
    assert_eq!(report.connections, 10);
    // Each part sent its own group's 20 messages; both parts' acks are in the histogram.
    assert_eq!(report.sent, Some(40));
    assert_eq!(report.ack_latency_us.unwrap().count, 40);
    assert_eq!(report.expected_deliveries, Some(40 * 4));
    let seconds: u64 = report.timeline.iter().map(|point| point.acked).sum();
    assert_eq!(seconds, 40);
}

#[tokio::test]
async fn direct_pairs_across_two_nodes_and_groups_over_both_lose_nothing() {
    let cluster = Cluster::start_with(2, &UNLIMITED).await;
    let setup = setup(cluster.urls(), "two");
    let crossing = Scenario::Direct {
        pairs: 4,
        seconds: 2,
        rate: Some(40.0),
        cross_share: Some(1.0),
        in_flight: 1,
    };
    let direct = load(&setup, crossing, Workers::InProcess(1)).await;
    assert_complete(&direct);
    let fanout = Scenario::Fanout {
        groups: 1,
        members: 6,
        senders: 2,
        rate: 5.0,
        seconds: 2,
    };
    let fanout = load(&setup, fanout, Workers::InProcess(1)).await;
    assert_complete(&fanout);
    assert_eq!(
        fanout.expected_deliveries,
        fanout.acked.map(|acked| acked * 5),
        "{}",
        cluster.logs()
    );
}
