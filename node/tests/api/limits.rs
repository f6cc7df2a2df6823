//! The limits a hostile client meets: buckets it cannot renew by reconnecting or by opening
//! more connections, CONNECT paid for, every mutating HTTP request limited, logins limited
//! per address and per username with `Retry-After`, and password hashing that cannot be
//! queued without end.

use confab_testkit::Backend;
use futures_util::{SinkExt, StreamExt};
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

use crate::chat::{User, connect, raw_connect, raw_session, user};
use crate::helpers::{TestApp, error_code};

#[actix_web::test]
async fn reconnecting_on_one_engine_io_session_does_not_refill_its_bucket() {
    // A CONNECT costs ten events: three fit in a burst of 30, a fourth does not.
    let app = TestApp::spawn_with(Backend::Sqlite, |settings| {
        settings.events_burst = 30;
        settings.events_per_sec = 1;
    })
    .await;
    let alice = user(&app, "alice").await;
    let mut ws = raw_session(&app.address).await;
    for _ in 0..3 {
        let reply = raw_connect(&mut ws, &alice).await;
        assert!(reply.starts_with("40{\"sid\""), "{reply}");
        ws.send(Message::Text("41".into())).await.unwrap();
    }
    let refused = raw_connect(&mut ws, &alice).await;
    let error: Value = serde_json::from_str(refused.strip_prefix("44").expect(&refused)).unwrap();
    assert_eq!(error["data"]["code"], "rate_limited", "{refused}");
}

#[actix_web::test]
async fn more_connections_do_not_give_a_user_more_events() {
    let app = TestApp::spawn_with(Backend::Sqlite, |settings| {
        settings.user_events_burst = 25;
        settings.user_events_per_sec = 1;
    })
    .await;
    let (alice, bob) = (user(&app, "alice").await, user(&app, "bob").await);
    // Two connects take 20 of alice's 25.
    let mut first = connect(&app.address, &alice).await;
    let mut second = connect(&app.address, &alice).await;
    let mut codes = Vec::new();
    for n in 0..8 {
        let client = if n % 2 == 0 { &mut first } else { &mut second };
        let ack = client
            .request("presence:query", json!({"users": []}))
            .await
            .unwrap();
        codes.push(ack["error"]["code"].as_str().unwrap_or("ok").to_owned());
    }
    let granted = codes.iter().filter(|code| *code == "ok").count();
    assert!((5..=6).contains(&granted), "{codes:?}");
    assert_eq!(codes.last().map(String::as_str), Some("rate_limited"));
    // Another user is not affected.
    let mut bobs = connect(&app.address, &bob).await;
    let ack = bobs
        .request("presence:query", json!({"users": []}))
        .await
        .unwrap();
    assert_eq!(ack["ok"], true, "{ack}");
}

async fn create_group(app: &TestApp, who: &User, name: &str) -> reqwest::Response {
    app.client
        .post(format!("{}/api/v1/groups", app.address))
        .bearer_auth(&who.token)
        .json(&json!({"name": name}))
        .send()
        .await
        .unwrap()
}

#[actix_web::test]
async fn every_mutating_http_request_is_limited_per_user_with_retry_after() {
    let app = TestApp::spawn_with(Backend::Sqlite, |settings| {
        settings.http_writes_burst = 3;
        settings.http_writes_per_sec = 1;
    })
    .await;
    let (alice, bob) = (user(&app, "alice").await, user(&app, "bob").await);
    for n in 0..3 {
        let reply = create_group(&app, &alice, &format!("g{n}")).await;
        assert_eq!(reply.status(), StatusCode::CREATED);
    }
    let refused = create_group(&app, &alice, "one too many").await;
    let retry_after: u64 = refused.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=2).contains(&retry_after), "{retry_after}");
    assert_eq!(
        error_code(refused, StatusCode::TOO_MANY_REQUESTS).await,
        "rate_limited"
    );
    // Reading is not limited this way, and another user has their own bucket.
    let groups = app.get("/api/v1/groups", Some(&alice.token)).await;
    assert_eq!(groups.status(), StatusCode::OK);
    let listed: Value = groups.json().await.unwrap();
    assert_eq!(listed["groups"].as_array().unwrap().len(), 3);
    assert_eq!(
        create_group(&app, &bob, "bob's").await.status(),
        StatusCode::CREATED
    );
}

async fn login(app: &TestApp, username: &str, password: &str, from: &str) -> reqwest::Response {
    app.client
        .post(format!("{}/api/v1/auth/login", app.address))
        .header("x-forwarded-for", format!("203.0.113.77, {from}"))
        .json(&json!({"username": username, "password": password}))
        .send()
        .await
        .unwrap()
}

#[actix_web::test]
async fn logins_are_limited_per_address_and_per_username() {
    let app = TestApp::spawn_with(Backend::Sqlite, |settings| {
        settings.auth_burst = 4;
        settings.auth_per_minute = 1;
        settings.logins_per_username_per_minute = 2;
        settings.trust_forwarded_for = true;
    })
    .await;
    // Registering counts against the address (the test's own, 127.0.0.1 unless forwarded).
    app.register("alice").await;
    // One username, guessed from many addresses: two tries a minute.
    for from in ["198.51.100.1", "198.51.100.2"] {
        let reply = login(&app, "alice", "wrong password", from).await;
        assert_eq!(reply.status(), StatusCode::UNAUTHORIZED);
    }
    let refused = login(&app, "alice", "wrong password", "198.51.100.3").await;
    assert!(refused.headers().contains_key("retry-after"));
    assert_eq!(
        error_code(refused, StatusCode::TOO_MANY_REQUESTS).await,
        "rate_limited"
    );
    // One address, many usernames: its burst of four, the first entry of the header
    // (written by the client) notwithstanding.
    let mut statuses = Vec::new();
    for n in 0..5 {
        let reply = login(&app, &format!("user{n}"), "some password", "198.51.100.9").await;
        statuses.push(reply.status());
    }
    assert_eq!(
        statuses,
        [
            StatusCode::UNAUTHORIZED,
            StatusCode::UNAUTHORIZED,
            StatusCode::UNAUTHORIZED,
            StatusCode::UNAUTHORIZED,
            StatusCode::TOO_MANY_REQUESTS
        ]
    );
}

#[actix_web::test]
async fn a_login_password_is_bounded_and_hashing_never_queues_without_end() {
    let app = TestApp::spawn_with(Backend::Sqlite, |settings| {
        settings.auth_burst = 10_000;
        settings.logins_per_username_per_minute = 10_000;
    })
    .await;
    app.register("alice").await;
    let long = login(&app, "alice", &"x".repeat(100_000), "198.51.100.1").await;
    assert_eq!(
        error_code(long, StatusCode::BAD_REQUEST).await,
        "invalid_password"
    );
    // Far more logins at once than may wait for the hashing permits (64).
    let logins = (0..200).map(|_| login(&app, "alice", "wrong password", "198.51.100.1"));
    let replies = futures_util::future::join_all(logins).await;
    let mut busy = 0;
    for reply in replies {
        match reply.status() {
            StatusCode::UNAUTHORIZED => {}
            StatusCode::SERVICE_UNAVAILABLE => {
                assert!(reply.headers().contains_key("retry-after"));
                assert_eq!(
                    error_code(reply, StatusCode::SERVICE_UNAVAILABLE).await,
                    "unavailable"
                );
                busy += 1;
            }
            other => panic!("unexpected {other}"),
        }
    }
    assert!(busy > 0, "all 200 waited to be hashed");
    // Once the queue is gone, a login works again.
    let ok = login(&app, "alice", "correct horse battery", "198.51.100.1").await;
    assert_eq!(ok.status(), StatusCode::OK);
}

#[actix_web::test]
async fn a_session_left_without_a_namespace_is_closed_after_the_connect_timeout() {
    let app = TestApp::spawn_with(Backend::Sqlite, |settings| {
        settings.connect_timeout_ms = 300;
    })
    .await;
    let alice = user(&app, "alice").await;
    // A socket that stays connected is not affected.
    let mut connected = connect(&app.address, &alice).await;
    let mut ws = raw_session(&app.address).await;
    assert!(raw_connect(&mut ws, &alice).await.starts_with("40{"));
    ws.send(Message::Text("41".into())).await.unwrap();
    // The heartbeat (25 s + 20 s) would close it much later than this deadline.
    let closed = tokio::time::timeout(std::time::Duration::from_secs(10), async {
        while let Some(Ok(frame)) = ws.next().await {
            if frame.is_close() {
                break;
            }
        }
    })
    .await;
    assert!(closed.is_ok(), "the namespace-less session is still open");
    let ack = connected
        .request("presence:query", json!({"users": []}))
        .await
        .unwrap();
    assert_eq!(ack["ok"], true);
}
