//! Delivery across nodes: two real `confab` processes on one PostgreSQL database, with a
//! private Redis (the directory) and NATS (the bus). Direct messages reach the recipient
//! and the sender's other devices on the other node, group messages reach members on both
//! nodes (also one added while connected), presence, typing and receipts cross over, and
//! the directory refills itself after Redis restarted empty.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::cluster_fixture::{Cluster, User, WITHIN, connect, direct, register, wait_presence};
use crate::helpers::{client, direct_conversation};
use confab_testkit::{NodeProcess, SioClient};

/// Pauses the cluster's Redis for `millis` ms: `scope` `ALL` or `WRITE` commands wait.
fn pause_redis(cluster: &Cluster, millis: u32, scope: &str) {
    let paused = std::process::Command::new("redis-cli")
        .args(["-p", &cluster.redis.port().to_string(), "CLIENT", "PAUSE"])
        .args([&millis.to_string(), scope])
        .output()
        .unwrap();
    assert!(paused.status.success(), "{paused:?}");
}

/// `sender` sends `message`, which is acked and reaches `receiver` live.
async fn sent_and_received(
    cluster: &Cluster,
    sender: &mut SioClient,
    message: Value,
    receiver: &mut SioClient,
) {
    let sent = sender.request("message:send", message).await.unwrap();
    assert_eq!(sent["ok"], true, "{sent}");
    assert_eq!(
        receiver.next("message:new").await.unwrap(),
        sent["message"],
        "{}",
        cluster.logs()
    );
}

pub(crate) fn to_group(group: &str, body: &str, client_msg_id: &str) -> Value {
    json!({"to": {"group": group}, "body": body, "client_msg_id": client_msg_id})
}

pub(crate) async fn create_group(node: &NodeProcess, owner: &User, members: &[&User]) -> String {
    let members: Vec<&str> = members.iter().map(|user| user.id.as_str()).collect();
    let reply = client()
        .post(format!("{}/api/v1/groups", node.base_url()))
        .bearer_auth(&owner.token)
        .json(&json!({"name": "across", "members": members}))
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), StatusCode::CREATED);
    let body: Value = reply.json().await.unwrap();
    body["group"]["id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_direct_message_crosses_to_the_recipient_and_the_senders_other_device() {
    let cluster = Cluster::start(2).await;
    let (a, b) = (&cluster.nodes[0], &cluster.nodes[1]);
    let (alice, bob) = (register(a, "alice").await, register(a, "bob").await);
    let mut phone = connect(a, &alice).await;
    let mut laptop = connect(b, &alice).await;
    let mut bobs = connect(b, &bob).await;
    // A sync answers once the directory has its connection's user on its node.
    for client in [&mut phone, &mut laptop, &mut bobs] {
        let synced = client
            .request("sync", json!({"cursors": {}}))
            .await
            .unwrap();
        assert_eq!(synced["ok"], true, "{synced}");
    }

    let ack = phone
        .request("message:send", direct(&bob, "hi from a", "m-1"))
        .await
        .unwrap();
    assert_eq!(ack["ok"], true, "{ack}");
    let message = &ack["message"];
    assert_eq!(
        &bobs.next("message:new").await.unwrap(),
        message,
        "{}",
        cluster.logs()
    );
    assert_eq!(&laptop.next("message:new").await.unwrap(), message);

    // And back: bob on node B answers alice, who is on both nodes.
    let reply = bobs
        .request("message:send", direct(&alice, "hi from b", "m-2"))
        .await
        .unwrap();
    assert_eq!(&phone.next("message:new").await.unwrap(), &reply["message"]);
    assert_eq!(
        &laptop.next("message:new").await.unwrap(),
        &reply["message"]
    );
    // Each device got each message once.
    phone
        .request("presence:query", json!({"users": []}))
        .await
        .unwrap();
    assert!(phone.received("message:new").is_empty());
}

#[tokio::test]
async fn group_messages_reach_members_on_both_nodes_including_one_added_while_connected() {
    let cluster = Cluster::start(2).await;
    let (a, b) = (&cluster.nodes[0], &cluster.nodes[1]);
    let (alice, bob, carol, dave) = (
        register(a, "alice").await,
        register(a, "bob").await,
        register(a, "carol").await,
        register(a, "dave").await,
    );
    let mut alices = connect(a, &alice).await;
    let mut carols = connect(a, &carol).await;
    let mut bobs = connect(b, &bob).await;
    let mut daves = connect(b, &dave).await;
    wait_presence(a, &alice, &[(&bob, true), (&dave, true)], WITHIN).await;
    for friend in [&bob, &carol, &dave] {
        confab_testkit::befriend(&a.base_url(), &alice, friend)
            .await
            .unwrap();
    }

    let group = create_group(a, &alice, &[&bob, &carol]).await;
    // The change reached node B (it routes the group to bob from then on).
    bobs.next("group:updated").await.unwrap();
    carols.next("group:updated").await.unwrap();
    let sent = alices
        .request("message:send", to_group(&group, "hello all", "g-1"))
        .await
        .unwrap();
    assert_eq!(sent["ok"], true, "{sent}");
    assert_eq!(
        &bobs.next("message:new").await.unwrap(),
        &sent["message"],
        "{}",
        cluster.logs()
    );
    assert_eq!(&carols.next("message:new").await.unwrap(), &sent["message"]);

    // Dave, connected to node B, is added over HTTP on node A.
    let added = client()
        .post(format!("{}/api/v1/groups/{group}/members", a.base_url()))
        .bearer_auth(&alice.token)
        .json(&json!({"user_id": dave.id}))
        .send()
        .await
        .unwrap();
    assert!(
        added.status().is_success(),
        "{}",
        added.text().await.unwrap()
    );
    daves.next("group:updated").await.unwrap();
    let next = bobs
        .request("message:send", to_group(&group, "welcome dave", "g-2"))
        .await
        .unwrap();
    assert_eq!(next["ok"], true, "{next}");
    assert_eq!(
        &daves.next("message:new").await.unwrap(),
        &next["message"],
        "{}",
        cluster.logs()
    );
    assert_eq!(&alices.next("message:new").await.unwrap(), &next["message"]);
    assert_eq!(&carols.next("message:new").await.unwrap(), &next["message"]);
    // Dave never saw the message sent before he joined.
    assert_eq!(daves.received("message:new"), Vec::<Value>::new());
}

#[tokio::test]
async fn presence_typing_and_receipts_work_across_nodes() {
    let cluster = Cluster::start(2).await;
    let (a, b) = (&cluster.nodes[0], &cluster.nodes[1]);
    let (alice, bob) = (register(a, "alice").await, register(a, "bob").await);
    let mut alices = connect(a, &alice).await;
    let mut bobs = connect(b, &bob).await;
    // Bob is connected to node B only; node A answers from the directory.
    wait_presence(a, &alice, &[(&bob, true)], WITHIN).await;

    let sent = alices
        .request("message:send", direct(&bob, "hi", "p-1"))
        .await
        .unwrap();
    let conversation = sent["message"]["conversation"].as_str().unwrap().to_owned();
    bobs.next("message:new").await.unwrap();

    bobs.request(
        "typing",
        json!({"conversation": conversation, "typing": true}),
    )
    .await
    .unwrap();
    assert_eq!(
        alices.next("typing").await.unwrap(),
        json!({"conversation": conversation, "user": bob.id, "typing": true}),
        "{}",
        cluster.logs()
    );
    let read = bobs
        .request("read", json!({"conversation": conversation, "seq": 1}))
        .await
        .unwrap();
    assert_eq!(read["ok"], true, "{read}");
    assert_eq!(
        alices.next("receipt").await.unwrap(),
        json!({"conversation": conversation, "user": bob.id, "seq": 1})
    );

    // Bob leaves node B: node A sees him offline once the directory forgot him.
    bobs.close();
    wait_presence(a, &alice, &[(&bob, false)], WITHIN).await;
}

#[tokio::test]
async fn after_redis_restarts_empty_the_heartbeat_refills_the_directory_and_delivery_resumes() {
    let mut cluster = Cluster::start(2).await;
    let (a, b) = (&cluster.nodes[0], &cluster.nodes[1]);
    let (alice, bob) = (register(a, "alice").await, register(a, "bob").await);
    let mut alices = connect(a, &alice).await;
    let mut bobs = connect(b, &bob).await;
    wait_presence(a, &alice, &[(&bob, true)], WITHIN).await;

    cluster.redis.kill();
    cluster.redis.restart().unwrap();
    // Nobody reconnected: node B's heartbeat registers bob again by itself.
    wait_presence(a, &alice, &[(&bob, true)], WITHIN).await;
    let sent = alices
        .request("message:send", direct(&bob, "still there?", "h-1"))
        .await
        .unwrap();
    assert_eq!(sent["ok"], true, "{sent}");
    assert_eq!(
        &bobs.next("message:new").await.unwrap(),
        &sent["message"],
        "{}",
        cluster.logs()
    );
}

/// A member removed while Redis is paused: the removal's forward to the member's node
/// fails (its directory lookup times out), so that node keeps routing the group to them.
/// The next re-read of memberships from the database stops it, within a round.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_removal_missed_while_redis_was_paused_is_repaired_from_the_database() {
    let cluster = Cluster::start_with(2, &[("CONFAB_MEMBERSHIP_RECONCILE_SECS", "2")]).await;
    let (a, b) = (&cluster.nodes[0], &cluster.nodes[1]);
    let (alice, bob) = (register(a, "alice").await, register(a, "bob").await);
    confab_testkit::befriend(&a.base_url(), &alice, &bob)
        .await
        .unwrap();
    let mut alices = connect(a, &alice).await;
    let mut bobs = connect(b, &bob).await;
    wait_presence(a, &alice, &[(&bob, true)], WITHIN).await;
    let group = create_group(a, &alice, &[&bob]).await;
    bobs.next("group:updated").await.unwrap();
    let sent = alices
        .request("message:send", to_group(&group, "before", "g-0"))
        .await
        .unwrap();
    assert_eq!(bobs.next("message:new").await.unwrap(), sent["message"]);

    // Longer than the directory's 3 s command timeout.
    pause_redis(&cluster, 6000, "ALL");
    let removed = client()
        .delete(format!(
            "{}/api/v1/groups/{group}/members/{}",
            a.base_url(),
            bob.id
        ))
        .bearer_auth(&alice.token)
        .send()
        .await
        .unwrap();
    assert_eq!(removed.status(), StatusCode::OK);

    // Bob's node learns it from the database: the group's messages stop reaching him.
    // Probed four times a second (the messages' rate limit allows it).
    let deadline = std::time::Instant::now() + WITHIN;
    let mut probes = tokio::time::interval(std::time::Duration::from_millis(250));
    for n in 1.. {
        probes.tick().await;
        assert!(
            std::time::Instant::now() < deadline,
            "bob still receives the group's messages:\n{}",
            cluster.logs()
        );
        let sent = alices
            .request("message:send", to_group(&group, "after", &format!("g-{n}")))
            .await
            .unwrap();
        assert_eq!(sent["ok"], true, "{sent}");
        let wait = std::time::Duration::from_secs(2);
        if tokio::time::timeout(wait, bobs.next("message:new"))
            .await
            .is_err()
        {
            break;
        }
    }
    assert!(
        b.logs().contains("membership routes repaired"),
        "not repaired from the database:\n{}",
        b.logs()
    );
    // Once Redis answers again (this PING waits out the pause), nothing else is broken:
    // a direct message reaches him live.
    let ping = std::process::Command::new("redis-cli")
        .args(["-p", &cluster.redis.port().to_string(), "PING"])
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&ping.stdout).contains("PONG"),
        "{ping:?}"
    );
    let direct_message = alices
        .request("message:send", direct(&bob, "still here?", "d-1"))
        .await
        .unwrap();
    assert_eq!(
        bobs.next("message:new").await.unwrap(),
        direct_message["message"]
    );
}

/// The route cache kept so long that only its change notifications can make these tests
/// pass: a cached route that was not forgotten would send the message to the wrong node.
const LONG_ROUTE_CACHE: (&str, &str) = ("CONFAB_ROUTE_CACHE_SECS", "600");

/// Alice's node learns bob's node when she first sends to him; `move_bob` then moves him
/// from node 1 to node 2 (answering his new connection), and the next message must reach
/// him there. His new node tells the others once the directory has him (or failed to),
/// before his `sync` answers; the message takes a database commit before it is routed, far
/// longer than that notification's hop over NATS.
async fn reaches_bob_after_he_moved(
    move_bob: impl AsyncFnOnce(&mut Cluster, &User, SioClient) -> SioClient,
) {
    let mut cluster = Cluster::start_with(3, &[LONG_ROUTE_CACHE]).await;
    let (alice, bob) = (
        register(&cluster.nodes[0], "alice").await,
        register(&cluster.nodes[0], "bob").await,
    );
    let mut alices = connect(&cluster.nodes[0], &alice).await;
    let mut bobs = connect(&cluster.nodes[1], &bob).await;
    wait_presence(&cluster.nodes[0], &alice, &[(&bob, true)], WITHIN).await;
    let first = alices
        .request("message:send", direct(&bob, "on node 1", "r-1"))
        .await
        .unwrap();
    assert_eq!(bobs.next("message:new").await.unwrap(), first["message"]);

    let mut moved = move_bob(&mut cluster, &bob, bobs).await;
    let synced = moved.request("sync", json!({"cursors": {}})).await.unwrap();
    assert_eq!(synced["ok"], true, "{synced}");
    wait_presence(&cluster.nodes[0], &alice, &[(&bob, true)], WITHIN).await;
    sent_and_received(
        &cluster,
        &mut alices,
        direct(&bob, "on node 2", "r-2"),
        &mut moved,
    )
    .await;
}

#[tokio::test]
async fn a_user_who_moves_to_another_node_gets_the_next_message_there() {
    reaches_bob_after_he_moved(async |cluster, bob, old| {
        old.close();
        connect(&cluster.nodes[2], bob).await
    })
    .await;
}

#[tokio::test]
async fn a_user_whose_node_died_is_reached_on_the_node_they_reconnect_to() {
    reaches_bob_after_he_moved(async |cluster, bob, _| {
        cluster.nodes[1].kill();
        connect(&cluster.nodes[2], bob).await
    })
    .await;
}

/// Bob moves while Redis is down (neither node can change his entry), then Redis comes
/// back empty and the heartbeats fill it again: alice's node still finds him.
#[tokio::test]
async fn a_user_who_moved_while_redis_was_down_is_reached_after_it_restarts_empty() {
    reaches_bob_after_he_moved(async |cluster, bob, old| {
        cluster.redis.kill();
        old.close();
        let moved = connect(&cluster.nodes[2], bob).await;
        cluster.redis.restart().unwrap();
        moved
    })
    .await;
}

/// A `sync` right after connecting answers only once the connection is routed: here its
/// node cannot register bob while Redis is paused, so it subscribes to his group only after
/// that, and the group message sent right after his `sync` must still reach him live.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sync_right_after_connecting_waits_until_the_connection_is_routed() {
    let cluster = Cluster::start(2).await;
    let (a, b) = (&cluster.nodes[0], &cluster.nodes[1]);
    let (alice, bob) = (register(a, "alice").await, register(a, "bob").await);
    confab_testkit::befriend(&a.base_url(), &alice, &bob)
        .await
        .unwrap();
    let group = create_group(a, &alice, &[&bob]).await;
    let mut alices = connect(a, &alice).await;
    // Writes wait, reads go on: bob's registration on node B waits out the pause.
    pause_redis(&cluster, 1500, "WRITE");
    let mut bobs = connect(b, &bob).await;
    let synced = bobs.request("sync", json!({"cursors": {}})).await.unwrap();
    assert_eq!(synced["ok"], true, "{synced}");
    sent_and_received(
        &cluster,
        &mut alices,
        to_group(&group, "right away", "w-1"),
        &mut bobs,
    )
    .await;
}

/// Node B knows that alice and bob have not blocked each other (it checked for bob's
/// first `typing`, and keeps it for as long as the test runs); alice then blocks bob on
/// node A. Node B must forget what it knew at once: bob's next `typing` reaches carol,
/// who is on alice's node, but not alice.
#[tokio::test]
async fn a_block_made_on_one_node_stops_typing_from_the_other_at_once() {
    let cluster = Cluster::start_with(2, &[("CONFAB_BLOCK_CACHE_SECS", "600")]).await;
    let (a, b) = (&cluster.nodes[0], &cluster.nodes[1]);
    let (alice, bob, carol) = (
        register(a, "alice").await,
        register(a, "bob").await,
        register(a, "carol").await,
    );
    let mut alices = connect(a, &alice).await;
    let mut carols = connect(a, &carol).await;
    let mut bobs = connect(b, &bob).await;
    wait_presence(b, &bob, &[(&alice, true), (&carol, true)], WITHIN).await;
    let typing =
        |to: &User| json!({"conversation": direct_conversation(&bob.id, &to.id), "typing": true});
    bobs.request("typing", typing(&alice)).await.unwrap();
    alices.next("typing").await.unwrap();
    bobs.request("typing", typing(&carol)).await.unwrap();
    carols.next("typing").await.unwrap();

    let blocked = client()
        .put(format!("{}/api/v1/blocks/{}", a.base_url(), bob.id))
        .bearer_auth(&alice.token)
        .send()
        .await
        .unwrap();
    assert!(blocked.status().is_success(), "{}", blocked.status());
    let answered = bobs.request("typing", typing(&alice)).await.unwrap();
    assert_eq!(answered["ok"], true, "{answered}");
    bobs.request("typing", typing(&carol)).await.unwrap();
    // Published after the one to alice would have been, to the same node, in order.
    carols.next("typing").await.unwrap();
    assert_eq!(
        alices.received("typing"),
        Vec::<Value>::new(),
        "{}",
        cluster.logs()
    );
}
