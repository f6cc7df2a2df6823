//! A node in this test process, bound to a free port, on a fresh database.

use std::time::Duration;

use confab_node::config::Settings;
use confab_node::startup::Application;
use confab_testkit::{Backend, TestDb};
use reqwest::{Response, StatusCode};
use sea_orm::{DatabaseConnection, EntityTrait, PaginatorTrait};
use secrecy::SecretString;
use serde_json::{Value, json};

/// The secret in-process test nodes sign tokens with.
pub(crate) const TEST_SECRET: &str = "test-secret-test-secret-test-secret";

/// Generates one `#[actix_web::test]` per database backend for each async fn given.
macro_rules! on_every_backend {
    ($($name:ident),* $(,)?) => {
        mod on_sqlite {
            $(#[actix_web::test] async fn $name() { super::$name(confab_testkit::Backend::Sqlite).await })*
        }
        mod on_postgres {
            $(#[actix_web::test] async fn $name() { super::$name(confab_testkit::Backend::Postgres).await })*
        }
        mod on_mysql {
            $(#[actix_web::test] async fn $name() { super::$name(confab_testkit::Backend::MySql).await })*
        }
    };
}
pub(crate) use on_every_backend;

/// An in-process node and a client for it.
pub(crate) struct TestApp {
    pub(crate) address: String,
    pub(crate) client: reqwest::Client,
    /// A separate pool on the node's database, to check what was stored.
    pub(crate) db: DatabaseConnection,
    pub(crate) test_db: TestDb,
    /// The settings the node runs with, to start more nodes like it.
    pub(crate) settings: Settings,
    /// The node's attachment directory (unless a test gave it a bucket).
    pub(crate) storage: tempfile::TempDir,
}

impl TestApp {
    /// A node on a fresh `backend` database with the default test settings.
    pub(crate) async fn spawn(backend: Backend) -> Self {
        Self::spawn_with(backend, |_| {}).await
    }

    /// A node on a fresh `backend` database, with `adjust` applied to its settings.
    pub(crate) async fn spawn_with(backend: Backend, adjust: impl FnOnce(&mut Settings)) -> Self {
        let test_db = TestDb::create(backend).await.expect("test database");
        let storage = tempfile::tempdir().expect("attachment directory");
        let mut settings = Settings {
            listen: "127.0.0.1:0".parse().expect("address"),
            database_url: test_db.url().to_owned(),
            jwt_secret: Some(SecretString::from(TEST_SECRET)),
            workers: 2,
            storage_dir: storage.path().to_owned(),
            ..Settings::default()
        };
        adjust(&mut settings);
        let address = start_node(&settings).await;
        Self {
            address,
            client: client(),
            db: test_db.connect().await.expect("test pool"),
            test_db,
            settings,
            storage,
        }
    }

    /// Starts another node on the same database; returns its address.
    pub(crate) async fn another_node(&self) -> String {
        start_node(&self.settings).await
    }

    pub(crate) async fn post(&self, path: &str, body: &Value) -> Response {
        self.client
            .post(format!("{}{path}", self.address))
            .json(body)
            .send()
            .await
            .expect("request")
    }

    pub(crate) async fn get(&self, path: &str, token: Option<&str>) -> Response {
        let mut request = self.client.get(format!("{}{path}", self.address));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send().await.expect("request")
    }

    /// Registers `username` with a valid password and returns the reply body.
    pub(crate) async fn register(&self, username: &str) -> Value {
        let reply = self
            .post(
                "/api/v1/auth/register",
                &json!({"username": username, "password": "correct horse battery"}),
            )
            .await;
        assert_eq!(reply.status(), StatusCode::CREATED);
        reply.json().await.expect("json")
    }

    /// How many user rows the database holds.
    pub(crate) async fn user_count(&self) -> u64 {
        confab_entities::user::Entity::find()
            .count(&self.db)
            .await
            .expect("count users")
    }
}

/// Starts an in-process node with `settings`; returns its address.
async fn start_node(settings: &Settings) -> String {
    let app = Application::build(settings, true)
        .await
        .expect("node starts");
    let address = format!("http://127.0.0.1:{}", app.port());
    actix_web::rt::spawn(app.run_until_stopped());
    address
}

/// A client with a timeout, using the ring TLS provider.
/// The id of the direct conversation of two users.
pub(crate) fn direct_conversation(one: &str, other: &str) -> String {
    use confab_protocol::chat::{ConversationId, UserId};
    let user = |id: &str| UserId::stored(id.to_owned());
    ConversationId::direct(&user(one), &user(other)).into()
}

pub(crate) fn client() -> reqwest::Client {
    confab_node::tls::install_crypto_provider();
    reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client")
}

/// Asserts the API's error shape and returns the code.
pub(crate) async fn error_code(reply: Response, status: StatusCode) -> String {
    assert_eq!(reply.status(), status);
    let body: Value = reply.json().await.expect("error body is JSON");
    let code = body["error"]["code"]
        .as_str()
        .expect("error.code")
        .to_owned();
    assert!(
        body["error"]["message"].is_string(),
        "error.message in {body}"
    );
    code
}

/// A token for `user_id` in `session_id` signed with `secret`, expiring at `exp` (Unix
/// seconds): forged and expired tokens for the refusal tests.
pub(crate) fn sign_token(user_id: &str, session_id: &str, secret: &str, exp: u64) -> String {
    let now = jsonwebtoken::get_current_timestamp();
    let claims =
        json!({"sub": user_id, "sid": session_id, "iss": "confab", "iat": now - 100, "exp": exp});
    jsonwebtoken::encode(
        &jsonwebtoken::Header::default(),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()),
    )
    .expect("signing a test token")
}
