//! The chat over Socket.IO on one node (and two nodes sharing one database), in four
//! parts: messages (delivery, idempotency, sync, sequence numbers, limits), access (who
//! may connect and act), delivery (presence, receipts, typing, slow consumers, rate) and
//! the store's batches (the rules checked per entry inside one transaction).

mod access;
mod delivery;
mod messages;
mod store;

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
