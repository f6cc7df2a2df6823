//! Sessions over real HTTP and Socket.IO: logout, refresh-token rotation and reuse,
//! listing and ending sessions, and the sockets of an ended session closing — on one node,
//! on a second node sharing the database, and across two `confab` processes.

use std::time::Duration;

use confab_testkit::{Backend, SioClient, eventually};
use reqwest::{Method, StatusCode};
use sea_orm::{ColumnTrait, EntityTrait};
use serde_json::{Value, json};

use crate::chat::{User, connect, send, user};
use crate::cluster_fixture::{Cluster, WITHIN};
use crate::groups_contacts::{body, call};
use crate::helpers::{TestApp, error_code, on_every_backend};

on_every_backend!(
    logout_ends_the_session_on_every_node,
    a_refresh_token_works_once_and_its_reuse_ends_the_session,
    sessions_are_listed_and_ended_one_or_all_others,
);

/// Logs `name` in again (a second device); returns that session.
async fn login(app: &TestApp, name: &str, device: &str) -> Value {
    let reply = app
        .post(
            "/api/v1/auth/login",
            &json!({"username": name, "password": confab_testkit::PASSWORD, "device": device}),
        )
        .await;
    body(reply, StatusCode::OK).await
}

/// The same user through another session's tokens.
fn as_session(user: &User, session: &Value) -> User {
    User {
        id: user.id.clone(),
        token: session["token"].as_str().unwrap().to_owned(),
        session_id: session["session_id"].as_str().unwrap().to_owned(),
    }
}

async fn me_code(address: &str, client: &reqwest::Client, token: &str) -> String {
    let reply = client
        .get(format!("{address}/api/v1/me"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    error_code(reply, StatusCode::UNAUTHORIZED).await
}

async fn logout_ends_the_session_on_every_node(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let alice = user(&app, "alice").await;
    let phone = as_session(&alice, &login(&app, "alice", "phone").await);
    let other_node = app.another_node().await;

    let reply = call(&app, &alice, Method::POST, "/auth/logout", None).await;
    assert_eq!(reply.status(), StatusCode::NO_CONTENT);
    for address in [&app.address, &other_node] {
        assert_eq!(
            me_code(address, &app.client, &alice.token).await,
            "session_revoked"
        );
    }
    // The other device is still logged in.
    let me = body(
        call(&app, &phone, Method::GET, "/me", None).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(me["user"]["id"], alice.id.as_str());
}

async fn refresh(app: &TestApp, refresh_token: &Value) -> reqwest::Response {
    app.post(
        "/api/v1/auth/refresh",
        &json!({"refresh_token": refresh_token}),
    )
    .await
}

async fn a_refresh_token_works_once_and_its_reuse_ends_the_session(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let first = app.register("alice").await;
    let second = body(refresh(&app, &first["refresh_token"]).await, StatusCode::OK).await;
    assert_eq!(second["session_id"], first["session_id"]);
    assert_eq!(second["user"], first["user"]);
    assert_ne!(second["refresh_token"], first["refresh_token"]);
    assert!(second["expires_in"].as_u64().unwrap() > 0);
    let token = second["token"].as_str().unwrap();
    let me = app.get("/api/v1/me", Some(token)).await;
    assert_eq!(me.status(), StatusCode::OK);

    for junk in [
        json!("no-dot"),
        json!("unknown.secret"),
        json!(format!("{}.wrong", first["session_id"].as_str().unwrap())),
    ] {
        let reply = refresh(&app, &junk).await;
        assert_eq!(
            error_code(reply, StatusCode::UNAUTHORIZED).await,
            "invalid_refresh_token",
            "{junk}"
        );
    }
    // The first token again: someone else holds it (or held it first). The whole session
    // ends, the current tokens with it.
    let reused = refresh(&app, &first["refresh_token"]).await;
    assert_eq!(
        error_code(reused, StatusCode::UNAUTHORIZED).await,
        "invalid_refresh_token"
    );
    let current = refresh(&app, &second["refresh_token"]).await;
    assert_eq!(
        error_code(current, StatusCode::UNAUTHORIZED).await,
        "session_revoked"
    );
    let token = second["token"].as_str().unwrap();
    assert_eq!(
        me_code(&app.address, &app.client, token).await,
        "session_revoked"
    );
}

async fn sessions_are_listed_and_ended_one_or_all_others(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let alice = user(&app, "alice").await;
    let bob = user(&app, "bob").await;
    let phone = as_session(&alice, &login(&app, "alice", "phone").await);
    let tablet = as_session(&alice, &login(&app, "alice", "tablet").await);

    let listed = body(
        call(&app, &phone, Method::GET, "/sessions", None).await,
        StatusCode::OK,
    )
    .await;
    let sessions = listed["sessions"].as_array().unwrap();
    assert_eq!(sessions.len(), 3, "{listed}");
    let current: Vec<&Value> = sessions.iter().filter(|s| s["current"] == true).collect();
    assert_eq!(current.len(), 1);
    assert_eq!(current[0]["id"], phone.session_id.as_str());
    assert_eq!(current[0]["device"], "phone");
    // Most recently used first: the tablet logged in last.
    assert_eq!(sessions[0]["device"], "tablet");

    // Bob cannot end (or learn of) Alice's sessions.
    let path = format!("/sessions/{}", tablet.session_id);
    let reply = call(&app, &bob, Method::DELETE, &path, None).await;
    assert_eq!(error_code(reply, StatusCode::NOT_FOUND).await, "not_found");
    let me = call(&app, &tablet, Method::GET, "/me", None).await;
    assert_eq!(me.status(), StatusCode::OK);

    let reply = call(&app, &phone, Method::DELETE, &path, None).await;
    assert_eq!(reply.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        me_code(&app.address, &app.client, &tablet.token).await,
        "session_revoked"
    );
    let again = call(&app, &phone, Method::DELETE, &path, None).await;
    assert_eq!(error_code(again, StatusCode::NOT_FOUND).await, "not_found");

    let ended = body(
        call(&app, &phone, Method::DELETE, "/sessions", None).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(ended["ended"], 1);
    assert_eq!(
        me_code(&app.address, &app.client, &alice.token).await,
        "session_revoked"
    );
    let listed = body(
        call(&app, &phone, Method::GET, "/sessions", None).await,
        StatusCode::OK,
    )
    .await;
    let ids: Vec<&Value> = listed["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| &s["id"])
        .collect();
    assert_eq!(ids, [&json!(phone.session_id)]);
    // Bob's session was never touched.
    let me = call(&app, &bob, Method::GET, "/me", None).await;
    assert_eq!(me.status(), StatusCode::OK);
}

/// Waits for the `session:expired` the server sends a socket of an ended session, then for
/// the server to close it; returns the event's code.
async fn closed_with(client: &mut SioClient) -> String {
    let farewell = client.next("session:expired").await.unwrap();
    client.wait_closed().await.unwrap();
    farewell["code"].as_str().unwrap().to_owned()
}

/// A socket outlives its access token: it keeps receiving after the token expired (HTTP
/// then refuses the token, and the refresh token gets a new one).
#[actix_web::test]
async fn a_socket_outlives_its_access_token() {
    let app = TestApp::spawn_with(Backend::Sqlite, |settings| settings.token_ttl_secs = 1).await;
    let registered = app.register("alice").await;
    let alice = User {
        id: registered["user"]["id"].as_str().unwrap().to_owned(),
        token: registered["token"].as_str().unwrap().to_owned(),
        session_id: registered["session_id"].as_str().unwrap().to_owned(),
    };
    let bob = user(&app, "bob").await;
    let mut socket = connect(&app.address, &alice).await;
    let mut bobs = connect(&app.address, &bob).await;
    eventually(
        "the access token to expire",
        Duration::from_secs(10),
        || async {
            let reply = app.get("/api/v1/me", Some(&alice.token)).await;
            (reply.status() == StatusCode::UNAUTHORIZED).then_some(())
        },
    )
    .await
    .unwrap();
    assert_eq!(
        me_code(&app.address, &app.client, &alice.token).await,
        "token_expired"
    );

    let ack = bobs
        .request("message:send", send(&alice, "still here", "s1"))
        .await
        .unwrap();
    assert_eq!(socket.next("message:new").await.unwrap(), ack["message"]);
    let renewed = body(
        refresh(&app, &registered["refresh_token"]).await,
        StatusCode::OK,
    )
    .await;
    let me = app.get("/api/v1/me", renewed["token"].as_str()).await;
    assert_eq!(me.status(), StatusCode::OK);
}

/// Logging out closes the session's sockets (with `session_revoked`) and no other's; a
/// token of the ended session connects no more.
#[actix_web::test]
async fn logging_out_closes_the_sessions_sockets() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let alice = user(&app, "alice").await;
    let phone = as_session(&alice, &login(&app, "alice", "phone").await);
    let bob = user(&app, "bob").await;
    let mut laptop = connect(&app.address, &alice).await;
    let mut phones = connect(&app.address, &phone).await;

    let reply = call(&app, &alice, Method::POST, "/auth/logout", None).await;
    assert_eq!(reply.status(), StatusCode::NO_CONTENT);
    assert_eq!(closed_with(&mut laptop).await, "session_revoked");

    // The phone's socket still works.
    let mut bobs = connect(&app.address, &bob).await;
    let ack = bobs
        .request("message:send", send(&alice, "to the phone", "p1"))
        .await
        .unwrap();
    assert_eq!(phones.next("message:new").await.unwrap(), ack["message"]);
    // The old token is still within its lifetime, but its session is over: what the socket
    // sends before the server closes it is dropped.
    let late = connect(&app.address, &alice).await;
    for n in 0..20 {
        late.emit(
            "message:send",
            send(&bob, "sneaked in", &format!("late-{n}")),
        )
        .unwrap();
    }
    let mut late = late;
    assert_eq!(closed_with(&mut late).await, "session_revoked");
    let ack = bobs
        .request("message:send", send(&alice, "after", "p2"))
        .await
        .unwrap();
    let stored: Vec<String> = confab_entities::message::Entity::find()
        .all(&app.db)
        .await
        .unwrap()
        .into_iter()
        .map(|m| format!("{} {} {}", m.seq, m.body, m.client_msg_id))
        .collect();
    assert_eq!(
        ack["message"]["seq"], 2,
        "nothing was stored in between: {stored:?}"
    );
}

/// A session unused past `CONFAB_SESSION_TTL_SECS` ends, and so do its sockets.
#[actix_web::test]
async fn a_session_that_expires_closes_its_sockets() {
    let app = TestApp::spawn_with(Backend::Sqlite, |settings| {
        settings.session_ttl_secs = 2;
    })
    .await;
    let alice = user(&app, "alice").await;
    let mut socket = connect(&app.address, &alice).await;
    assert_eq!(closed_with(&mut socket).await, "session_expired");
    let reply = app.get("/api/v1/me", Some(&alice.token)).await;
    assert_eq!(
        error_code(reply, StatusCode::UNAUTHORIZED).await,
        "session_expired"
    );
}

/// Two `confab` processes: a session ended through one closes its socket on the other,
/// within seconds.
#[actix_web::test]
async fn a_session_ended_on_one_node_closes_its_socket_on_another() {
    let cluster = Cluster::start(2).await;
    let urls = cluster.urls();
    let client = crate::helpers::client();
    let registered: Value = client
        .post(format!("{}/api/v1/auth/register", urls[0]))
        .json(&json!({"username": "alice", "password": confab_testkit::PASSWORD}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = registered["token"].as_str().unwrap();
    let mut socket = SioClient::with_token(&urls[1], token).await.unwrap();
    let reply = client
        .post(format!("{}/api/v1/auth/logout", urls[0]))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), StatusCode::NO_CONTENT);
    let closed = tokio::time::timeout(WITHIN, closed_with(&mut socket)).await;
    assert_eq!(
        closed.as_deref(),
        Ok("session_revoked"),
        "{}",
        cluster.logs()
    );
}

/// A session row for `user_id`, last used `used` ago, with an id from `n` (older ids than
/// any session the node starts now).
fn old_session(
    user_id: &str,
    n: u32,
    used: chrono::Duration,
) -> confab_entities::session::ActiveModel {
    use sea_orm::Set;
    let long_ago = chrono::Utc::now() - used;
    let at = uuid::Timestamp::from_unix(uuid::NoContext, 1_700_000_000, n);
    confab_entities::session::ActiveModel {
        id: Set(uuid::Uuid::new_v7(at).to_string()),
        user_id: Set(user_id.to_owned()),
        refresh_hash: Set(format!("{n:064}")),
        previous_hash: Set(None),
        device: Set(String::new()),
        user_agent: Set(String::new()),
        created_at: Set(long_ago),
        last_used_at: Set(long_ago),
        expires_at: Set(chrono::Utc::now() + chrono::Duration::days(30)),
        revoked_at: Set(None),
        revoked_reason: Set(None),
    }
}

/// A user has at most 100 live sessions: a login past that ends the least recently used;
/// rows of sessions that ended a week ago are deleted.
#[actix_web::test]
async fn sessions_are_bounded_and_old_ones_deleted() {
    use sea_orm::{ActiveModelTrait, Set};
    let app = TestApp::spawn(Backend::Sqlite).await;
    let alice = user(&app, "alice").await;
    for n in 0..100 {
        let used = chrono::Duration::days(2) + chrono::Duration::minutes(i64::from(n));
        old_session(&alice.id, n, used)
            .insert(&app.db)
            .await
            .unwrap();
    }
    let mut ended = old_session(&alice.id, 1_000, chrono::Duration::days(9));
    ended.revoked_at = Set(Some(chrono::Utc::now() - chrono::Duration::days(8)));
    ended.revoked_reason = Set(Some(confab_entities::RevokedReason::Logout));
    let ended = ended.insert(&app.db).await.unwrap();

    let phone = as_session(&alice, &login(&app, "alice", "phone").await);
    let listed = body(
        call(&app, &phone, Method::GET, "/sessions", None).await,
        StatusCode::OK,
    )
    .await;
    let ids: Vec<&str> = listed["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), 100);
    assert_eq!(
        ids[..2],
        [phone.session_id.as_str(), alice.session_id.as_str()]
    );
    eventually(
        "the week-old session to be deleted",
        Duration::from_secs(10),
        || async {
            let found = confab_entities::session::Entity::find_by_id(ended.id.clone())
                .one(&app.db)
                .await
                .ok()?;
            found.is_none().then_some(())
        },
    )
    .await
    .unwrap();
}

/// Ending thousands of sessions at once (as an operator's `UPDATE sessions SET revoked_at
/// = now()` does) closes every one of their sockets: the sweep pages through them all.
#[actix_web::test]
async fn a_mass_revocation_closes_every_socket() {
    use confab_entities::{RevokedReason, session};
    use sea_orm::sea_query::Expr;
    use sea_orm::{ActiveModelTrait, QueryFilter};
    let app = TestApp::spawn(Backend::Sqlite).await;
    let alice = user(&app, "alice").await;
    let mut socket = connect(&app.address, &alice).await;
    // Older ids than the real session's, so that it comes on the second page.
    for n in 0..1_500_u32 {
        old_session(&alice.id, n, chrono::Duration::days(30))
            .insert(&app.db)
            .await
            .unwrap();
    }
    session::Entity::update_many()
        .col_expr(session::Column::RevokedAt, Expr::value(chrono::Utc::now()))
        .col_expr(
            session::Column::RevokedReason,
            Expr::value(RevokedReason::Revoked),
        )
        .filter(session::Column::UserId.eq(alice.id.as_str()))
        .exec(&app.db)
        .await
        .unwrap();
    assert_eq!(closed_with(&mut socket).await, "session_revoked");
}
