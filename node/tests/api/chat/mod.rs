//! The chat over Socket.IO on one node (and two nodes sharing one database), in three
//! parts: messages (delivery, idempotency, sync, sequence numbers, limits), access (who
//! may connect and act) and delivery (presence, receipts, typing, slow consumers, rate).

mod access;
mod delivery;
mod messages;

use confab_testkit::SioClient;
use serde_json::{Value, json};

use crate::helpers::TestApp;

/// A registered user.
pub(crate) struct User {
    pub(crate) id: String,
    pub(crate) token: String,
}

pub(crate) async fn user(app: &TestApp, name: &str) -> User {
    let registered = app.register(name).await;
    User {
        id: registered["user"]["id"].as_str().unwrap().to_owned(),
        token: registered["token"].as_str().unwrap().to_owned(),
    }
}

pub(crate) async fn connect(address: &str, user: &User) -> SioClient {
    SioClient::with_token(address, &user.token).await.unwrap()
}

pub(crate) fn send(to: &User, body: &str, client_msg_id: &str) -> Value {
    json!({"to": {"user": to.id}, "body": body, "client_msg_id": client_msg_id})
}
