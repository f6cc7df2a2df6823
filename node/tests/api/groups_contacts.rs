//! Groups and contacts over real HTTP (and their pushes over Socket.IO), on every database
//! backend: `groups` has the role matrix, public and private groups, leaving and
//! dissolving, and the member limit; `contacts` has requests, blocks, and that nobody sees
//! or answers another user's requests.

mod contacts;
mod groups;

use confab_testkit::SioClient;
use reqwest::{Method, Response, StatusCode};
use serde_json::Value;

use crate::chat::{User, user};
use crate::helpers::TestApp;

/// Registers each of `names`, in order.
pub(crate) async fn users<const N: usize>(app: &TestApp, names: [&str; N]) -> [User; N] {
    let mut users = Vec::with_capacity(N);
    for name in names {
        users.push(user(app, name).await);
    }
    users.try_into().unwrap_or_else(|_| unreachable!())
}

/// Registers each of `names` and makes every two of them contacts, written straight to
/// the database: putting someone in a group needs them to be the adder's contact.
pub(crate) async fn friends<const N: usize>(app: &TestApp, names: [&str; N]) -> [User; N] {
    use sea_orm::{ActiveModelTrait, Set};
    let users = users(app, names).await;
    for (n, user) in users.iter().enumerate() {
        for other in users.iter().skip(n + 1) {
            for (a, b) in [(user, other), (other, user)] {
                confab_entities::contact::ActiveModel {
                    user_id: Set(a.id.clone()),
                    contact_id: Set(b.id.clone()),
                    created_at: Set(chrono::Utc::now()),
                }
                .insert(&app.db)
                .await
                .unwrap();
            }
        }
    }
    users
}

/// `method /api/v1{path}` as `who`, with an optional JSON body.
pub(crate) async fn call(
    app: &TestApp,
    who: &User,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> Response {
    let mut request = app
        .client
        .request(method, format!("{}/api/v1{path}", app.address))
        .bearer_auth(&who.token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    request.send().await.expect("request")
}

/// The reply's JSON, after checking its status.
pub(crate) async fn body(reply: Response, status: StatusCode) -> Value {
    assert_eq!(reply.status(), status);
    reply.json().await.unwrap()
}

/// A Socket.IO connection as `who`.
async fn connect(app: &TestApp, who: &User) -> SioClient {
    SioClient::with_token(&app.address, &who.token)
        .await
        .unwrap()
}
