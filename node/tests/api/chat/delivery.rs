//! Delivery beyond messages: presence, receipts, typing, a slow consumer cut off, and the
//! rate limit.

use std::time::{Duration, Instant};

use confab_entities::message;
use confab_testkit::Backend;
use sea_orm::{EntityTrait, PaginatorTrait};
use serde_json::{Value, json};

use super::{User, WebSocket, connect, raw_connect, raw_session, send, user};
use crate::helpers::{TestApp, direct_conversation, on_every_backend};

on_every_backend!(
    a_presence_query_answers_every_id_as_the_asker_may_see_it,
    receipts_reach_the_others_and_the_readers_devices_typing_only_the_others,
    cursors_moved_in_bulk_never_move_back,
);

/// Connects like a client, then never reads again.
async fn stalled_connection(address: &str, user: &User) -> WebSocket {
    let mut ws = raw_session(address).await;
    let reply = raw_connect(&mut ws, user).await;
    assert!(reply.starts_with("40{"), "{reply}");
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

/// Few frames, but large ones: 60,000 control characters encode to about 360 KB each.
/// The bytes waiting for the client bound it, not only the frames.
#[actix_web::test]
async fn a_client_that_stops_reading_is_cut_off_by_the_bytes_waiting_for_it() {
    use futures_util::StreamExt;
    let app = TestApp::spawn_with(Backend::Sqlite, |settings| {
        settings.messages_burst = 1000;
        settings.events_burst = 1000;
    })
    .await;
    assert_eq!(app.settings.outgoing_buffer_bytes, 1024 * 1024);
    // The heartbeat would close it too, but only after the deadline below.
    let deadline = Duration::from_secs(20);
    let heartbeat = app.settings.ping_interval_ms + app.settings.ping_timeout_ms;
    assert!(u128::from(heartbeat) > deadline.as_millis());
    let (alice, bob) = (user(&app, "alice").await, user(&app, "bob").await);
    let mut sender = connect(&app.address, &alice).await;
    let mut stalled = stalled_connection(&app.address, &bob).await;
    let body = "\u{1}".repeat(60_000);
    // 60 frames (the frame bound is 1024) of about 21 MB in all, more than the loopback's
    // socket buffers hold.
    for n in 0..60 {
        let ack = sender
            .request("message:send", send(&bob, &body, &format!("ctl-{n}")))
            .await
            .unwrap();
        assert_eq!(ack["ok"], true, "{ack}");
    }
    // Cut off: once it reads what was already on its way, its connection ends.
    let mut received = 0;
    let ended = tokio::time::timeout(deadline, async {
        while let Some(Ok(frame)) = stalled.next().await {
            if frame.is_close() {
                break;
            }
            received += 1;
        }
    })
    .await;
    assert!(ended.is_ok(), "still open after {received} frames");
    assert!(received < 60, "it was sent everything: {received}");
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
    // All four at once: sent one after the other, a slow machine could take the second the
    // limit needs to grant one more.
    let mut acks = Vec::new();
    for n in 0..4 {
        let payload = send(&bob, "hi", &format!("r{n}"));
        acks.push(phone.send_request("message:send", payload).unwrap());
    }
    let mut codes: Vec<String> = futures_util::future::try_join_all(acks)
        .await
        .unwrap()
        .iter()
        .map(|ack| ack["error"]["code"].as_str().unwrap_or("ok").to_owned())
        .collect();
    codes.sort();
    assert_eq!(codes, ["ok", "ok", "ok", "rate_limited"]);
    assert_eq!(message::Entity::find().count(&app.db).await.unwrap(), 3);
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
    // The node has taken in that `a` left before anything that follows connects `a` again
    // (a connection that is not `a`'s first is announced to nobody).
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let asked = answerer
            .request("presence:query", json!({"users": [a.id]}))
            .await
            .unwrap();
        if asked["presence"][0]["online"] == false {
            break;
        }
        assert!(Instant::now() < deadline, "the asker stays online: {asked}");
        actix_web::rt::time::sleep(Duration::from_millis(10)).await;
    }
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

/// What `GET /api/v1/conversations` says `reader` has read of `conversation`.
async fn read_seq(app: &TestApp, reader: &User, conversation: &str) -> Value {
    let reply = app.get("/api/v1/conversations", Some(&reader.token)).await;
    let listed: Value = reply.json().await.unwrap();
    let listed = listed["conversations"].as_array().unwrap();
    let found = listed.iter().find(|row| row["id"] == conversation);
    found.map_or(Value::Null, |row| row["read_seq"].clone())
}

async fn receipts_reach_the_others_and_the_readers_devices_typing_only_the_others(
    backend: Backend,
) {
    let app = TestApp::spawn(backend).await;
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
    assert_eq!(read_seq(&app, &bob, &conversation).await, 1);

    // Cursors only move forward: bob's devices read up to 3 and 2 at once (the two may
    // go in one statement), the cursor ends at 3; reading 2 again changes nothing.
    for (n, id) in [(2, "r2"), (3, "r3")] {
        let sent = alices
            .request("message:send", send(&bob, "more", id))
            .await
            .unwrap();
        assert_eq!(sent["message"]["seq"], n, "{sent}");
    }
    let (phone, laptop) = futures_util::join!(
        bob_phone.request("read", json!({"conversation": conversation, "seq": 3})),
        bob_laptop.request("read", json!({"conversation": conversation, "seq": 2})),
    );
    assert_eq!(
        (phone.unwrap()["ok"].clone(), laptop.unwrap()["ok"].clone()),
        (json!(true), json!(true))
    );
    assert_eq!(read_seq(&app, &bob, &conversation).await, 3);
    let again = bob_phone
        .request("read", json!({"conversation": conversation, "seq": 2}))
        .await
        .unwrap();
    assert_eq!(again["ok"], true, "{again}");
    assert_eq!(read_seq(&app, &bob, &conversation).await, 3);

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

async fn a_presence_query_answers_every_id_as_the_asker_may_see_it(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (alice, bob, carol) = (
        user(&app, "alice").await,
        user(&app, "bob").await,
        user(&app, "carol").await,
    );
    // Carol was online and left: she has a last-seen time.
    let carols = connect(&app.address, &carol).await;
    carols.close();
    let mut alices = connect(&app.address, &alice).await;
    let carol_left =
        confab_testkit::eventually("carol's last seen", Duration::from_secs(20), || async {
            let row = confab_entities::user::Entity::find_by_id(carol.id.clone())
                .one(&app.db)
                .await
                .ok()??;
            row.last_seen_at
                .map(|at| at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
        })
        .await
        .unwrap();
    let _bobs = connect(&app.address, &bob).await;
    super::block(&app, &bob, &alice).await;
    let asked = alices
        .request(
            "presence:query",
            json!({"users": [bob.id, carol.id, "no-such-user", alice.id]}),
        )
        .await
        .unwrap();
    let presence = asked["presence"].as_array().unwrap();
    let row = |n: usize| {
        (
            presence[n]["user"].clone(),
            presence[n]["online"].clone(),
            presence[n]["last_seen"].clone(),
        )
    };
    assert_eq!(
        row(0),
        (json!(bob.id), json!(false), Value::Null),
        "bob blocked alice"
    );
    assert_eq!(row(1), (json!(carol.id), json!(false), json!(carol_left)));
    assert_eq!(row(2), (json!("no-such-user"), json!(false), Value::Null));
    assert_eq!(row(3), (json!(alice.id), json!(true), Value::Null));
}

/// The statement that moves read cursors in bulk, on each database: a cursor takes the
/// furthest of its moves in one call, and a later move back leaves it (and its time) be.
async fn cursors_moved_in_bulk_never_move_back(backend: Backend) {
    use confab_node::store::cursors::{CursorMove, advance};
    let app = TestApp::spawn(backend).await;
    let (alice, bob) = (user(&app, "alice").await, user(&app, "bob").await);
    let mut alices = connect(&app.address, &alice).await;
    for id in ["c1", "c2", "c3"] {
        alices
            .request("message:send", send(&bob, "x", id))
            .await
            .unwrap();
    }
    let conversation = direct_conversation(&alice.id, &bob.id);
    let moved = |user: &User, seq| CursorMove {
        conversation_id: conversation.clone(),
        user_id: user.id.clone(),
        seq,
    };
    let early = chrono::DateTime::from_timestamp(1_000_000_000, 0).unwrap();
    let late = chrono::DateTime::from_timestamp(2_000_000_000, 0).unwrap();
    // Created; two moves of one cursor in one call count as the furthest.
    advance(
        &app.db,
        vec![moved(&bob, 2), moved(&bob, 1), moved(&alice, 3)],
        early,
    )
    .await
    .unwrap();
    assert_eq!(read_seq(&app, &bob, &conversation).await, 2);
    assert_eq!(read_seq(&app, &alice, &conversation).await, 3);
    // A move back is ignored, a move forward taken, in the same statement.
    advance(&app.db, vec![moved(&bob, 3), moved(&alice, 1)], late)
        .await
        .unwrap();
    assert_eq!(read_seq(&app, &bob, &conversation).await, 3);
    assert_eq!(read_seq(&app, &alice, &conversation).await, 3);
    let stored =
        confab_entities::read_cursor::Entity::find_by_id((conversation.clone(), alice.id.clone()))
            .one(&app.db)
            .await
            .unwrap()
            .unwrap();
    assert_eq!(stored.updated_at, early, "a move back leaves the time be");
}

/// The read cursors' writer holds at most its bound of receipts waiting: while its
/// statement waits for a row another transaction locked, one receipt past the bound is
/// refused at once, and the waiting ones are written once the lock goes.
#[actix_web::test]
async fn past_its_bound_the_cursor_writer_refuses_at_once_and_writes_the_waiting_ones() {
    use actix::Actor;
    use confab_node::actors::cursors::{CursorWriter, MoveCursor};
    use confab_node::actors::store::StoreError;
    use confab_node::store::cursors::{CursorMove, advance};
    use sea_orm::{ConnectionTrait, TransactionTrait};
    let app = TestApp::spawn(Backend::Postgres).await;
    let (alice, bob) = (user(&app, "alice").await, user(&app, "bob").await);
    let mut alices = connect(&app.address, &alice).await;
    alices
        .request("message:send", send(&bob, "x", "b1"))
        .await
        .unwrap();
    let conversation = direct_conversation(&alice.id, &bob.id);
    let moved = |user: &User| CursorMove {
        conversation_id: conversation.clone(),
        user_id: user.id.clone(),
        seq: 1,
    };
    advance(&app.db, vec![moved(&bob)], chrono::Utc::now())
        .await
        .unwrap();
    let lock = app.db.begin().await.unwrap();
    lock.execute_unprepared("SELECT * FROM read_cursors FOR UPDATE")
        .await
        .unwrap();

    let writer = CursorWriter::new(app.db.clone(), 2).start();
    // Bob's waits for the lock; two of alice's wait for it; the next one is past the bound.
    let written = writer.send(MoveCursor(moved(&bob)));
    let waiting = [
        writer.send(MoveCursor(moved(&alice))),
        writer.send(MoveCursor(moved(&alice))),
    ];
    // Answered while the lock is held: not queued behind it.
    let refused = tokio::time::timeout(
        Duration::from_secs(10),
        writer.send(MoveCursor(moved(&alice))),
    )
    .await
    .expect("refused at once");
    assert_eq!(refused.unwrap(), Err(StoreError::Busy));
    lock.rollback().await.unwrap();
    assert_eq!(written.await.unwrap(), Ok(()));
    for answer in waiting {
        assert_eq!(answer.await.unwrap(), Ok(()));
    }
    assert_eq!(read_seq(&app, &alice, &conversation).await, 1);
}
