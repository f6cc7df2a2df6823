//! One's own account over real HTTP, on every database: password change, profile and
//! avatar, privacy settings (who adds me to groups, who sees my presence), deletion and
//! export.

use std::time::Duration;

use confab_entities::user;
use confab_testkit::{Backend, PASSWORD, eventually};
use reqwest::{Method, StatusCode};
use sea_orm::EntityTrait;
use serde_json::{Value, json};

use crate::attachments::{png, uploaded};
use crate::chat::{User, connect, group_of, send, user};
use crate::groups_contacts::{body, call, friends, users};
use crate::helpers::{TestApp, error_code, on_every_backend};

on_every_backend!(
    a_password_change_ends_every_other_session,
    profiles_refuse_names_that_pass_for_others_and_take_image_avatars,
    privacy_decides_who_adds_me_to_groups_and_who_sees_my_presence,
    deleting_an_account_erases_it_and_keeps_its_messages,
);

/// `PATCH /me` as `who`.
async fn patch_me(app: &TestApp, who: &User, change: Value) -> reqwest::Response {
    call(app, who, Method::PATCH, "/me", Some(change)).await
}

async fn login(app: &TestApp, name: &str, password: &str) -> reqwest::Response {
    app.post(
        "/api/v1/auth/login",
        &json!({"username": name, "password": password}),
    )
    .await
}

async fn a_password_change_ends_every_other_session(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let alice = user(&app, "alice").await;
    let phone: Value = body(login(&app, "alice", PASSWORD).await, StatusCode::OK).await;
    let phone_token = phone["token"].as_str().unwrap();
    let change =
        |current: &str, new: &str| json!({"current_password": current, "new_password": new});

    let wrong = call(
        &app,
        &alice,
        Method::PUT,
        "/me/password",
        Some(change("not it at all", "a new password")),
    )
    .await;
    assert_eq!(
        error_code(wrong, StatusCode::FORBIDDEN).await,
        "invalid_credentials"
    );
    let spaces = call(
        &app,
        &alice,
        Method::PUT,
        "/me/password",
        Some(change(PASSWORD, "          ")),
    )
    .await;
    assert_eq!(
        error_code(spaces, StatusCode::BAD_REQUEST).await,
        "invalid_password"
    );
    // Refused changes change nothing.
    assert_eq!(
        app.get("/api/v1/me", Some(phone_token)).await.status(),
        StatusCode::OK
    );

    let changed = call(
        &app,
        &alice,
        Method::PUT,
        "/me/password",
        Some(change(PASSWORD, "a new password")),
    )
    .await;
    assert_eq!(body(changed, StatusCode::OK).await["ended"], 1);
    let reply = app.get("/api/v1/me", Some(phone_token)).await;
    assert_eq!(
        error_code(reply, StatusCode::UNAUTHORIZED).await,
        "session_revoked"
    );
    assert_eq!(
        app.get("/api/v1/me", Some(&alice.token)).await.status(),
        StatusCode::OK
    );
    let old = login(&app, "alice", PASSWORD).await;
    assert_eq!(
        error_code(old, StatusCode::UNAUTHORIZED).await,
        "invalid_credentials"
    );
    assert_eq!(
        login(&app, "alice", "a new password").await.status(),
        StatusCode::OK
    );
}

async fn profiles_refuse_names_that_pass_for_others_and_take_image_avatars(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let [alice, bob] = users(&app, ["alice", "bob"]).await;
    for spoof in ["bob\u{202e}", "\u{200b}bob", "\u{3164}"] {
        let reply = patch_me(&app, &alice, json!({"display_name": spoof})).await;
        assert_eq!(
            error_code(reply, StatusCode::BAD_REQUEST).await,
            "invalid_display_name",
            "{spoof:?}"
        );
    }
    let signup = app
        .post(
            "/api/v1/auth/register",
            &json!({"username": "mallory", "password": PASSWORD, "display_name": "ali\u{2066}ce"}),
        )
        .await;
    assert_eq!(
        error_code(signup, StatusCode::BAD_REQUEST).await,
        "invalid_display_name"
    );

    let picture = uploaded(&app, &alice, "me.png", png()).await;
    let other = uploaded(&app, &alice, "holiday.png", png()).await;
    let text = uploaded(&app, &alice, "notes.txt", b"just some words".to_vec()).await;
    let refused = patch_me(&app, &alice, json!({"avatar": text["id"]})).await;
    assert_eq!(
        error_code(refused, StatusCode::BAD_REQUEST).await,
        "invalid_request"
    );
    let stolen = patch_me(&app, &bob, json!({"avatar": picture["id"]})).await;
    assert_eq!(
        error_code(stolen, StatusCode::BAD_REQUEST).await,
        "invalid_request"
    );

    let updated = patch_me(
        &app,
        &alice,
        json!({"display_name": " Älice A. ", "avatar": picture["id"]}),
    )
    .await;
    let updated = body(updated, StatusCode::OK).await;
    assert_eq!(updated["user"]["display_name"], "Älice A.");
    assert_eq!(updated["user"]["avatar"], picture["id"]);
    let seen = body(
        call(
            &app,
            &bob,
            Method::GET,
            &format!("/users/{}", alice.id),
            None,
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(seen["user"], updated["user"]);
    // Anyone signed in sees the avatar; an upload that is not one stays the owner's.
    let download = |id: &Value| format!("/attachments/{}", id.as_str().unwrap());
    assert_eq!(
        call(&app, &bob, Method::GET, &download(&picture["id"]), None)
            .await
            .status(),
        StatusCode::OK
    );
    assert_eq!(
        call(&app, &bob, Method::GET, &download(&other["id"]), None)
            .await
            .status(),
        StatusCode::NOT_FOUND
    );

    // A new avatar replaces the old one, which is deleted.
    let replaced = patch_me(&app, &alice, json!({"avatar": other["id"]})).await;
    assert_eq!(
        body(replaced, StatusCode::OK).await["user"]["avatar"],
        other["id"]
    );
    assert_eq!(
        call(&app, &alice, Method::GET, &download(&picture["id"]), None)
            .await
            .status(),
        StatusCode::NOT_FOUND
    );
    let same = patch_me(&app, &alice, json!({"avatar": other["id"]})).await;
    assert_eq!(
        body(same, StatusCode::OK).await["user"]["avatar"],
        other["id"]
    );
    let cleared = patch_me(&app, &alice, json!({"avatar": null})).await;
    assert_eq!(
        body(cleared, StatusCode::OK).await["user"]["avatar"],
        Value::Null
    );
}

async fn add(app: &TestApp, adder: &User, group: &str, who: &User) -> reqwest::Response {
    let path = format!("/groups/{group}/members");
    call(
        app,
        adder,
        Method::POST,
        &path,
        Some(json!({"user_id": who.id})),
    )
    .await
}

async fn set_privacy(app: &TestApp, who: &User, privacy: Value) {
    let reply = call(
        app,
        who,
        Method::PATCH,
        "/me",
        Some(json!({"privacy": privacy})),
    )
    .await;
    assert_eq!(body(reply, StatusCode::OK).await["privacy"], privacy);
}

/// Whether `asker` sees `user` online, and whether it sees a last-seen time.
async fn presence(app: &TestApp, asker: &User, user: &User) -> (bool, bool) {
    let mut socket = connect(&app.address, asker).await;
    let answer = socket
        .request("presence:query", json!({"users": [user.id]}))
        .await
        .unwrap();
    let one = &answer["presence"][0];
    (one["online"] == true, !one["last_seen"].is_null())
}

async fn privacy_decides_who_adds_me_to_groups_and_who_sees_my_presence(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let [alice, bob] = friends(&app, ["alice", "bob"]).await;
    let [carol] = users(&app, ["carol"]).await;
    let bobs_group = group_of(&app, &bob, &[]).await;
    let carols_group = group_of(&app, &carol, &[]).await;

    let me = body(
        call(&app, &alice, Method::GET, "/me", None).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        me["privacy"],
        json!({"group_invites": "contacts", "presence": "everyone"})
    );
    let stranger = add(&app, &carol, &carols_group, &alice).await;
    assert_eq!(
        error_code(stranger, StatusCode::FORBIDDEN).await,
        "forbidden"
    );
    set_privacy(
        &app,
        &alice,
        json!({"group_invites": "everyone", "presence": "everyone"}),
    )
    .await;
    assert_eq!(
        add(&app, &carol, &carols_group, &alice).await.status(),
        StatusCode::OK
    );
    set_privacy(
        &app,
        &alice,
        json!({"group_invites": "nobody", "presence": "everyone"}),
    )
    .await;
    let contact = add(&app, &bob, &bobs_group, &alice).await;
    assert_eq!(
        error_code(contact, StatusCode::FORBIDDEN).await,
        "forbidden"
    );

    // Alice has been online and gone (a last seen), and is online now.
    connect(&app.address, &alice).await.close();
    eventually("alice's last seen", Duration::from_secs(10), || async {
        let stored = user::Entity::find_by_id(alice.id.clone())
            .one(&app.db)
            .await
            .ok()??;
        stored.last_seen_at.map(|_| ())
    })
    .await
    .unwrap();
    let _online = connect(&app.address, &alice).await;
    assert_eq!(presence(&app, &carol, &alice).await, (true, true));
    set_privacy(
        &app,
        &alice,
        json!({"group_invites": "nobody", "presence": "contacts"}),
    )
    .await;
    assert_eq!(presence(&app, &carol, &alice).await, (false, false));
    assert_eq!(presence(&app, &bob, &alice).await, (true, true));
    // Hiding from everyone is pushed to the contacts at once.
    let mut bobs = crate::chat::connect_routed(&app.address, &bob).await;
    set_privacy(
        &app,
        &alice,
        json!({"group_invites": "nobody", "presence": "nobody"}),
    )
    .await;
    loop {
        let pushed = bobs.next("presence").await.unwrap();
        if pushed["user"] == alice.id.as_str() && pushed["online"] == false {
            assert_eq!(pushed["last_seen"], Value::Null, "{pushed}");
            break;
        }
    }
    assert_eq!(presence(&app, &bob, &alice).await, (false, false));
    assert!(presence(&app, &alice, &alice).await.0);

    let invalid = patch_me(&app, &alice, json!({"privacy": {"presence": "friends"}})).await;
    assert_eq!(invalid.status(), StatusCode::UNPROCESSABLE_ENTITY);
}

async fn deleting_an_account_erases_it_and_keeps_its_messages(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let [alice, bob] = friends(&app, ["alice", "bob"]).await;
    let group = group_of(&app, &alice, &[&bob]).await;
    let mut socket = connect(&app.address, &alice).await;
    let sent = socket
        .request("message:send", send(&bob, "remember me", "m1"))
        .await
        .unwrap();
    socket.close();
    let mut bobs = crate::chat::connect_routed(&app.address, &bob).await;

    let wrong = call(
        &app,
        &alice,
        Method::DELETE,
        "/me",
        Some(json!({"password": "not it at all"})),
    )
    .await;
    assert_eq!(
        error_code(wrong, StatusCode::FORBIDDEN).await,
        "invalid_credentials"
    );
    let deleted = call(
        &app,
        &alice,
        Method::DELETE,
        "/me",
        Some(json!({"password": PASSWORD})),
    )
    .await;
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);

    let reply = app.get("/api/v1/me", Some(&alice.token)).await;
    assert_eq!(
        error_code(reply, StatusCode::UNAUTHORIZED).await,
        "session_revoked"
    );
    let again = login(&app, "alice", PASSWORD).await;
    assert_eq!(
        error_code(again, StatusCode::UNAUTHORIZED).await,
        "invalid_credentials"
    );
    let seen = body(
        call(
            &app,
            &bob,
            Method::GET,
            &format!("/users/{}", alice.id),
            None,
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(seen["user"]["display_name"], "Deleted user");
    assert_eq!(seen["user"]["deleted"], true);
    let stored = user::Entity::find_by_id(alice.id.clone())
        .one(&app.db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.username, format!("deleted.{}", alice.id));
    assert_eq!(stored.password_hash.expose(), "");

    // Bob keeps the message, from the deleted user; the contact and the group's ownership
    // are gone from Alice.
    let conversation = sent["message"]["conversation"].as_str().unwrap();
    let history = body(
        call(
            &app,
            &bob,
            Method::GET,
            &format!("/conversations/{conversation}/messages"),
            None,
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(history["messages"][0]["body"], "remember me");
    assert_eq!(history["messages"][0]["from"], alice.id.as_str());
    let contacts = body(
        call(&app, &bob, Method::GET, "/contacts", None).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(contacts["contacts"], json!([]), "{contacts}");
    let group = body(
        call(&app, &bob, Method::GET, &format!("/groups/{group}"), None).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(group["group"]["owner"], bob.id.as_str());
    assert_eq!(group["group"]["members"].as_array().unwrap().len(), 1);
    // Bob was told the contact ended; nobody writes to a deleted account.
    let told = bobs.next("contact:updated").await.unwrap();
    assert_eq!(told["user"]["id"], alice.id.as_str(), "{told}");
    let refused = bobs
        .request("message:send", send(&alice, "hello?", "b1"))
        .await
        .unwrap();
    assert_eq!(refused["error"]["code"], "not_found", "{refused}");
    let request = json!({"user_id": alice.id});
    let asked = call(
        &app,
        &bob,
        Method::POST,
        "/contacts/requests",
        Some(request),
    )
    .await;
    assert_eq!(error_code(asked, StatusCode::NOT_FOUND).await, "not_found");
    // The name is free again.
    app.register("alice").await;
}

/// The export holds the profile, the contacts and groups, and every message the user
/// wrote, over several of the pages it is read in.
#[actix_web::test]
async fn an_export_holds_the_users_data_and_every_message() {
    let app = TestApp::spawn_with(Backend::Sqlite, |settings| {
        settings.messages_per_sec = 100_000;
        settings.events_per_sec = 100_000;
        settings.user_events_per_sec = 100_000;
    })
    .await;
    let [alice, bob] = friends(&app, ["alice", "bob"]).await;
    let group = group_of(&app, &alice, &[&bob]).await;
    let (mut alices, mut bobs) = (
        connect(&app.address, &alice).await,
        connect(&app.address, &bob).await,
    );
    const SENT: usize = 1_203;
    for n in 0..SENT {
        let ack = alices
            .request(
                "message:send",
                send(&bob, &format!("m{n}"), &format!("c{n}")),
            )
            .await
            .unwrap();
        assert_eq!(ack["ok"], true, "{ack}");
    }
    bobs.request("message:send", send(&alice, "not alice's", "b1"))
        .await
        .unwrap();

    let reply = call(&app, &alice, Method::GET, "/me/export", None).await;
    assert_eq!(reply.status(), StatusCode::OK);
    let export: Value = reply.json().await.unwrap();
    assert_eq!(export["user"]["id"], alice.id.as_str());
    assert_eq!(export["privacy"]["group_invites"], "contacts");
    assert_eq!(export["sessions"].as_array().unwrap().len(), 1);
    assert_eq!(
        export["contacts"]["contacts"][0]["user"]["id"],
        bob.id.as_str()
    );
    assert_eq!(export["groups"][0]["id"], group.as_str());
    let bodies: Vec<&str> = export["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|message| message["body"].as_str().unwrap())
        .collect();
    let expected: Vec<String> = (0..SENT).map(|n| format!("m{n}")).collect();
    assert_eq!(bodies, expected);
}

/// A deletion that failed after shutting the account can be asked again from the session
/// that asked: that session lives until the end.
#[actix_web::test]
async fn a_deletion_stopped_half_way_can_be_asked_again() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let [alice] = users(&app, ["alice"]).await;
    let phone: Value = body(login(&app, "alice", PASSWORD).await, StatusCode::OK).await;
    // The first step, and then a failure: marked deleted, nothing erased.
    confab_node::store::users::mark_deleted(&app.db, &alice.id, &alice.session_id)
        .await
        .unwrap();
    let other = app.get("/api/v1/me", phone["token"].as_str()).await;
    assert_eq!(
        error_code(other, StatusCode::UNAUTHORIZED).await,
        "session_revoked"
    );
    let again = call(
        &app,
        &alice,
        Method::DELETE,
        "/me",
        Some(json!({"password": PASSWORD})),
    )
    .await;
    assert_eq!(again.status(), StatusCode::NO_CONTENT);
    let stored = user::Entity::find_by_id(alice.id.clone())
        .one(&app.db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.username, format!("deleted.{}", alice.id));
    let me = app.get("/api/v1/me", Some(&alice.token)).await;
    assert_eq!(
        error_code(me, StatusCode::UNAUTHORIZED).await,
        "session_revoked"
    );
}
