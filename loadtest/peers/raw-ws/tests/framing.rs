//! raw-ws end to end: the real binary on a free port, driven over real sockets with the
//! Socket.IO client the load generator and the test suites use.

#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use confab_testkit::SioClient;
use futures_util::StreamExt;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

/// The server process, killed on drop.
struct RawWs {
    child: Child,
    url: String,
}

impl RawWs {
    /// Starts the server on a port the kernel picks as it binds (a port found free
    /// beforehand could be taken by a parallel test's server meanwhile); the address comes
    /// from its first line of output.
    async fn start(extra: &[&str]) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_raw-ws"))
            .args(["--listen", "127.0.0.1:0"])
            .args(extra)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let first_line = tokio::task::spawn_blocking(move || {
            let mut line = String::new();
            BufReader::new(stdout).read_line(&mut line).map(|_| line)
        });
        let line = tokio::time::timeout(Duration::from_secs(10), first_line)
            .await
            .expect("raw-ws to say where it listens")
            .unwrap()
            .unwrap();
        let address = line
            .trim()
            .strip_prefix("raw-ws listening on ")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .to_owned();
        Self {
            child,
            url: format!("http://{address}"),
        }
    }

    async fn client(&self, user: &str) -> SioClient {
        SioClient::with_token(&self.url, user).await.unwrap()
    }
}

impl Drop for RawWs {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn send(client: &mut SioClient, to: Value, body: &str) -> Value {
    let ack = client
        .request(
            "message:send",
            json!({ "to": to, "body": body, "client_msg_id": body }),
        )
        .await
        .unwrap();
    assert_eq!(ack["ok"], true, "{ack}");
    ack["message"].clone()
}

#[tokio::test]
async fn the_handshake_is_an_engine_io_open_packet() {
    let server = RawWs::start(&["--ping-interval-ms", "1234"]).await;
    let url = format!(
        "{}/socket.io/?EIO=4&transport=websocket",
        server.url.replacen("http", "ws", 1)
    );
    let (mut ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    let Some(Ok(Message::Text(open))) = ws.next().await else {
        panic!("no open packet");
    };
    let handshake: Value = serde_json::from_str(open.as_str().strip_prefix('0').unwrap()).unwrap();
    assert_eq!(handshake["pingInterval"], 1234);
    assert_eq!(handshake["upgrades"], json!([]));
    assert!(handshake["sid"].is_string());
}

#[tokio::test]
async fn direct_messages_reach_the_receiver_and_the_senders_other_connections() {
    let server = RawWs::start(&[]).await;
    let mut alice = server.client("alice").await;
    let mut alice_phone = server.client("alice").await;
    let mut bob = server.client("bob").await;

    let message = send(&mut alice, json!({ "user": "bob" }), "1700000000 hi").await;
    assert_eq!(message["conversation"], "d:alice:bob");
    assert_eq!(message["from"], "alice");
    assert_eq!(message["body"], "1700000000 hi");
    assert_eq!(bob.next("message:new").await.unwrap(), message);
    assert_eq!(alice_phone.next("message:new").await.unwrap(), message);

    let second = send(&mut bob, json!({ "user": "alice" }), "back").await;
    assert_ne!(second["id"], message["id"]);
    assert_eq!(alice.next("message:new").await.unwrap(), second);
    assert!(
        alice.received("message:new").is_empty(),
        "no echo of the first"
    );
    assert!(
        bob.received("message:new").is_empty(),
        "no echo to the sender"
    );
}

#[tokio::test]
async fn group_messages_reach_every_member_but_the_sending_connection() {
    let server = RawWs::start(&[]).await;
    let mut members = Vec::new();
    for user in ["u1", "u2", "u3"] {
        let mut client = server.client(user).await;
        let ack = client
            .request("group:join", json!({ "group": "g1" }))
            .await
            .unwrap();
        assert_eq!(ack, json!({ "ok": true }));
        members.push(client);
    }
    let mut outsider = server.client("u4").await;
    let message = send(&mut members[0], json!({ "group": "g1" }), "to all").await;
    assert_eq!(message["conversation"], "g:g1");
    for member in &mut members[1..] {
        assert_eq!(member.next("message:new").await.unwrap(), message);
    }
    // a later message to the outsider arrives first-in-line: nothing from the group came
    let direct = send(&mut members[1], json!({ "user": "u4" }), "just you").await;
    assert_eq!(outsider.next("message:new").await.unwrap(), direct);
    assert!(outsider.received("message:new").is_empty());
    assert!(members[0].received("message:new").is_empty());
}

#[tokio::test]
async fn presence_typing_and_read_are_answered() {
    let server = RawWs::start(&[]).await;
    let mut alice = server.client("alice").await;
    let presence = alice
        .request("presence:query", json!({ "users": ["alice", "nobody"] }))
        .await
        .unwrap();
    assert_eq!(
        presence,
        json!({ "ok": true, "presence": [
            { "user": "alice", "online": true },
            { "user": "nobody", "online": false },
        ] })
    );
    for event in ["typing", "read"] {
        let ack = alice
            .request(event, json!({ "conversation": "d:a:b" }))
            .await
            .unwrap();
        assert_eq!(ack, json!({ "ok": true }));
    }
    let unknown = alice.request("history", json!({})).await.unwrap();
    assert_eq!(unknown["error"]["code"], "invalid_request");
}

#[tokio::test]
async fn a_connect_without_a_token_is_closed() {
    let server = RawWs::start(&[]).await;
    assert!(SioClient::connect(&server.url, json!({})).await.is_err());
}
