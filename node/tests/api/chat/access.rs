//! Access: who may connect, and who may act on which conversation.

use confab_entities::message;
use confab_testkit::{Backend, Connected, SioClient};
use sea_orm::{EntityTrait, PaginatorTrait};
use serde_json::json;

use super::{User, block, connect, group_of, send, user};
use crate::helpers::{TEST_SECRET, TestApp, sign_token};

#[actix_web::test]
async fn connecting_needs_a_genuine_current_token() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let alice = user(&app, "alice").await;
    let now = jsonwebtoken::get_current_timestamp();
    let sign = |secret: &str, exp: u64| sign_token(&alice.id, &alice.session_id, secret, exp);
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

/// Every message event, for each kind of caller: who may act, and what the others get.
#[actix_web::test]
async fn message_events_are_allowed_to_members_only() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let owner = user(&app, "owner").await;
    let member = user(&app, "member").await;
    let outsider = user(&app, "outsider").await;
    let blocked = user(&app, "blocked").await;
    let group = group_of(&app, &owner, &[&member]).await;
    block(&app, &owner, &blocked).await;
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
    let sign = |secret: &str, exp: u64| sign_token(&alice.id, &alice.session_id, secret, exp);
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

/// Ids are checked where they enter: a malformed user, group or conversation id in an
/// event's payload or a path is refused there with a clear code, and nothing is stored.
#[actix_web::test]
async fn malformed_ids_are_refused_where_they_enter() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let alice = user(&app, "alice").await;
    let mut alices = connect(&app.address, &alice).await;
    let events = [
        (
            "message:send",
            json!({"to": {"user": "a:b"}, "body": "x", "client_msg_id": "m"}),
        ),
        (
            "message:send",
            json!({"to": {"group": ""}, "body": "x", "client_msg_id": "m"}),
        ),
        ("read", json!({"conversation": "d:zz:aa", "seq": 1})),
        ("typing", json!({"conversation": "x:1", "typing": true})),
        ("history", json!({"conversation": "g:a:b"})),
        ("presence:query", json!({"users": ["ok", "tab\there"]})),
        ("group:get", json!({"group": "a:b"})),
        ("contact:request", json!({"user_id": "x".repeat(65)})),
    ];
    for (event, payload) in events {
        let answer = alices.request(event, payload.clone()).await.unwrap();
        assert_eq!(
            answer["error"]["code"], "invalid_request",
            "{event} {payload}: {answer}"
        );
    }
    for path in ["/api/v1/conversations/nope/messages", "/api/v1/groups/a:b"] {
        let reply = app.get(path, Some(&alice.token)).await;
        assert_eq!(
            crate::helpers::error_code(reply, reqwest::StatusCode::BAD_REQUEST).await,
            "invalid_path",
            "{path}"
        );
    }
    let stored = message::Entity::find().count(&app.db).await.unwrap();
    assert_eq!(stored, 0);
}
