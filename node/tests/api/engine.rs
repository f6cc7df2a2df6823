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
