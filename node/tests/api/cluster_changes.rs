//! Changes to sent messages across nodes: two real `confab` processes on one PostgreSQL
//! database with a private Redis and NATS. An edit, a reaction, a deletion by a group's
//! owner and an expiry made on node A reach the members connected to node B, and a member
//! who was offline replays the edit and the deletion with `sync`.

use serde_json::{Value, json};

use crate::cluster_fixture::{Cluster, WITHIN, connect, register, wait_presence};
use crate::helpers::client;

#[tokio::test]
async fn edits_deletions_reactions_and_expiry_reach_members_on_the_other_node() {
    let cluster = Cluster::start(2).await;
    let (a, b) = (&cluster.nodes[0], &cluster.nodes[1]);
    let (alice, bob, carol) = (
        register(a, "alice").await,
        register(a, "bob").await,
        register(a, "carol").await,
    );
    let mut alices = connect(a, &alice).await;
    let mut bobs = connect(b, &bob).await;
    wait_presence(a, &alice, &[(&bob, true)], WITHIN).await;
    // Only contacts may be added to a group.
    for friend in [&bob, &carol] {
        confab_testkit::befriend(&a.base_url(), &alice, friend)
            .await
            .unwrap();
    }
    let created: Value = client()
        .post(format!("{}/api/v1/groups", a.base_url()))
        .bearer_auth(&alice.token)
        .json(&json!({"name": "changes", "members": [bob.id, carol.id]}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let group = created["group"]["id"].as_str().unwrap().to_owned();
    bobs.next("group:updated").await.unwrap();

    let sent = bobs
        .request(
            "message:send",
            json!({"to": {"group": group}, "body": "draft", "client_msg_id": "c-1"}),
        )
        .await
        .unwrap();
    let message = &sent["message"];
    let at = json!({"conversation": message["conversation"], "seq": message["seq"]});
    alices.next("message:new").await.unwrap();

    let mut edit = at.clone();
    edit["body"] = json!("final");
    let edited = bobs.request("message:edit", edit).await.unwrap();
    assert_eq!(
        alices.next("message:edited").await.unwrap(),
        edited["message"],
        "{}",
        cluster.logs()
    );
    let mut reaction = at.clone();
    reaction["emoji"] = json!("🎉");
    alices.request("reaction:add", reaction).await.unwrap();
    assert_eq!(
        bobs.next("reaction").await.unwrap(),
        json!({"conversation": message["conversation"], "seq": 1, "user": alice.id, "emoji": "🎉", "added": true})
    );
    let deleted = alices.request("message:delete", at).await.unwrap();
    assert_eq!(deleted["ok"], true, "{deleted}");
    assert_eq!(
        bobs.next("message:deleted").await.unwrap(),
        deleted["message"]
    );

    // Carol was offline: sync replays the message, the edit and the deletion in order.
    let mut carols = connect(b, &carol).await;
    let synced = carols
        .request("sync", json!({"cursors": {}}))
        .await
        .unwrap();
    let replay: Vec<(Value, Value)> = synced["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|entry| (entry["kind"].clone(), entry["body"].clone()))
        .collect();
    assert_eq!(
        replay,
        [
            (json!("message"), json!("")),
            (json!("edit"), json!("")),
            (json!("delete"), json!("")),
        ],
        "the deleted text is gone from every entry"
    );

    let expiry = json!({"conversation": message["conversation"], "seconds": 1});
    alices
        .request("conversation:set_expiry", expiry)
        .await
        .unwrap();
    bobs.next("conversation:updated").await.unwrap();
    let fleeting = alices
        .request(
            "message:send",
            json!({"to": {"group": group}, "body": "soon gone", "client_msg_id": "c-2"}),
        )
        .await
        .unwrap();
    let expired = bobs.next("messages:expired").await.unwrap();
    assert_eq!(
        expired["seqs"],
        json!([fleeting["message"]["seq"]]),
        "{}",
        cluster.logs()
    );
}
