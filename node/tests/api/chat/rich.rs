//! Rich messages on every backend: edits and deletions as entries of their own (live, in
//! `sync`, and in `history` as the current state), who may change what, replies and
//! mentions, reactions and their bound, and disappearing messages.

use confab_entities::{message, reaction};
use confab_testkit::{Backend, eventually};
use reqwest::StatusCode;
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use serde_json::{Value, json};

use super::{connect, connect_routed, group_of, send, user};
use crate::helpers::{TestApp, direct_conversation, on_every_backend};

on_every_backend!(
    an_edit_reaches_everyone_replays_in_sync_and_shows_in_history,
    a_deletion_removes_the_text_from_the_database_and_is_answered_once,
    only_authors_edit_and_group_managers_delete_what_others_wrote,
    replies_and_mentions_must_point_inside_the_conversation,
    reactions_are_counted_per_emoji_and_bounded_per_message,
    disappearing_messages_are_deleted_and_their_members_told,
);

/// `{conversation, seq}` of an acked message.
fn at(message: &Value) -> Value {
    json!({"conversation": message["conversation"], "seq": message["seq"]})
}

/// The ack's error code (`null` when it succeeded).
fn code(ack: &Value) -> &Value {
    &ack["error"]["code"]
}

/// The conversation's history as `reader` sees it.
async fn history(client: &mut confab_testkit::SioClient, conversation: &Value) -> Vec<Value> {
    let page = client
        .request("history", json!({"conversation": conversation}))
        .await
        .unwrap();
    assert_eq!(page["ok"], true, "{page}");
    page["messages"].as_array().unwrap().clone()
}

async fn an_edit_reaches_everyone_replays_in_sync_and_shows_in_history(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (alice, bob) = (user(&app, "alice").await, user(&app, "bob").await);
    let mut phone = connect(&app.address, &alice).await;
    let mut laptop = connect(&app.address, &alice).await;
    let mut bobs = connect(&app.address, &bob).await;
    let sent = phone
        .request("message:send", send(&bob, "helo", "m-1"))
        .await
        .unwrap();
    let original = &sent["message"];
    assert_eq!(original["kind"], "message");
    bobs.next("message:new").await.unwrap();

    let mut edit = at(original);
    edit["body"] = json!("hello");
    let edited = phone.request("message:edit", edit).await.unwrap();
    assert_eq!(edited["ok"], true, "{edited}");
    let entry = &edited["message"];
    assert_eq!(entry["kind"], "edit");
    assert_eq!(entry["seq"], 2, "an edit takes the conversation's next seq");
    assert_eq!(entry["target"], 1);
    assert_eq!(entry["body"], "hello");
    assert_eq!(&bobs.next("message:edited").await.unwrap(), entry);
    assert_eq!(&laptop.next("message:edited").await.unwrap(), entry);

    // History shows the message as it is now, without the edit entry.
    let shown = history(&mut bobs, &original["conversation"]).await;
    assert_eq!(shown.len(), 1, "{shown:?}");
    assert_eq!(shown[0]["body"], "hello");
    assert!(shown[0]["edited_at"].is_string(), "{}", shown[0]);
    // Sync replays the message, then the edit, in seq order.
    let synced = bobs.request("sync", json!({"cursors": {}})).await.unwrap();
    let kinds: Vec<(&Value, &Value)> = synced["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|entry| (&entry["seq"], &entry["kind"]))
        .collect();
    assert_eq!(
        kinds,
        [(&json!(1), &json!("message")), (&json!(2), &json!("edit"))]
    );
    // A message sent after it takes the seq after the edit.
    let next = bobs
        .request("message:send", send(&alice, "ok", "b-1"))
        .await
        .unwrap();
    assert_eq!(next["message"]["seq"], 3);
    // Unread counts others' messages only: not the edit entry, not one's own.
    let unread = |token: String| {
        let app = &app;
        async move {
            let listed: Value = app
                .get("/api/v1/conversations", Some(&token))
                .await
                .json()
                .await
                .unwrap();
            listed["conversations"][0]["unread"].clone()
        }
    };
    assert_eq!(unread(bob.token.clone()).await, 1);
    assert_eq!(unread(alice.token.clone()).await, 1);
    let read = json!({"conversation": original["conversation"], "seq": 3});
    bobs.request("read", read).await.unwrap();
    assert_eq!(unread(bob.token.clone()).await, 0);

    // Edits obey the limits of a new message.
    let mut nul = at(original);
    nul["body"] = json!("a\u{0}b");
    let refused = phone.request("message:edit", nul).await.unwrap();
    assert_eq!(code(&refused), "invalid_request", "{refused}");
    let mut nowhere = at(original);
    nowhere["seq"] = json!(99);
    nowhere["body"] = json!("x");
    let missing = phone.request("message:edit", nowhere).await.unwrap();
    assert_eq!(code(&missing), "not_found", "{missing}");
}

async fn a_deletion_removes_the_text_from_the_database_and_is_answered_once(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (alice, bob) = (user(&app, "alice").await, user(&app, "bob").await);
    let mut alices = connect(&app.address, &alice).await;
    let mut bobs = connect(&app.address, &bob).await;
    let sent = alices
        .request("message:send", send(&bob, "secret one", "m-1"))
        .await
        .unwrap();
    let original = &sent["message"];
    let mut edit = at(original);
    edit["body"] = json!("secret two");
    alices.request("message:edit", edit).await.unwrap();
    let react = json!({"conversation": original["conversation"], "seq": 1, "emoji": "👍"});
    let reacted = bobs.request("reaction:add", react).await.unwrap();
    assert_eq!(reacted["ok"], true, "{reacted}");

    let deleted = alices
        .request("message:recall", at(original))
        .await
        .unwrap();
    assert_eq!(deleted["ok"], true, "{deleted}");
    let entry = &deleted["message"];
    assert_eq!(
        (&entry["kind"], &entry["target"], &entry["seq"]),
        (&json!("delete"), &json!(1), &json!(3))
    );
    assert_eq!(&bobs.next("message:deleted").await.unwrap(), entry);

    let shown = history(&mut bobs, &original["conversation"]).await;
    assert_eq!(shown[0]["body"], "", "a tombstone: {}", shown[0]);
    assert!(shown[0]["deleted_at"].is_string());
    assert_eq!(shown[0]["reactions"], json!([]));
    // Nothing of the text is left in the database: not the message, not its edit.
    for text in ["secret one", "secret two"] {
        let left = message::Entity::find()
            .filter(message::Column::Body.eq(text))
            .count(&app.db)
            .await
            .unwrap();
        assert_eq!(left, 0, "{text} is still stored");
    }
    assert_eq!(reaction::Entity::find().count(&app.db).await.unwrap(), 0);

    // A retry (the ack was lost) gets the same deletion and stores nothing new.
    let again = alices
        .request("message:delete", at(original))
        .await
        .unwrap();
    assert_eq!(&again["message"], entry);
    assert_eq!(message::Entity::find().count(&app.db).await.unwrap(), 3);
    // A deleted message is not edited or reacted to.
    let mut edit = at(original);
    edit["body"] = json!("back");
    let refused = alices.request("message:edit", edit).await.unwrap();
    assert_eq!(code(&refused), "not_found", "{refused}");
}

async fn only_authors_edit_and_group_managers_delete_what_others_wrote(backend: Backend) {
    let app = TestApp::spawn_with(backend, |settings| settings.recall_window_secs = 60).await;
    let (owner, member, other) = (
        user(&app, "owner").await,
        user(&app, "member").await,
        user(&app, "other").await,
    );
    let group = group_of(&app, &owner, &[&member, &other]).await;
    let mut owners = connect_routed(&app.address, &owner).await;
    let mut members = connect_routed(&app.address, &member).await;
    let mut others = connect_routed(&app.address, &other).await;
    let to_group =
        |body: &str, id: &str| json!({"to": {"group": group}, "body": body, "client_msg_id": id});
    let first = members
        .request("message:send", to_group("mine", "m-1"))
        .await
        .unwrap();
    let first = &first["message"];

    let mut edit = at(first);
    edit["body"] = json!("theirs");
    let not_author = others.request("message:edit", edit.clone()).await.unwrap();
    assert_eq!(code(&not_author), "forbidden", "{not_author}");
    let by_owner = owners.request("message:edit", edit).await.unwrap();
    assert_eq!(code(&by_owner), "forbidden", "nobody edits another's words");
    let not_manager = others.request("message:delete", at(first)).await.unwrap();
    assert_eq!(code(&not_manager), "forbidden", "{not_manager}");
    let recall_by_owner = owners.request("message:recall", at(first)).await.unwrap();
    assert_eq!(code(&recall_by_owner), "forbidden", "only authors recall");

    // Past the recall window the author may no longer delete; the owner still may.
    let old = chrono::Utc::now() - chrono::TimeDelta::hours(1);
    message::Entity::update_many()
        .col_expr(
            message::Column::CreatedAt,
            sea_orm::sea_query::Expr::value(old),
        )
        .exec(&app.db)
        .await
        .unwrap();
    let too_late = members.request("message:recall", at(first)).await.unwrap();
    assert_eq!(code(&too_late), "forbidden", "{too_late}");
    let moderated = owners.request("message:delete", at(first)).await.unwrap();
    assert_eq!(moderated["ok"], true, "{moderated}");
    assert_eq!(moderated["message"]["from"], owner.id.as_str());
    assert_eq!(
        others.next("message:deleted").await.unwrap(),
        moderated["message"]
    );

    // Someone outside the conversation learns nothing of it.
    let stranger = user(&app, "stranger").await;
    let mut strangers = connect(&app.address, &stranger).await;
    let outside = strangers
        .request("message:delete", at(first))
        .await
        .unwrap();
    assert_eq!(code(&outside), "not_found", "{outside}");
}

async fn replies_and_mentions_must_point_inside_the_conversation(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (alice, bob, carol) = (
        user(&app, "alice").await,
        user(&app, "bob").await,
        user(&app, "carol").await,
    );
    let group = group_of(&app, &alice, &[&bob]).await;
    let mut alices = connect_routed(&app.address, &alice).await;
    let mut bobs = connect(&app.address, &bob).await;
    let question = alices
        .request(
            "message:send",
            json!({"to": {"group": group}, "body": "who?", "client_msg_id": "q"}),
        )
        .await
        .unwrap();
    let answer = json!({
        "to": {"group": group}, "body": "me, @alice", "client_msg_id": "a",
        "reply_to": question["message"]["seq"], "mentions": [alice.id],
    });
    let answered = bobs.request("message:send", answer).await.unwrap();
    assert_eq!(answered["ok"], true, "{answered}");
    assert_eq!(answered["message"]["reply_to"], 1);
    assert_eq!(answered["message"]["mentions"], json!([alice.id]));
    assert_eq!(
        alices.next("message:new").await.unwrap(),
        answered["message"]
    );

    let refusals = [
        json!({"to": {"group": group}, "body": "x", "client_msg_id": "r1", "reply_to": 42}),
        json!({"to": {"group": group}, "body": "x", "client_msg_id": "r2", "mentions": [carol.id]}),
        json!({"to": {"user": bob.id}, "body": "x", "client_msg_id": "r3", "mentions": [bob.id]}),
        // A reply into another conversation: seq 1 of the group is not in the direct one.
        json!({"to": {"user": carol.id}, "body": "x", "client_msg_id": "r4", "reply_to": 1}),
    ];
    for refused in refusals {
        let ack = alices
            .request("message:send", refused.clone())
            .await
            .unwrap();
        assert_eq!(code(&ack), "invalid_request", "{refused}: {ack}");
    }
    // Past the bound of 50 mentions, whoever they name.
    let crowd = json!({
        "to": {"group": group}, "body": "x", "client_msg_id": "r5",
        "mentions": vec![alice.id.clone(); 51],
    });
    let ack = alices.request("message:send", crowd).await.unwrap();
    assert_eq!(code(&ack), "too_large", "{ack}");
    // A stranger to the group learns nothing from a reply or a mention: not a member.
    let stranger = json!({
        "to": {"group": group}, "body": "x", "client_msg_id": "s1", "reply_to": 1,
        "mentions": [carol.id],
    });
    let mut carols = connect(&app.address, &carol).await;
    let ack = carols.request("message:send", stranger).await.unwrap();
    assert_eq!(code(&ack), "not_found", "{ack}");
    assert_eq!(message::Entity::find().count(&app.db).await.unwrap(), 2);
}

async fn reactions_are_counted_per_emoji_and_bounded_per_message(backend: Backend) {
    let app = TestApp::spawn_with(backend, |settings| settings.max_reactions_per_message = 2).await;
    let (alice, bob) = (user(&app, "alice").await, user(&app, "bob").await);
    let mut alices = connect(&app.address, &alice).await;
    let mut bobs = connect(&app.address, &bob).await;
    let sent = alices
        .request("message:send", send(&bob, "react to me", "m-1"))
        .await
        .unwrap();
    let conversation = &sent["message"]["conversation"];
    let reaction = |emoji: &str| json!({"conversation": conversation, "seq": 1, "emoji": emoji});

    let first = alices
        .request("reaction:add", reaction("👍"))
        .await
        .unwrap();
    assert_eq!(first["ok"], true, "{first}");
    for emoji in ["👍", "🎉"] {
        let ack = bobs.request("reaction:add", reaction(emoji)).await.unwrap();
        assert_eq!(ack["ok"], true, "{ack}");
    }
    let told = alices.next("reaction").await.unwrap();
    assert_eq!(
        told,
        json!({"conversation": conversation, "seq": 1, "user": bob.id, "emoji": "👍", "added": true})
    );
    // Reacting again changes nothing.
    bobs.request("reaction:add", reaction("🎉")).await.unwrap();
    let third = bobs.request("reaction:add", reaction("😮")).await.unwrap();
    assert_eq!(code(&third), "too_many_reactions", "{third}");
    // An emoji already there is no new kind.
    let same = alices
        .request("reaction:add", reaction("🎉"))
        .await
        .unwrap();
    assert_eq!(same["ok"], true, "{same}");
    let blank = alices
        .request("reaction:add", reaction("a b"))
        .await
        .unwrap();
    assert_eq!(code(&blank), "invalid_request", "{blank}");

    let shown = history(&mut alices, conversation).await;
    assert_eq!(
        shown[0]["reactions"],
        json!([{"emoji": "🎉", "count": 2, "me": true}, {"emoji": "👍", "count": 2, "me": true}])
    );
    let removed = bobs
        .request("reaction:remove", reaction("🎉"))
        .await
        .unwrap();
    assert_eq!(removed["ok"], true);
    let shown = history(&mut bobs, conversation).await;
    assert_eq!(
        shown[0]["reactions"],
        json!([{"emoji": "👍", "count": 2, "me": true}, {"emoji": "🎉", "count": 1, "me": false}])
    );

    // Over HTTP: the same operations.
    let path = format!(
        "{}/api/v1/conversations/{}/messages/1/reactions/%F0%9F%91%8D",
        app.address,
        conversation.as_str().unwrap()
    );
    let gone = app
        .client
        .delete(&path)
        .bearer_auth(&alice.token)
        .send()
        .await
        .unwrap();
    assert_eq!(gone.status(), StatusCode::NO_CONTENT);
    let count = reaction::Entity::find()
        .filter(reaction::Column::Emoji.eq("👍"))
        .count(&app.db)
        .await
        .unwrap();
    assert_eq!(count, 1);
    let on_nothing = app
        .client
        .put(path.replace("/messages/1/", "/messages/7/"))
        .bearer_auth(&alice.token)
        .send()
        .await
        .unwrap();
    assert_eq!(on_nothing.status(), StatusCode::NOT_FOUND);
}

async fn disappearing_messages_are_deleted_and_their_members_told(backend: Backend) {
    let app = TestApp::spawn_with(backend, |settings| settings.expiry_sweep_ms = 100).await;
    let (alice, bob) = (user(&app, "alice").await, user(&app, "bob").await);
    let mut alices = connect(&app.address, &alice).await;
    let mut bobs = connect(&app.address, &bob).await;
    let kept = alices
        .request("message:send", send(&bob, "before", "m-1"))
        .await
        .unwrap();
    let conversation = direct_conversation(&alice.id, &bob.id);

    // Over HTTP; both users are told.
    let set = app
        .client
        .put(format!(
            "{}/api/v1/conversations/{conversation}/expiry",
            app.address
        ))
        .bearer_auth(&bob.token)
        .json(&json!({"seconds": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(set.status(), StatusCode::OK);
    let updated = json!({"id": conversation, "expire_secs": 1, "by": bob.id});
    assert_eq!(alices.next("conversation:updated").await.unwrap(), updated);
    assert_eq!(bobs.next("conversation:updated").await.unwrap(), updated);
    let listed: Value = app
        .get("/api/v1/conversations", Some(&alice.token))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(listed["conversations"][0]["expire_secs"], 1);

    let fleeting = alices
        .request("message:send", send(&bob, "gone soon", "m-2"))
        .await
        .unwrap();
    assert!(fleeting["message"]["expires_at"].is_string(), "{fleeting}");
    assert!(kept["message"]["expires_at"].is_null(), "set before: kept");
    let expired = bobs.next("messages:expired").await.unwrap();
    assert_eq!(expired, json!({"conversation": conversation, "seqs": [2]}));
    let within = std::time::Duration::from_secs(10);
    eventually(
        "the expired message to leave the database",
        within,
        || async {
            let left = message::Entity::find().count(&app.db).await.ok()?;
            (left == 1).then_some(())
        },
    )
    .await
    .unwrap();
    let shown = history(&mut alices, &json!(conversation)).await;
    assert_eq!(shown.len(), 1);
    assert_eq!(shown[0]["body"], "before");
    // The gap the expired message left does not make `sync` promise more.
    let synced = bobs.request("sync", json!({"cursors": {}})).await.unwrap();
    assert_eq!(synced["messages"].as_array().unwrap().len(), 1, "{synced}");
    assert_eq!(synced["more"], false, "{synced}");

    // Off again; out of range is refused; in a group only managers set it.
    let off = alices
        .request(
            "conversation:set_expiry",
            json!({"conversation": conversation, "seconds": null}),
        )
        .await
        .unwrap();
    assert_eq!(off["conversation"]["expire_secs"], Value::Null, "{off}");
    let nobody = alices
        .request(
            "conversation:set_expiry",
            json!({"conversation": direct_conversation(&alice.id, "0000-nobody"), "seconds": 5}),
        )
        .await
        .unwrap();
    assert_eq!(code(&nobody), "not_found", "{nobody}");
    let zero = alices
        .request(
            "conversation:set_expiry",
            json!({"conversation": conversation, "seconds": 0}),
        )
        .await
        .unwrap();
    assert_eq!(code(&zero), "invalid_request", "{zero}");
    let group = group_of(&app, &alice, &[&bob]).await;
    let by_member = bobs
        .request(
            "conversation:set_expiry",
            json!({"conversation": format!("g:{group}"), "seconds": 60}),
        )
        .await
        .unwrap();
    assert_eq!(code(&by_member), "forbidden", "{by_member}");
}
