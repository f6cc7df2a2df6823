//! Delivery across nodes: two real `confab` processes on one PostgreSQL database, with a
//! private Redis (the directory) and NATS (the bus). Direct messages reach the recipient
//! and the sender's other devices on the other node, group messages reach members on both
//! nodes (also one added while connected), presence, typing and receipts cross over, and
//! the directory refills itself after Redis restarted empty.

use std::time::Duration;

use confab_testkit::{
    Backend, NatsServer, NodeProcess, RedisServer, SioClient, TestDb, eventually,
};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TEST_SECRET, client};

const CONFAB: &str = env!("CARGO_BIN_EXE_confab");
const WITHIN: Duration = Duration::from_secs(20);

/// Two nodes sharing a database, a directory and a bus (dropped in reverse order).
struct Cluster {
    a: NodeProcess,
    b: NodeProcess,
    _nats: NatsServer,
    redis: RedisServer,
    _db: TestDb,
}

impl Cluster {
    async fn start() -> Self {
        let db = TestDb::create(Backend::Postgres).await.unwrap();
        let redis = RedisServer::start().unwrap();
        let nats = NatsServer::start().unwrap();
        let env = |node: &str| {
            [
                ("CONFAB_DATABASE_URL", db.url().to_owned()),
                ("CONFAB_REDIS_URL", redis.url()),
                ("CONFAB_NATS_URL", nats.url()),
                ("CONFAB_JWT_SECRET", TEST_SECRET.to_owned()),
                ("CONFAB_NODE_ID", node.to_owned()),
                ("CONFAB_NODE_LEASE_TTL_SECS", "3".to_owned()),
            ]
        };
        // One at a time: the first applies the migrations.
        let a = NodeProcess::start(CONFAB, &env("node-a")).await.unwrap();
        let b = NodeProcess::start(CONFAB, &env("node-b")).await.unwrap();
        Self {
            a,
            b,
            _nats: nats,
            redis,
            _db: db,
        }
    }

    fn logs(&self) -> String {
        format!("node-a:\n{}\nnode-b:\n{}", self.a.logs(), self.b.logs())
    }
}

/// A registered user.
struct User {
    id: String,
    token: String,
}

async fn register(node: &NodeProcess, name: &str) -> User {
    let reply = client()
        .post(format!("{}/api/v1/auth/register", node.base_url()))
        .json(&json!({"username": name, "password": "correct horse battery"}))
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), StatusCode::CREATED);
    let body: Value = reply.json().await.unwrap();
    User {
        id: body["user"]["id"].as_str().unwrap().to_owned(),
        token: body["token"].as_str().unwrap().to_owned(),
    }
}

async fn connect(node: &NodeProcess, user: &User) -> SioClient {
    SioClient::with_token(&node.base_url(), &user.token)
        .await
        .unwrap()
}

/// Waits until `asker`, connected to `node`, sees every one of `users` as `online`
/// (which comes from the directory, whichever node they are on). Each poll asks over a new
/// connection of its own.
async fn wait_presence(node: &NodeProcess, asker: &User, users: &[&User], online: bool) {
    let ids: Vec<String> = users.iter().map(|user| user.id.clone()).collect();
    let (base, token) = (node.base_url(), asker.token.clone());
    let what = format!("{ids:?} to be online={online}");
    eventually(&what, WITHIN, || {
        let (base, token, ids) = (base.clone(), token.clone(), ids.clone());
        async move {
            let mut client = SioClient::with_token(&base, &token).await.ok()?;
            let answer = client
                .request("presence:query", json!({"users": ids}))
                .await
                .ok()?;
            client.close();
            let presence = answer["presence"].as_array()?;
            presence
                .iter()
                .all(|one| one["online"] == online)
                .then_some(())
        }
    })
    .await
    .unwrap();
}

fn direct(to: &User, body: &str, client_msg_id: &str) -> Value {
    json!({"to": {"user": to.id}, "body": body, "client_msg_id": client_msg_id})
}

fn to_group(group: &str, body: &str, client_msg_id: &str) -> Value {
    json!({"to": {"group": group}, "body": body, "client_msg_id": client_msg_id})
}

async fn create_group(node: &NodeProcess, owner: &User, members: &[&User]) -> String {
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
    let cluster = Cluster::start().await;
    let (alice, bob) = (
        register(&cluster.a, "alice").await,
        register(&cluster.a, "bob").await,
    );
    let mut phone = connect(&cluster.a, &alice).await;
    let mut laptop = connect(&cluster.b, &alice).await;
    let mut bobs = connect(&cluster.b, &bob).await;
    wait_presence(&cluster.a, &alice, &[&alice, &bob], true).await;

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
    let cluster = Cluster::start().await;
    let (alice, bob, carol, dave) = (
        register(&cluster.a, "alice").await,
        register(&cluster.a, "bob").await,
        register(&cluster.a, "carol").await,
        register(&cluster.a, "dave").await,
    );
    let mut alices = connect(&cluster.a, &alice).await;
    let mut carols = connect(&cluster.a, &carol).await;
    let mut bobs = connect(&cluster.b, &bob).await;
    let mut daves = connect(&cluster.b, &dave).await;
    wait_presence(&cluster.a, &alice, &[&bob, &dave], true).await;

    let group = create_group(&cluster.a, &alice, &[&bob, &carol]).await;
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
        .post(format!(
            "{}/api/v1/groups/{group}/members",
            cluster.a.base_url()
        ))
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
    let cluster = Cluster::start().await;
    let (alice, bob) = (
        register(&cluster.a, "alice").await,
        register(&cluster.a, "bob").await,
    );
    let mut alices = connect(&cluster.a, &alice).await;
    let mut bobs = connect(&cluster.b, &bob).await;
    // Bob is connected to node B only; node A answers from the directory.
    wait_presence(&cluster.a, &alice, &[&bob], true).await;

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
    wait_presence(&cluster.a, &alice, &[&bob], false).await;
}

#[tokio::test]
async fn after_redis_restarts_empty_the_heartbeat_refills_the_directory_and_delivery_resumes() {
    let mut cluster = Cluster::start().await;
    let (alice, bob) = (
        register(&cluster.a, "alice").await,
        register(&cluster.a, "bob").await,
    );
    let mut alices = connect(&cluster.a, &alice).await;
    let mut bobs = connect(&cluster.b, &bob).await;
    wait_presence(&cluster.a, &alice, &[&bob], true).await;

    cluster.redis.kill();
    cluster.redis.restart().unwrap();
    // Nobody reconnected: node B's heartbeat registers bob again by itself.
    wait_presence(&cluster.a, &alice, &[&bob], true).await;
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
