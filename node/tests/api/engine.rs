//! Engine.IO options that the conformance suites do not exercise.

use actix_web::{App, HttpServer};
use confab_node::engineio::{EngineConfig, engine_route};
use confab_node::socketio::{SocketIo, SocketIoConfig};
use reqwest::header::SET_COOKIE;

use crate::helpers::client;

/// For load balancers that pin sessions by cookie, the handshake sets one naming the sid.
#[actix_web::test]
async fn the_affinity_cookie_carries_the_session_id() {
    let engine = SocketIo::new(SocketIoConfig::default()).into_engine(EngineConfig {
        cookie: Some("io".to_owned()),
        ..EngineConfig::default()
    });
    let server =
        HttpServer::new(move || App::new().service(engine_route("/socket.io/", engine.clone())))
            .workers(1)
            .bind(("127.0.0.1", 0))
            .unwrap();
    let port = server.addrs()[0].port();
    actix_web::rt::spawn(server.run());
    let reply = client()
        .get(format!(
            "http://127.0.0.1:{port}/socket.io/?EIO=4&transport=polling"
        ))
        .send()
        .await
        .unwrap();
    let cookie = reply
        .headers()
        .get(SET_COOKIE)
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    let body = reply.text().await.unwrap();
    let handshake: serde_json::Value = serde_json::from_str(&body[1..]).unwrap();
    let sid = handshake["sid"].as_str().unwrap();
    assert_eq!(cookie, format!("io={sid}; Path=/; HttpOnly; SameSite=Lax"));
}

/// Handshakes need no authentication: open sessions are capped per client address and in
/// total, and a refused handshake creates nothing.
#[actix_web::test]
async fn handshakes_past_the_session_caps_are_refused_until_sessions_close() {
    use confab_node::engineio::CloseSession;
    let engine = SocketIo::new(SocketIoConfig::default()).into_engine(EngineConfig {
        max_sessions_per_address: 2,
        max_sessions: 3,
        trust_forwarded_for: true,
        ..EngineConfig::default()
    });
    let served = engine.clone();
    let server =
        HttpServer::new(move || App::new().service(engine_route("/socket.io/", served.clone())))
            .workers(1)
            .bind(("127.0.0.1", 0))
            .unwrap();
    let port = server.addrs()[0].port();
    actix_web::rt::spawn(server.run());
    let client = client();
    let handshake = |from: &'static str| {
        client
            .get(format!(
                "http://127.0.0.1:{port}/socket.io/?EIO=4&transport=polling"
            ))
            .header("x-forwarded-for", from)
            .send()
    };
    for _ in 0..2 {
        assert_eq!(handshake("192.0.2.1").await.unwrap().status(), 200);
    }
    let refused = handshake("192.0.2.1").await.unwrap();
    assert_eq!(refused.status(), 429);
    assert!(refused.headers().contains_key("retry-after"));
    let body: serde_json::Value = refused.json().await.unwrap();
    assert_eq!(body["code"], 4);
    assert_eq!(handshake("192.0.2.2").await.unwrap().status(), 200);
    assert_eq!(
        handshake("192.0.2.3").await.unwrap().status(),
        503,
        "three in all"
    );
    assert_eq!(engine.session_count(), 3, "refused handshakes open nothing");
    // Closed sessions make room again.
    for session in engine.sessions() {
        session.send(CloseSession).await.unwrap();
    }
    assert_eq!(engine.session_count(), 0);
    assert_eq!(handshake("192.0.2.1").await.unwrap().status(), 200);
}
