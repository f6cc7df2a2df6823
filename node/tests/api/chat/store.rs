//! The store's batches: every rule a message must meet is checked per entry inside the
//! batch's transaction, so one refused entry never fails or delays the others, and the
//! sequence numbers of several conversations are reserved together.

use confab_entities::message;
use confab_node::chat::conversations::Conversation;
use confab_node::store::append::{Appended, Refusal, append_batch};
use confab_node::store::messages::NewMessage;
use confab_testkit::Backend;
use sea_orm::{EntityTrait, PaginatorTrait};

use super::{User, block, group_of, user};
use crate::helpers::{TestApp, on_every_backend};

on_every_backend!(
    a_batch_answers_each_entry_by_the_rules_in_one_transaction,
    a_batch_larger_than_one_statement_stores_every_entry_in_order,
);

fn entry(sender: &User, to: Conversation, client_msg_id: &str) -> NewMessage {
    NewMessage {
        conversation: to.to_ref(),
        sender_id: sender.id.clone(),
        body: format!("body of {client_msg_id}"),
        meta: None,
        client_msg_id: client_msg_id.to_owned(),
    }
}

/// The (conversation, seq) of a stored entry.
fn placed(appended: &Appended) -> (String, i64) {
    let stored = appended.as_ref().expect("stored");
    (stored.conversation_id.clone(), stored.seq)
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
    };
    let with_bob = Conversation::direct(&alice.id, &bob.id);
    let in_group = Conversation::group(&group);
    let batch = [
        entry(&alice, with_bob.clone(), "a1"),
        entry(&alice, Conversation::direct(&alice.id, &carol.id), "a2"),
        entry(&alice, Conversation::direct(&alice.id, &ghost.id), "a3"),
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
        results[6], results[0],
        "a repeat inside the batch is the first one"
    );
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
    assert_eq!(results_next[1], results[0]);
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
        groups.push(Conversation::group(&group_of(&app, &alice, &[]).await));
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
