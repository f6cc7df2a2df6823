//! The chat over Socket.IO on one node (and two nodes sharing one database): direct
//! messages, multi-device, idempotency, sync after being offline, sequence numbers under
//! concurrency, limits, and the connect check.

use std::collections::BTreeSet;

use confab_entities::message;
use confab_testkit::{Backend, Connected, SioClient};
use sea_orm::{EntityTrait, PaginatorTrait};
use serde_json::{Value, json};

use crate::helpers::{TEST_SECRET, TestApp, on_every_backend};

/// A registered user.
struct User {
    id: String,
    token: String,
}

async fn user(app: &TestApp, name: &str) -> User {
    let registered = app.register(name).await;
    User {
        id: registered["user"]["id"].as_str().unwrap().to_owned(),
        token: registered["token"].as_str().unwrap().to_owned(),
    }
}

async fn connect(address: &str, user: &User) -> SioClient {
    SioClient::with_token(address, &user.token).await.unwrap()
}

fn send(to: &User, body: &str, client_msg_id: &str) -> Value {
    json!({"to": {"user": to.id}, "body": body, "client_msg_id": client_msg_id})
}

on_every_backend!(
    a_direct_message_reaches_the_recipient_and_the_senders_other_devices,
    an_offline_user_gets_everything_through_sync_in_order,
    two_nodes_writing_one_conversation_never_share_or_skip_a_seq,
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
    let seqs: Vec<i64> = older["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["seq"].as_i64().unwrap())
        .collect();
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

#[actix_web::test]
async fn connecting_needs_a_genuine_current_token() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let alice = user(&app, "alice").await;
    let now = jsonwebtoken::get_current_timestamp();
    let sign = |secret: &str, exp: u64| {
        let claims = json!({"sub": alice.id, "iss": "confab", "iat": now - 100, "exp": exp});
        jsonwebtoken::encode(
            &jsonwebtoken::Header::default(),
            &claims,
            &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()),
        )
        .unwrap()
    };
    let cases = [
        (json!({}), "invalid_token"),
        (json!({"token": "garbage"}), "invalid_token"),
        (
            json!({"token": sign("another-secret-of-sufficient-length!", now + 60)}),
            "invalid_token",
        ),
        (
            json!({"token": sign(TEST_SECRET, now - 10)}),
            "token_expired",
        ),
    ];
    for (auth, code) in cases {
        match SioClient::try_connect(&app.address, auth.clone())
            .await
            .unwrap()
        {
            Connected::Refused(data) => assert_eq!(data, json!({"code": code}), "{auth}"),
            Connected::Accepted(_) => panic!("{auth} was accepted"),
        }
    }
    assert!(matches!(
        SioClient::try_connect(&app.address, json!({"token": alice.token}))
            .await
            .unwrap(),
        Connected::Accepted(_)
    ));
}

/// Connects like a client, then never reads again.
async fn stalled_connection(address: &str, user: &User) -> impl Sized {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;
    let url = format!(
        "{}/socket.io/?EIO=4&transport=websocket",
        address.replacen("http", "ws", 1)
    );
    let (mut ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    let open = ws.next().await.unwrap().unwrap();
    assert!(open.to_text().unwrap().starts_with('0'));
    let connect = format!("40{}", json!({"token": user.token}));
    ws.send(Message::Text(connect.into())).await.unwrap();
    let reply = ws.next().await.unwrap().unwrap();
    assert!(reply.to_text().unwrap().starts_with("40{"), "{reply}");
    ws
}

#[actix_web::test]
async fn a_client_that_stops_reading_is_cut_off_and_the_others_keep_receiving() {
    let app = TestApp::spawn_with(Backend::Sqlite, |settings| {
        settings.outgoing_buffer_frames = 8;
        settings.messages_burst = 1000;
        settings.events_burst = 1000;
    })
    .await;
    let (alice, bob) = (user(&app, "alice").await, user(&app, "bob").await);
    let mut sender = connect(&app.address, &alice).await;
    let mut reader = connect(&app.address, &bob).await;
    let stalled = stalled_connection(&app.address, &bob).await;
    let slow_before = slow_consumer_disconnects(&app).await;
    let body = "x".repeat(60_000);
    let count = 300;
    for n in 0..count {
        let ack = sender
            .request("message:send", send(&bob, &body, &format!("big-{n}")))
            .await
            .unwrap();
        assert_eq!(ack["ok"], true);
    }
    for _ in 0..count {
        reader.next("message:new").await.unwrap();
    }
    assert!(slow_consumer_disconnects(&app).await > slow_before);
    drop(stalled);
}

async fn slow_consumer_disconnects(app: &TestApp) -> u64 {
    let metrics = app.get("/metrics", None).await.text().await.unwrap();
    metrics
        .lines()
        .find(|line| line.starts_with("confab_slow_consumer_disconnects_total"))
        .and_then(|line| line.rsplit(' ').next())
        .and_then(|value| value.parse::<f64>().ok())
        .map_or(0, |value| value as u64)
}

#[actix_web::test]
async fn a_sender_over_the_rate_limit_is_refused_and_nothing_is_stored() {
    let app = TestApp::spawn_with(Backend::Sqlite, |settings| {
        settings.messages_per_sec = 1;
        settings.messages_burst = 3;
    })
    .await;
    let (alice, bob) = (user(&app, "alice").await, user(&app, "bob").await);
    let mut phone = connect(&app.address, &alice).await;
    let mut codes = Vec::new();
    for n in 0..4 {
        let ack = phone
            .request("message:send", send(&bob, "hi", &format!("r{n}")))
            .await
            .unwrap();
        codes.push(ack["error"]["code"].as_str().unwrap_or("ok").to_owned());
    }
    assert_eq!(codes, ["ok", "ok", "ok", "rate_limited"]);
    assert_eq!(message::Entity::find().count(&app.db).await.unwrap(), 3);
}

/// A group owned by `owner` with `members`, written straight to the database.
async fn group_of(app: &TestApp, owner: &User, members: &[&User]) -> String {
    use confab_entities::{GroupRole, group, group_member};
    use sea_orm::{ActiveModelTrait, Set};
    let id = uuid::Uuid::now_v7().to_string();
    let now = chrono::Utc::now();
    group::ActiveModel {
        id: Set(id.clone()),
        name: Set("team".into()),
        public: Set(false),
        owner_id: Set(owner.id.clone()),
        created_at: Set(now),
    }
    .insert(&app.db)
    .await
    .unwrap();
    let roles = std::iter::once((owner, GroupRole::Owner))
        .chain(members.iter().map(|m| (*m, GroupRole::Member)));
    for (user, role) in roles {
        group_member::ActiveModel {
            group_id: Set(id.clone()),
            user_id: Set(user.id.clone()),
            role: Set(role),
            joined_at: Set(now),
        }
        .insert(&app.db)
        .await
        .unwrap();
    }
    id
}

/// Every message event, for each kind of caller: who may act, and what the others get.
#[actix_web::test]
async fn message_events_are_allowed_to_members_only() {
    use confab_entities::block;
    use sea_orm::{ActiveModelTrait, Set};
    let app = TestApp::spawn(Backend::Sqlite).await;
    let owner = user(&app, "owner").await;
    let member = user(&app, "member").await;
    let outsider = user(&app, "outsider").await;
    let blocked = user(&app, "blocked").await;
    let group = group_of(&app, &owner, &[&member]).await;
    block::ActiveModel {
        user_id: Set(owner.id.clone()),
        blocked_id: Set(blocked.id.clone()),
        created_at: Set(chrono::Utc::now()),
    }
    .insert(&app.db)
    .await
    .unwrap();
    let mut owners = connect(&app.address, &owner).await;
    let first = owners
        .request(
            "message:send",
            json!({"to": {"group": group}, "body": "hi", "client_msg_id": "o1"}),
        )
        .await
        .unwrap();
    let conversation = first["message"]["conversation"]
        .as_str()
        .unwrap()
        .to_owned();
    let direct = owners
        .request("message:send", send(&member, "hi", "o2"))
        .await
        .unwrap();
    let direct_conversation = direct["message"]["conversation"]
        .as_str()
        .unwrap()
        .to_owned();

    let events = |n: usize| {
        [
            (
                "message:send",
                json!({"to": {"group": group}, "body": "x", "client_msg_id": format!("e{n}")}),
            ),
            ("history", json!({"conversation": conversation})),
            ("read", json!({"conversation": conversation, "seq": 1})),
            ("history", json!({"conversation": direct_conversation})),
        ]
    };
    // (caller, expected code per event: None = allowed)
    let expectations: [(&User, [Option<&str>; 4]); 4] = [
        (&owner, [None, None, None, None]),
        (&member, [None, None, None, None]),
        (
            &outsider,
            [
                Some("not_found"),
                Some("not_found"),
                Some("not_found"),
                Some("not_found"),
            ],
        ),
        (
            &blocked,
            [
                Some("not_found"),
                Some("not_found"),
                Some("not_found"),
                Some("not_found"),
            ],
        ),
    ];
    for (n, (caller, expected)) in expectations.into_iter().enumerate() {
        let mut socket = connect(&app.address, caller).await;
        for ((event, payload), expected) in events(n).into_iter().zip(expected) {
            let ack = socket.request(event, payload.clone()).await.unwrap();
            match expected {
                None => assert_eq!(ack["ok"], true, "{event} {payload}: {ack}"),
                Some(code) => assert_eq!(ack["error"]["code"], code, "{event} {payload}: {ack}"),
            }
        }
    }
    // A blocked user cannot write to the user who blocked them, nor the other way round.
    let mut blockeds = connect(&app.address, &blocked).await;
    let refused = blockeds
        .request("message:send", send(&owner, "hey", "b1"))
        .await
        .unwrap();
    assert_eq!(refused["error"]["code"], "blocked");
    let refused = owners
        .request("message:send", send(&blocked, "hey", "o3"))
        .await
        .unwrap();
    assert_eq!(refused["error"]["code"], "blocked");
    // And sees the blocker as offline, never seen.
    let presence = blockeds
        .request("presence:query", json!({"users": [owner.id]}))
        .await
        .unwrap();
    assert_eq!(presence["presence"][0]["online"], false);
}

#[actix_web::test]
async fn message_endpoints_refuse_missing_forged_and_expired_tokens() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let alice = user(&app, "alice").await;
    let now = jsonwebtoken::get_current_timestamp();
    let sign = |secret: &str, exp: u64| {
        let claims = json!({"sub": alice.id, "iss": "confab", "iat": now - 100, "exp": exp});
        jsonwebtoken::encode(
            &jsonwebtoken::Header::default(),
            &claims,
            &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()),
        )
        .unwrap()
    };
    let tokens = [
        (None, "missing_token"),
        (
            Some(sign("a-forged-secret-of-sufficient-length", now + 60)),
            "invalid_token",
        ),
        (Some(sign(TEST_SECRET, now - 10)), "token_expired"),
    ];
    let body = send(&alice, "x", "t");
    for (token, code) in tokens {
        let requests = [
            app.client
                .post(format!("{}/api/v1/messages", app.address))
                .json(&body),
            app.client
                .get(format!("{}/api/v1/conversations", app.address)),
            app.client.get(format!(
                "{}/api/v1/conversations/d:a:b/messages",
                app.address
            )),
        ];
        for request in requests {
            let request = match &token {
                Some(token) => request.bearer_auth(token),
                None => request,
            };
            let reply = request.send().await.unwrap();
            assert_eq!(
                crate::helpers::error_code(reply, reqwest::StatusCode::UNAUTHORIZED).await,
                code
            );
        }
    }
    assert_eq!(message::Entity::find().count(&app.db).await.unwrap(), 0);
}

/// Makes `a` and `b` contacts through the API (request, accept).
async fn befriend(app: &TestApp, a: &User, b: &User) {
    let mut asker = connect(&app.address, a).await;
    let request = asker
        .request("contact:request", json!({"user_id": b.id}))
        .await
        .unwrap();
    assert_eq!(request["ok"], true, "{request}");
    let mut answerer = connect(&app.address, b).await;
    let id = request["request"]["id"].as_str().unwrap();
    let accepted = answerer
        .request("contact:accept", json!({"id": id}))
        .await
        .unwrap();
    assert_eq!(accepted["ok"], true, "{accepted}");
    asker.close();
    answerer.close();
}

#[actix_web::test]
async fn contacts_see_each_other_come_and_go_and_strangers_are_not_told() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let (alice, bob, eve) = (
        user(&app, "alice").await,
        user(&app, "bob").await,
        user(&app, "eve").await,
    );
    befriend(&app, &alice, &bob).await;
    let mut bobs = connect(&app.address, &bob).await;
    let mut eves = connect(&app.address, &eve).await;
    let alices = connect(&app.address, &alice).await;
    let online = loop {
        let presence = bobs.next("presence").await.unwrap();
        if presence["user"] == alice.id.as_str() && presence["online"] == true {
            break presence;
        }
    };
    assert_eq!(online["last_seen"], Value::Null);
    alices.close();
    let offline = loop {
        let presence = bobs.next("presence").await.unwrap();
        if presence["user"] == alice.id.as_str() && presence["online"] == false {
            break presence;
        }
    };
    assert!(offline["last_seen"].is_string(), "{offline}");
    // Eve is no contact: nothing was pushed to her, but she may ask.
    assert!(eves.received("presence").is_empty());
    let asked = eves
        .request("presence:query", json!({"users": [alice.id]}))
        .await
        .unwrap();
    assert_eq!(asked["presence"][0]["online"], false);
    assert_eq!(asked["presence"][0]["last_seen"], offline["last_seen"]);
}

#[actix_web::test]
async fn receipts_reach_the_others_and_the_readers_devices_typing_only_the_others() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let (alice, bob) = (user(&app, "alice").await, user(&app, "bob").await);
    let mut alices = connect(&app.address, &alice).await;
    let mut bob_phone = connect(&app.address, &bob).await;
    let mut bob_laptop = connect(&app.address, &bob).await;
    let sent = alices
        .request("message:send", send(&bob, "hi", "r1"))
        .await
        .unwrap();
    let conversation = sent["message"]["conversation"].as_str().unwrap().to_owned();

    let read = bob_phone
        .request("read", json!({"conversation": conversation, "seq": 1}))
        .await
        .unwrap();
    assert_eq!(read["ok"], true, "{read}");
    let receipt = json!({"conversation": conversation, "user": bob.id, "seq": 1});
    assert_eq!(alices.next("receipt").await.unwrap(), receipt);
    assert_eq!(bob_laptop.next("receipt").await.unwrap(), receipt);
    let beyond = bob_phone
        .request("read", json!({"conversation": conversation, "seq": 2}))
        .await
        .unwrap();
    assert_eq!(beyond["error"]["code"], "invalid_request");

    bob_phone
        .emit(
            "typing",
            json!({"conversation": conversation, "typing": true}),
        )
        .unwrap();
    let typing = alices.next("typing").await.unwrap();
    assert_eq!(
        typing,
        json!({"conversation": conversation, "user": bob.id, "typing": true})
    );
    // Bob's own devices are not told he is typing: a round trip later, nothing came.
    bob_laptop
        .request("presence:query", json!({"users": []}))
        .await
        .unwrap();
    assert!(bob_laptop.received("typing").is_empty());
}
