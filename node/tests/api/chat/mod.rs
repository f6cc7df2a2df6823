//! The chat over Socket.IO on one node (and two nodes sharing one database), in five
//! parts: messages (delivery, idempotency, sync, sequence numbers, limits), rich messages
//! (edits, deletions, replies, mentions, reactions, expiry), access (who may connect and
//! act), delivery (presence, receipts, typing, slow consumers, rate) and the store's
//! batches (the rules checked per entry inside one transaction).

mod access;
mod delivery;
mod messages;
mod rich;
mod search;
mod store;

use confab_testkit::SioClient;
use serde_json::{Value, json};

use crate::helpers::TestApp;

/// A registered user.
pub(crate) struct User {
    pub(crate) id: String,
    pub(crate) token: String,
    pub(crate) session_id: String,
}

pub(crate) async fn user(app: &TestApp, name: &str) -> User {
    let registered = app.register(name).await;
    let field = |name: &str| registered[name].as_str().unwrap().to_owned();
    User {
        id: registered["user"]["id"].as_str().unwrap().to_owned(),
        token: field("token"),
        session_id: field("session_id"),
    }
}

pub(crate) async fn connect(address: &str, user: &User) -> SioClient {
    SioClient::with_token(address, &user.token).await.unwrap()
}

/// A connection of `user` that is routed: it gets its groups' live events. A `sync`
/// answers once the node routes the connection (the groups of a user written straight
/// to the database are read after connecting).
pub(crate) async fn connect_routed(address: &str, user: &User) -> SioClient {
    let mut client = connect(address, user).await;
    let synced = client
        .request("sync", json!({"cursors": {}}))
        .await
        .unwrap();
    assert_eq!(synced["ok"], true, "{synced}");
    client
}

/// A raw WebSocket to a node's Socket.IO endpoint.
pub(crate) type WebSocket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Opens a raw Engine.IO WebSocket session on the node at `address`, past its open packet.
pub(crate) async fn raw_session(address: &str) -> WebSocket {
    let url = format!(
        "{}/socket.io/?EIO=4&transport=websocket",
        address.replacen("http", "ws", 1)
    );
    let (mut ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    assert!(next_text(&mut ws).await.starts_with('0'));
    ws
}

/// Sends a Socket.IO CONNECT with `user`'s token on `ws` (plain or TLS) and returns the
/// answer.
pub(crate) async fn raw_connect<S>(
    ws: &mut tokio_tungstenite::WebSocketStream<S>,
    user: &User,
) -> String
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    use futures_util::SinkExt;
    let connect = format!("40{}", json!({"token": user.token}));
    ws.send(tokio_tungstenite::tungstenite::Message::Text(
        connect.into(),
    ))
    .await
    .unwrap();
    next_text(ws).await
}

/// The next text frame of `ws` that is not an Engine.IO ping.
pub(crate) async fn next_text<S>(ws: &mut tokio_tungstenite::WebSocketStream<S>) -> String
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    use futures_util::StreamExt;
    loop {
        let frame = ws.next().await.unwrap().unwrap();
        let text = frame.to_text().unwrap().to_owned();
        if text != "2" {
            return text;
        }
    }
}

pub(crate) fn send(to: &User, body: &str, client_msg_id: &str) -> Value {
    json!({"to": {"user": to.id}, "body": body, "client_msg_id": client_msg_id})
}

/// A group owned by `owner` with `members`, written straight to the database.
pub(crate) async fn group_of(app: &TestApp, owner: &User, members: &[&User]) -> String {
    use confab_entities::{GroupRole, group, group_member};
    use sea_orm::{ActiveModelTrait, Set};
    let id = uuid::Uuid::now_v7().to_string();
    let now = chrono::Utc::now();
    group::ActiveModel {
        id: Set(id.clone()),
        name: Set("team".into()),
        public: Set(false),
        owner_id: Set(owner.id.clone()),
        created_at: Set(now),
    }
    .insert(&app.db)
    .await
    .unwrap();
    let roles = std::iter::once((owner, GroupRole::Owner))
        .chain(members.iter().map(|m| (*m, GroupRole::Member)));
    for (user, role) in roles {
        group_member::ActiveModel {
            group_id: Set(id.clone()),
            user_id: Set(user.id.clone()),
            role: Set(role),
            joined_at: Set(now),
        }
        .insert(&app.db)
        .await
        .unwrap();
    }
    id
}

/// `blocker` blocks `blocked`, written straight to the database.
pub(crate) async fn block(app: &TestApp, blocker: &User, blocked: &User) {
    use sea_orm::{ActiveModelTrait, Set};
    confab_entities::block::ActiveModel {
        user_id: Set(blocker.id.clone()),
        blocked_id: Set(blocked.id.clone()),
        created_at: Set(chrono::Utc::now()),
    }
    .insert(&app.db)
    .await
    .unwrap();
}
