//! Messages: delivery to every device, idempotency, sync after being offline, sequence
//! numbers under concurrency, and the limits.

use std::collections::BTreeSet;

use confab_entities::message;
use confab_testkit::Backend;
use sea_orm::{EntityTrait, PaginatorTrait};
use serde_json::{Value, json};

use super::{connect, send, user};
use crate::helpers::{TestApp, on_every_backend};

on_every_backend!(
    a_direct_message_reaches_the_recipient_and_the_senders_other_devices,
    an_offline_user_gets_everything_through_sync_in_order,
    two_nodes_writing_one_conversation_never_share_or_skip_a_seq,
    every_backend_stores_exactly_what_was_acknowledged_and_refuses_nul,
    a_repeated_client_msg_id_is_answered_to_the_sender_alone,
    the_conversation_list_is_most_recent_first_with_last_messages_and_pages,
    the_other_members_read_positions_survive_a_reload,
);

async fn a_direct_message_reaches_the_recipient_and_the_senders_other_devices(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (alice, bob) = (user(&app, "alice").await, user(&app, "bob").await);
    let mut phone = connect(&app.address, &alice).await;
    let mut laptop = connect(&app.address, &alice).await;
    let mut bobs = connect(&app.address, &bob).await;

    let ack = phone
        .request("message:send", send(&bob, "hi bob", "m-1"))
        .await
        .unwrap();
    assert_eq!(ack["ok"], true, "{ack}");
    let message = &ack["message"];
    assert_eq!(message["seq"], 1);
    assert_eq!(message["from"], alice.id.as_str());
    assert_eq!(message["to"], json!({"user": bob.id}));
    assert_eq!(message["body"], "hi bob");
    assert_eq!(message["client_msg_id"], "m-1");

    assert_eq!(&bobs.next("message:new").await.unwrap(), message);
    assert_eq!(&laptop.next("message:new").await.unwrap(), message);
    // The sending connection has the ack instead: after a round trip, still nothing.
    phone
        .request("presence:query", json!({"users": []}))
        .await
        .unwrap();
    assert!(phone.received("message:new").is_empty());

    let reply = bobs
        .request("message:send", send(&alice, "hi alice", "m-1"))
        .await
        .unwrap();
    assert_eq!(reply["message"]["seq"], 2, "one conversation, one sequence");
    assert_eq!(reply["message"]["conversation"], message["conversation"]);
}

#[actix_web::test]
async fn the_same_client_msg_id_returns_the_same_message_and_stores_nothing_new() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let (alice, bob) = (user(&app, "alice").await, user(&app, "bob").await);
    let mut phone = connect(&app.address, &alice).await;
    let first = phone
        .request("message:send", send(&bob, "once", "dup-1"))
        .await
        .unwrap();
    // The ack was lost; the client sends again, even with another body.
    let again = phone
        .request("message:send", send(&bob, "once!", "dup-1"))
        .await
        .unwrap();
    assert_eq!(first["message"], again["message"]);
    assert_eq!(message::Entity::find().count(&app.db).await.unwrap(), 1);
    // Over HTTP too: the same operation.
    let over_http = app
        .client
        .post(format!("{}/api/v1/messages", app.address))
        .bearer_auth(&alice.token)
        .json(&send(&bob, "once", "dup-1"))
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap();
    assert_eq!(over_http["message"], first["message"]);
    assert_eq!(message::Entity::find().count(&app.db).await.unwrap(), 1);
}

async fn an_offline_user_gets_everything_through_sync_in_order(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (alice, bob, carol) = (
        user(&app, "alice").await,
        user(&app, "bob").await,
        user(&app, "carol").await,
    );
    let mut alices = connect(&app.address, &alice).await;
    let mut carols = connect(&app.address, &carol).await;
    for n in 1..=5 {
        let ack = alices
            .request(
                "message:send",
                send(&bob, &format!("a{n}"), &format!("a{n}")),
            )
            .await
            .unwrap();
        assert_eq!(ack["ok"], true);
    }
    let from_carol = carols
        .request("message:send", send(&bob, "c1", "c1"))
        .await
        .unwrap();
    let carol_conversation = from_carol["message"]["conversation"]
        .as_str()
        .unwrap()
        .to_owned();

    // Bob was never connected: he has no cursors, and gets both conversations from seq 1.
    let mut bobs = connect(&app.address, &bob).await;
    let everything = bobs.request("sync", json!({"cursors": {}})).await.unwrap();
    assert_eq!(everything["ok"], true);
    assert_eq!(everything["more"], false);
    let messages = everything["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 6);
    let from_alice: Vec<(i64, &str)> = messages
        .iter()
        .filter(|m| m["from"] == alice.id.as_str())
        .map(|m| (m["seq"].as_i64().unwrap(), m["body"].as_str().unwrap()))
        .collect();
    assert_eq!(
        from_alice,
        [(1, "a1"), (2, "a2"), (3, "a3"), (4, "a4"), (5, "a5")]
    );
    let alice_conversation = messages[0]["conversation"].clone();

    // With cursors: only what is after them, paged with `more`.
    let cursors = json!({"cursors": {alice_conversation.as_str().unwrap(): 3, carol_conversation.as_str(): 1}, "limit": 1});
    let first_page = bobs.request("sync", cursors).await.unwrap();
    assert_eq!(first_page["more"], true);
    assert_eq!(first_page["messages"].as_array().unwrap().len(), 1);
    assert_eq!(first_page["messages"][0]["seq"], 4);
    let rest = bobs
        .request("sync", json!({"cursors": {alice_conversation.as_str().unwrap(): 4, carol_conversation.as_str(): 1}}))
        .await
        .unwrap();
    assert_eq!(rest["more"], false);
    assert_eq!(rest["messages"].as_array().unwrap().len(), 1);
    assert_eq!(rest["messages"][0]["body"], "a5");

    // History pages backwards, each page oldest first.
    let older = bobs
        .request(
            "history",
            json!({"conversation": alice_conversation, "before_seq": 4, "limit": 2}),
        )
        .await
        .unwrap();
    let seqs = seqs_of(&older);
    assert_eq!(seqs, [2, 3]);
}

async fn two_nodes_writing_one_conversation_never_share_or_skip_a_seq(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let second = app.another_node().await;
    let (alice, bob) = (user(&app, "alice").await, user(&app, "bob").await);
    let mut senders = Vec::new();
    for (n, address) in [&app.address, &second, &app.address, &second]
        .into_iter()
        .enumerate()
    {
        let (from, to) = if n % 2 == 0 {
            (&alice, &bob)
        } else {
            (&bob, &alice)
        };
        let client = connect(address, from).await;
        senders.push((client, to.id.clone(), n));
    }
    let per_sender = 15;
    let tasks: Vec<_> = senders
        .into_iter()
        .map(|(mut client, to, n)| {
            tokio::spawn(async move {
                let mut seqs = Vec::new();
                for i in 0..per_sender {
                    let body = json!({"to": {"user": to}, "body": "x", "client_msg_id": format!("s{n}-{i}")});
                    let ack = client.request("message:send", body).await.unwrap();
                    assert_eq!(ack["ok"], true, "{ack}");
                    seqs.push(ack["message"]["seq"].as_i64().unwrap());
                }
                seqs
            })
        })
        .collect();
    let mut all = Vec::new();
    for task in tasks {
        let seqs = task.await.unwrap();
        assert!(
            seqs.windows(2).all(|w| w[0] < w[1]),
            "one sender's seqs increase: {seqs:?}"
        );
        all.extend(seqs);
    }
    let distinct: BTreeSet<i64> = all.iter().copied().collect();
    let expected: BTreeSet<i64> = (1..=4 * per_sender as i64).collect();
    assert_eq!(distinct, expected, "gap-free and never shared");
}

#[actix_web::test]
async fn limits_and_rules_refuse_a_message_and_store_nothing() {
    let app = TestApp::spawn_with(Backend::Sqlite, |settings| settings.max_body_bytes = 100).await;
    let (alice, bob) = (user(&app, "alice").await, user(&app, "bob").await);
    let mut phone = connect(&app.address, &alice).await;
    let cases = [
        (send(&bob, &"x".repeat(101), "big"), "too_large"),
        (
            json!({"to": {"user": "nobody"}, "body": "hi", "client_msg_id": "n"}),
            "not_found",
        ),
        (
            json!({"to": {"group": "nope"}, "body": "hi", "client_msg_id": "g"}),
            "not_found",
        ),
        (
            json!({"to": {"user": bob.id}, "body": "hi", "client_msg_id": ""}),
            "invalid_request",
        ),
        (
            json!({"to": {"user": bob.id}, "body": "hi"}),
            "invalid_request",
        ),
        (json!("not an object"), "invalid_request"),
    ];
    for (body, code) in cases {
        let ack = phone.request("message:send", body.clone()).await.unwrap();
        assert_eq!(ack["ok"], false, "{body}");
        assert_eq!(ack["error"]["code"], code, "{body}: {ack}");
    }
    assert_eq!(message::Entity::find().count(&app.db).await.unwrap(), 0);
}

async fn every_backend_stores_exactly_what_was_acknowledged_and_refuses_nul(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (alice, bob) = (user(&app, "alice").await, user(&app, "bob").await);
    let mut phone = connect(&app.address, &alice).await;
    // The largest body allowed (64 KiB, more than MySQL's TEXT holds), in 1- to 4-byte
    // characters, with meta in several scripts.
    let mut body = "aé€😀".repeat(65_536 / 10);
    body.push_str(&"z".repeat(65_536 - body.len()));
    assert_eq!(body.len(), 65_536);
    let meta = json!({"lang": "日本語", "nested": [{"emoji": "🎉"}, 1.5, null]});
    let ack = phone
        .request(
            "message:send",
            json!({"to": {"user": bob.id}, "body": body, "meta": meta, "client_msg_id": "big"}),
        )
        .await
        .unwrap();
    assert_eq!(ack["ok"], true, "{}", ack["error"]);
    assert_eq!(ack["message"]["body"].as_str(), Some(body.as_str()));
    let rows = message::Entity::find().all(&app.db).await.unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].body, body, "stored whole");
    assert_eq!(rows[0].meta.as_ref(), Some(&meta));
    let history = phone
        .request(
            "history",
            json!({"conversation": ack["message"]["conversation"]}),
        )
        .await
        .unwrap();
    // History shows the message as acked, with its (no) reactions.
    let mut shown = history["messages"][0].clone();
    assert_eq!(shown["reactions"], json!([]));
    shown.as_object_mut().unwrap().remove("reactions");
    assert_eq!(shown, ack["message"]);

    let nul = [
        json!({"to": {"user": bob.id}, "body": "a\u{0}b", "client_msg_id": "n1"}),
        json!({"to": {"user": bob.id}, "body": "ok", "meta": {"k": ["x\u{0}"]}, "client_msg_id": "n2"}),
        json!({"to": {"user": bob.id}, "body": "ok", "meta": {"k\u{0}": 1}, "client_msg_id": "n3"}),
    ];
    for request in nul {
        let ack = phone
            .request("message:send", request.clone())
            .await
            .unwrap();
        assert_eq!(ack["error"]["code"], "invalid_request", "{request}: {ack}");
        assert!(
            ack["error"]["message"].as_str().unwrap().contains("NUL"),
            "{ack}"
        );
    }
    assert_eq!(message::Entity::find().count(&app.db).await.unwrap(), 1);
    // The node still stores what comes next: nothing was left failing.
    let ack = phone
        .request("message:send", send(&bob, "after", "after"))
        .await
        .unwrap();
    assert_eq!(ack["message"]["seq"], 2, "{ack}");
}

async fn a_repeated_client_msg_id_is_answered_to_the_sender_alone(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (alice, bob, carol) = (
        user(&app, "alice").await,
        user(&app, "bob").await,
        user(&app, "carol").await,
    );
    let mut alices = connect(&app.address, &alice).await;
    let mut bobs = connect(&app.address, &bob).await;
    let mut carols = connect(&app.address, &carol).await;
    let first = alices
        .request("message:send", send(&bob, "hello", "m-1"))
        .await
        .unwrap();
    assert_eq!(bobs.next("message:new").await.unwrap(), first["message"]);
    super::block(&app, &bob, &alice).await;

    // Once blocked, a repeat to bob is refused by the rules like any message.
    let again = alices
        .request("message:send", send(&bob, "hello", "m-1"))
        .await
        .unwrap();
    assert_eq!(again["error"]["code"], "blocked", "{again}");
    // A repeat aimed elsewhere gets the stored message back, and nobody is sent it again.
    let elsewhere = alices
        .request("message:send", send(&carol, "hello", "m-1"))
        .await
        .unwrap();
    assert_eq!(elsewhere["message"], first["message"]);
    for client in [&mut bobs, &mut carols] {
        client
            .request("presence:query", json!({"users": []}))
            .await
            .unwrap();
        assert!(client.received("message:new").is_empty());
    }
    assert_eq!(message::Entity::find().count(&app.db).await.unwrap(), 1);
}

/// A reply of `sync` or `history` is bounded in bytes as well as in messages: large
/// messages come a few at a time with `more`, and the client asks again.
#[actix_web::test]
async fn sync_and_history_replies_are_bounded_in_bytes_and_say_more() {
    let app = TestApp::spawn_with(Backend::Sqlite, |settings| {
        settings.messages_burst = 1000;
    })
    .await;
    let (alice, bob) = (user(&app, "alice").await, user(&app, "bob").await);
    let mut alices = connect(&app.address, &alice).await;
    // Each encodes to about 360 KB: control characters take six bytes in JSON.
    let body = "\u{1}".repeat(60_000);
    let mut conversation = Value::Null;
    for n in 0..7 {
        let ack = alices
            .request("message:send", send(&bob, &body, &format!("big-{n}")))
            .await
            .unwrap();
        conversation = ack["message"]["conversation"].clone();
    }
    let mut bobs = connect(&app.address, &bob).await;
    let mut seqs: Vec<i64> = Vec::new();
    let mut cursor = 0;
    loop {
        let reply = bobs
            .request(
                "sync",
                json!({"cursors": {conversation.as_str().unwrap(): cursor}}),
            )
            .await
            .unwrap();
        let page = seqs_of(&reply);
        assert!((1..=2).contains(&page.len()), "{page:?}");
        seqs.extend(&page);
        cursor = *page.last().unwrap();
        if reply["more"] == false {
            break;
        }
    }
    assert_eq!(seqs, (1..=7).collect::<Vec<i64>>());

    // History backwards keeps the newest before the cursor.
    let older = bobs
        .request(
            "history",
            json!({"conversation": conversation, "before_seq": 7}),
        )
        .await
        .unwrap();
    let seqs = seqs_of(&older);
    assert_eq!(seqs, [5, 6]);
    assert_eq!(older["more"], true);
    // Over HTTP, forwards from a seq: the first ones after it.
    let url = format!(
        "{}/api/v1/conversations/{}/messages?after_seq=1",
        app.address,
        conversation.as_str().unwrap()
    );
    let page: Value = app
        .client
        .get(url)
        .bearer_auth(&bob.token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let seqs = seqs_of(&page);
    assert_eq!((seqs, &page["more"]), (vec![2, 3], &json!(true)));
}

/// The `seq` of each message of a reply (`{messages: [...]}`), in order.
fn seqs_of(reply: &Value) -> Vec<i64> {
    reply["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .map(|message| message["seq"].as_i64().expect("seq"))
        .collect()
}

/// The list: most recent entry first (an edit counts), each with its newest message as it
/// is now and the unread count of others' messages, in pages; the same over Socket.IO.
async fn the_conversation_list_is_most_recent_first_with_last_messages_and_pages(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (alice, bob) = (user(&app, "alice").await, user(&app, "bob").await);
    let carol = user(&app, "carol").await;
    let (mut alices, mut bobs) = (
        connect(&app.address, &alice).await,
        connect(&app.address, &bob).await,
    );
    let created = alices
        .request("group:create", json!({"name": "team"}))
        .await
        .unwrap();
    let group = created["group"]["id"].clone();
    alices
        .request("message:send", send(&bob, "one", "a1"))
        .await
        .unwrap();
    let two = alices
        .request("message:send", send(&carol, "two", "a2"))
        .await
        .unwrap();
    bobs.request("message:send", send(&alice, "three", "b1"))
        .await
        .unwrap();
    let edit = json!({
        "conversation": two["message"]["conversation"],
        "seq": two["message"]["seq"],
        "body": "two, edited",
    });
    assert_eq!(
        alices.request("message:edit", edit).await.unwrap()["ok"],
        true
    );

    // The cursor is RFC 3339 (in UTC, `Z`) and ids: nothing a query string must escape.
    let list = |query: String| {
        let url = format!("{}/api/v1/conversations?{query}", app.address);
        let request = app.client.get(url).bearer_auth(&alice.token);
        async move {
            let reply = request.send().await.unwrap();
            assert_eq!(reply.status(), reqwest::StatusCode::OK);
            reply.json::<Value>().await.unwrap()
        }
    };
    let first = list("limit=2".to_owned()).await;
    let page = first["conversations"].as_array().unwrap();
    let with_carol = &page[0];
    assert_eq!(with_carol["id"], two["message"]["conversation"]);
    assert_eq!(with_carol["last_message"]["body"], "two, edited");
    assert!(with_carol["last_message"]["edited_at"].is_string());
    assert_eq!(with_carol["unread"], 0);
    let with_bob = &page[1];
    assert_eq!(with_bob["with"], json!({"user": bob.id}));
    assert_eq!(with_bob["last_message"]["body"], "three");
    assert_eq!(with_bob["unread"], 1);
    assert!(with_carol["last_at"].as_str() > with_bob["last_at"].as_str());

    let next = first["next"].as_str().unwrap();
    let second = list(format!("limit=2&before={next}")).await;
    let rest = second["conversations"].as_array().unwrap();
    assert_eq!(rest.len(), 1, "{second}");
    assert_eq!(rest[0]["with"], json!({"group": group}));
    assert_eq!(rest[0]["last_message"], Value::Null);
    assert_eq!(second["next"], Value::Null);

    let over_socket = alices
        .request("conversation:list", json!({"limit": 2}))
        .await
        .unwrap();
    assert_eq!(over_socket["conversations"], first["conversations"]);
    assert_eq!(over_socket["next"], first["next"]);
    let bad = alices
        .request("conversation:list", json!({"before": "nonsense"}))
        .await
        .unwrap();
    assert_eq!(bad["error"]["code"], "invalid_request");
}

/// How far the others read is part of the conversation's state: read over HTTP here, it
/// is listed (HTTP and Socket.IO) to the other member, never to a stranger, and not
/// across a block.
async fn the_other_members_read_positions_survive_a_reload(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (alice, bob) = (user(&app, "alice").await, user(&app, "bob").await);
    let carol = user(&app, "carol").await;
    let mut alices = connect(&app.address, &alice).await;
    let mut sent = Value::Null;
    for n in 0..3 {
        sent = alices
            .request(
                "message:send",
                send(&bob, &format!("m{n}"), &format!("r{n}")),
            )
            .await
            .unwrap();
    }
    let conversation = sent["message"]["conversation"].as_str().unwrap();
    let as_user = |who: &super::User, method: reqwest::Method, path: &str| {
        app.client
            .request(
                method,
                format!("{}/api/v1/conversations/{conversation}{path}", app.address),
            )
            .bearer_auth(&who.token)
    };
    let read = as_user(&bob, reqwest::Method::POST, "/read")
        .json(&json!({"seq": 2}))
        .send()
        .await
        .unwrap();
    assert_eq!(read.status(), reqwest::StatusCode::NO_CONTENT);
    let receipt = alices.next("receipt").await.unwrap();
    assert_eq!(receipt["seq"], 2);

    let reads = as_user(&alice, reqwest::Method::GET, "/reads")
        .send()
        .await
        .unwrap();
    let reads: Value = reads.json().await.unwrap();
    assert_eq!(reads, json!({"reads": [{"user": bob.id, "seq": 2}]}));
    let over_socket = alices
        .request("conversation:reads", json!({"conversation": conversation}))
        .await
        .unwrap();
    assert_eq!(over_socket["reads"], reads["reads"]);
    let stranger = as_user(&carol, reqwest::Method::GET, "/reads")
        .send()
        .await
        .unwrap();
    assert_eq!(stranger.status(), reqwest::StatusCode::NOT_FOUND);
    let too_far = as_user(&bob, reqwest::Method::POST, "/read")
        .json(&json!({"seq": 9}))
        .send()
        .await
        .unwrap();
    assert_eq!(too_far.status(), reqwest::StatusCode::BAD_REQUEST);

    // Through the API, which tells the node's block cache.
    let block = app
        .client
        .put(format!("{}/api/v1/blocks/{}", app.address, alice.id))
        .bearer_auth(&bob.token)
        .send()
        .await
        .unwrap();
    assert!(block.status().is_success());
    let blocked: Value = as_user(&alice, reqwest::Method::GET, "/reads")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(blocked, json!({"reads": []}));
}
