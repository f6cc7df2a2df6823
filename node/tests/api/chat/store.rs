//! The store's batches: every rule a message must meet is checked per entry inside the
//! batch's transaction, so one refused entry never fails or delays the others, and the
//! sequence numbers of several conversations are reserved together.

use actix::Actor;
use confab_entities::message;
use confab_node::actors::store::{Append, StoreActor, StoreError};
use confab_node::chat::conversations::Conversation;
use confab_node::store::append::{Appended, Refusal, append_batch};
use confab_node::store::messages::NewMessage;
use confab_protocol::chat::{GroupId, UserId};
use confab_testkit::Backend;
use std::pin::Pin;
use std::time::Duration;

use confab_testkit::SioClient;
use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use sea_orm::{
    ConnectionTrait, DatabaseTransaction, EntityTrait, PaginatorTrait, TransactionTrait,
};
use serde_json::Value;

use super::{User, block, connect, group_of, send, user};
use crate::helpers::{TestApp, on_every_backend};

on_every_backend!(
    a_batch_answers_each_entry_by_the_rules_in_one_transaction,
    a_batch_larger_than_one_statement_stores_every_entry_in_order,
);

mod on_a_locked_database {
    use super::*;
    #[actix_web::test]
    async fn postgres_statement_timeout() {
        a_stuck_transaction_fails_with_unavailable_within_the_statement_timeout(Backend::Postgres)
            .await
    }
    #[actix_web::test]
    async fn mysql_statement_timeout() {
        a_stuck_transaction_fails_with_unavailable_within_the_statement_timeout(Backend::MySql)
            .await
    }
    #[actix_web::test]
    async fn postgres_queue_bound() {
        past_the_queue_bound_a_send_is_refused_at_once_and_nothing_is_lost(Backend::Postgres).await
    }
}

/// A test user's id, typed.
fn user_id(user: &User) -> UserId {
    UserId::stored(user.id.clone())
}

fn entry(sender: &User, to: Conversation, client_msg_id: &str) -> NewMessage {
    NewMessage {
        conversation: to.to_ref(),
        sender_id: sender.id.clone(),
        body: format!("body of {client_msg_id}"),
        meta: None,
        client_msg_id: client_msg_id.to_owned(),
        reply_to: None,
        mentions: None,
        attachments: None,
        size: 300,
    }
}

/// The (conversation, seq) of a stored entry.
fn placed(appended: &Appended) -> (String, i64) {
    let stored = appended.as_ref().expect("stored");
    (stored.message.conversation_id.clone(), stored.message.seq)
}

/// The stored message of an entry, and whether this entry stored it.
fn stored(appended: &Appended) -> (&message::Model, bool) {
    let stored = appended.as_ref().expect("stored");
    (&stored.message, stored.fresh)
}

async fn a_batch_answers_each_entry_by_the_rules_in_one_transaction(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let alice = user(&app, "alice").await;
    let bob = user(&app, "bob").await;
    let carol = user(&app, "carol").await;
    let group = group_of(&app, &alice, &[&bob]).await;
    block(&app, &carol, &alice).await;
    let ghost = User {
        id: uuid::Uuid::now_v7().to_string(),
        token: String::new(),
        session_id: String::new(),
    };
    let with_bob = Conversation::direct(&user_id(&alice), &user_id(&bob));
    let in_group = Conversation::group(&GroupId::stored(group.clone()));
    let batch = [
        entry(&alice, with_bob.clone(), "a1"),
        entry(
            &alice,
            Conversation::direct(&user_id(&alice), &user_id(&carol)),
            "a2",
        ),
        entry(
            &alice,
            Conversation::direct(&user_id(&alice), &user_id(&ghost)),
            "a3",
        ),
        entry(&alice, in_group.clone(), "a4"),
        entry(&carol, in_group.clone(), "c1"),
        entry(&bob, with_bob.clone(), "b1"),
        entry(&alice, with_bob.clone(), "a1"),
        entry(&bob, in_group.clone(), "b2"),
    ];
    let results = append_batch(&app.db, &batch).await.expect("batch");
    assert_eq!(results.len(), batch.len());
    let with_bob_id = with_bob.to_ref().id;
    let group_id = in_group.to_ref().id;
    assert_eq!(placed(&results[0]), (with_bob_id.clone(), 1));
    assert_eq!(results[1], Err(Refusal::Blocked), "carol blocked alice");
    assert_eq!(results[2], Err(Refusal::NoSuchUser));
    assert_eq!(placed(&results[3]), (group_id.clone(), 1));
    assert_eq!(results[4], Err(Refusal::NotMember));
    assert_eq!(placed(&results[5]), (with_bob_id.clone(), 2));
    assert_eq!(
        stored(&results[6]),
        (stored(&results[0]).0, false),
        "a repeat inside the batch is the first one, not stored again"
    );
    assert!(stored(&results[0]).1, "the first one is fresh");
    assert_eq!(placed(&results[7]), (group_id.clone(), 2));

    // The next batch continues both conversations; a repeat of a stored message gets it
    // back and stores nothing.
    let next = [
        entry(&bob, in_group.clone(), "b3"),
        entry(&alice, with_bob.clone(), "a1"),
        entry(&alice, with_bob.clone(), "a5"),
    ];
    let results_next = append_batch(&app.db, &next).await.expect("second batch");
    assert_eq!(placed(&results_next[0]), (group_id.clone(), 3));
    assert_eq!(stored(&results_next[1]), (stored(&results[0]).0, false));
    assert_eq!(placed(&results_next[2]), (with_bob_id.clone(), 3));
    let stored = message::Entity::find().count(&app.db).await.unwrap();
    assert_eq!(stored, 6, "four from the first batch, two from the second");
    for (conversation, last) in [(with_bob_id, 3), (group_id, 3)] {
        let row = confab_entities::conversation::Entity::find_by_id(conversation.clone())
            .one(&app.db)
            .await
            .unwrap()
            .expect("conversation");
        assert_eq!(row.last_seq, last, "{conversation}");
    }
}

/// More conversations and messages than one statement covers: every entry is checked,
/// stored once and numbered in order.
async fn a_batch_larger_than_one_statement_stores_every_entry_in_order(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let alice = user(&app, "alice").await;
    let mut groups = Vec::new();
    for _ in 0..70 {
        groups.push(Conversation::group(&GroupId::stored(
            group_of(&app, &alice, &[]).await,
        )));
    }
    let batch: Vec<NewMessage> = (0..2)
        .flat_map(|round| {
            groups
                .iter()
                .enumerate()
                .map(move |(n, group)| (round, n, group))
        })
        .map(|(round, n, group)| entry(&alice, group.clone(), &format!("{n}-{round}")))
        .collect();
    let results = append_batch(&app.db, &batch).await.expect("batch");
    for (new, result) in batch.iter().zip(&results) {
        let round: i64 = new.client_msg_id[new.client_msg_id.len() - 1..]
            .parse()
            .unwrap();
        assert_eq!(
            placed(result),
            (new.conversation.id.clone(), round + 1),
            "{}",
            new.client_msg_id
        );
    }
    let stored = message::Entity::find().count(&app.db).await.unwrap();
    assert_eq!(stored, 140);
}

/// PostgreSQL cannot store U+0000. The chat refuses it before the store, but whatever
/// else fails one entry must fail it alone: its neighbours in the batch are stored.
#[actix_web::test]
async fn an_entry_the_database_refuses_fails_alone_and_its_batch_is_stored() {
    let app = TestApp::spawn(Backend::Postgres).await;
    let (alice, bob) = (user(&app, "alice").await, user(&app, "bob").await);
    let store = StoreActor::new(app.db.clone(), usize::MAX).start();
    let with_bob = Conversation::direct(&user_id(&alice), &user_id(&bob));
    let sends = (0..40).map(|n| {
        let mut new = entry(&alice, with_bob.clone(), &format!("m{n}"));
        if n == 17 {
            new.body = "bad \0 body".to_owned();
        }
        store.send(Append(new))
    });
    let results = futures_util::future::join_all(sends).await;
    for (n, result) in results.into_iter().enumerate() {
        let result = result.expect("the store answers");
        if n == 17 {
            assert!(matches!(result, Err(StoreError::Database(_))), "{result:?}");
        } else {
            assert!(matches!(result, Ok(Ok(_))), "entry {n}: {result:?}");
        }
    }
    let count = message::Entity::find().count(&app.db).await.unwrap();
    assert_eq!(count, 39);
}

/// Locks the row of the conversation of `ack`'s message until the transaction is dropped
/// or rolled back: every write to that conversation waits for it.
async fn lock_conversation(app: &TestApp, ack: &Value) -> DatabaseTransaction {
    let id = ack["message"]["conversation"]
        .as_str()
        .expect("a stored message");
    let txn = app.db.begin().await.unwrap();
    txn.execute_unprepared(&format!(
        "SELECT last_seq FROM conversations WHERE id = '{id}' FOR UPDATE"
    ))
    .await
    .unwrap();
    txn
}

/// Sends a message with the id `client_msg_id` and gives its ack without waiting.
fn start_send(
    client: &mut SioClient,
    to: &User,
    client_msg_id: &str,
) -> impl Future<Output = Value> + use<> {
    // The ack does not borrow the client ('static): boxed, it stops looking as if it did.
    let ack: Pin<Box<dyn Future<Output = anyhow::Result<Value>> + Send>> = Box::pin(
        client
            .send_request("message:send", send(to, "x", client_msg_id))
            .unwrap(),
    );
    async move {
        tokio::time::timeout(Duration::from_secs(30), ack)
            .await
            .expect("an ack within 30 s")
            .unwrap()
    }
}

/// A node with `adjust`ed settings, alice's connection once her first message to bob is
/// stored, bob, and a transaction holding that conversation's row locked.
async fn a_locked_conversation(
    backend: Backend,
    adjust: impl FnOnce(&mut confab_node::config::Settings),
) -> (TestApp, SioClient, User, DatabaseTransaction) {
    let app = TestApp::spawn_with(backend, adjust).await;
    let (alice, bob) = (user(&app, "alice").await, user(&app, "bob").await);
    let mut phone = connect(&app.address, &alice).await;
    let first = phone
        .request("message:send", send(&bob, "x", "m0"))
        .await
        .unwrap();
    let lock = lock_conversation(&app, &first).await;
    (app, phone, bob, lock)
}

async fn a_stuck_transaction_fails_with_unavailable_within_the_statement_timeout(backend: Backend) {
    let (_app, mut phone, bob, lock) = a_locked_conversation(backend, |settings| {
        settings.database_statement_timeout_ms = 1000;
    })
    .await;
    // Without a timeout the write would wait for the lock as long as it is held.
    let stuck = start_send(&mut phone, &bob, "m1").await;
    assert_eq!(stuck["error"]["code"], "unavailable", "{stuck}");
    lock.rollback().await.unwrap();
    let retried = phone
        .request("message:send", send(&bob, "x", "m1"))
        .await
        .unwrap();
    assert_eq!(retried["message"]["seq"], 2, "{retried}");
}

async fn past_the_queue_bound_a_send_is_refused_at_once_and_nothing_is_lost(backend: Backend) {
    // Room for five small messages; a statement timeout far longer than the test.
    let (app, mut phone, bob, lock) = a_locked_conversation(backend, |settings| {
        settings.store_queue_bytes = 5 * 210;
        settings.database_statement_timeout_ms = 120_000;
    })
    .await;
    let ids: Vec<String> = (1..=20).map(|n| format!("m{n}")).collect();
    let mut acks: FuturesUnordered<_> = ids
        .iter()
        .map(|id| {
            let ack = start_send(&mut phone, &bob, id);
            let id = id.clone();
            async move { (id, ack.await) }
        })
        .collect();
    // 201 bytes each: the queue takes five, which wait for the lock; the other fifteen are
    // answered while it is held.
    let mut refused = Vec::new();
    while refused.len() < 15 {
        let (id, ack) = acks.next().await.expect("an ack");
        assert_eq!(ack["error"]["code"], "unavailable", "{id}: {ack}");
        refused.push(id);
    }
    lock.rollback().await.unwrap();
    let mut queued = Vec::new();
    while let Some((id, ack)) = acks.next().await {
        assert_eq!(ack["ok"], true, "{id} was queued and is stored: {ack}");
        queued.push(id);
    }
    assert_eq!(queued.len(), 5);
    assert_eq!(message::Entity::find().count(&app.db).await.unwrap(), 6);
    // The refused ones are stored when they are sent again.
    for id in &refused {
        let ack = phone
            .request("message:send", send(&bob, "x", id))
            .await
            .unwrap();
        assert_eq!(ack["ok"], true, "{id}: {ack}");
    }
    assert_eq!(message::Entity::find().count(&app.db).await.unwrap(), 21);
}
