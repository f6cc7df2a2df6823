//! Webhooks against a real HTTP receiver started here: signed events for offline
//! recipients and integrations, retries until a failing receiver recovers, and delivery
//! after the node restarts (the outbox is in the database).

use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use confab_entities::webhook_event;
use confab_node::webhooks::sign;
use confab_testkit::{Backend, NodeProcess, eventually};
use sea_orm::{Database, EntityTrait, PaginatorTrait};
use secrecy::SecretString;
use serde_json::{Value, json};

use crate::chat::{connect, send, user};
use crate::helpers::{TestApp, on_every_backend};

const CONFAB: &str = env!("CARGO_BIN_EXE_confab");
const SECRET: &str = "webhook-secret-webhook-secret";
const WITHIN: Duration = Duration::from_secs(20);

on_every_backend!(offline_recipients_are_pushed_and_integrations_told_with_signed_events);

/// One request the receiver got.
#[derive(Debug, Clone)]
struct Delivery {
    event_id: String,
    signature: String,
    body: String,
}

impl Delivery {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap()
    }
}

/// An HTTP server that records what it is sent and answers 500 to the first `failing`
/// requests.
struct Receiver {
    url: String,
    seen: Arc<Mutex<Vec<Delivery>>>,
    server: actix_web::dev::ServerHandle,
}

impl Receiver {
    fn start(listener: TcpListener, failing: usize) -> Self {
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        let seen: Arc<Mutex<Vec<Delivery>>> = Arc::default();
        let failing = Arc::new(AtomicUsize::new(failing));
        let (recorded, left) = (seen.clone(), failing.clone());
        let server = HttpServer::new(move || {
            let (recorded, left) = (recorded.clone(), left.clone());
            App::new().route(
                "/hook",
                web::post().to(move |request: HttpRequest, body: String| {
                    let (recorded, left) = (recorded.clone(), left.clone());
                    async move {
                        let header = |name: &str| {
                            request
                                .headers()
                                .get(name)
                                .unwrap()
                                .to_str()
                                .unwrap()
                                .to_owned()
                        };
                        recorded.lock().unwrap().push(Delivery {
                            event_id: header("x-confab-event-id"),
                            signature: header("x-confab-signature"),
                            body,
                        });
                        let fail = left
                            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                            .is_ok();
                        if fail {
                            HttpResponse::InternalServerError().finish()
                        } else {
                            HttpResponse::NoContent().finish()
                        }
                    }
                }),
            )
        })
        .workers(1)
        .listen(listener)
        .unwrap()
        .run();
        let handle = server.handle();
        actix_web::rt::spawn(server);
        Self {
            url,
            seen,
            server: handle,
        }
    }

    fn on_free_port(failing: usize) -> Self {
        Self::start(TcpListener::bind("127.0.0.1:0").unwrap(), failing)
    }

    /// Waits for the first delivery whose event matches `wanted`.
    async fn wait_for(&self, what: &str, wanted: impl Fn(&Value) -> bool) -> Delivery {
        let seen = &self.seen;
        eventually(what, WITHIN, || async {
            let seen = seen.lock().unwrap();
            seen.iter()
                .find(|delivery| wanted(&delivery.json()))
                .cloned()
        })
        .await
        .unwrap()
    }

    fn all(&self) -> Vec<Delivery> {
        self.seen.lock().unwrap().clone()
    }
}

/// Checks `delivery`'s signature as a receiver would.
fn assert_signed(delivery: &Delivery) {
    let (t, v1) = delivery
        .signature
        .split_once(",v1=")
        .unwrap_or_else(|| panic!("{}", delivery.signature));
    let timestamp: i64 = t.trim_start_matches("t=").parse().unwrap();
    assert_eq!(v1, sign(SECRET.as_bytes(), timestamp, &delivery.body));
    assert!((chrono::Utc::now().timestamp() - timestamp).abs() < 60);
}

fn with_webhooks(settings: &mut confab_node::config::Settings, url: &str) {
    settings.webhook_urls = vec![url.to_owned()];
    settings.webhook_secret = Some(SecretString::from(SECRET));
    settings.webhook_retry_base_ms = 50;
}

async fn offline_recipients_are_pushed_and_integrations_told_with_signed_events(backend: Backend) {
    let receiver = Receiver::on_free_port(0);
    let app = TestApp::spawn_with(backend, |settings| with_webhooks(settings, &receiver.url)).await;
    let (alice, bob) = (user(&app, "alice").await, user(&app, "bob").await);
    let registered = receiver
        .wait_for("user.registered", |event| {
            event["type"] == "user.registered" && event["data"]["user"]["id"] == bob.id.as_str()
        })
        .await;
    assert_signed(&registered);
    assert_eq!(registered.json()["id"], registered.event_id.as_str());

    // Bob has no connection anywhere: his relay is told, with a preview.
    let mut alices = connect(&app.address, &alice).await;
    let first = alices
        .request("message:send", send(&bob, "are you there?", "m-1"))
        .await
        .unwrap();
    let first_id = first["message"]["id"].clone();
    let pushed = receiver
        .wait_for("message.offline", |event| {
            event["type"] == "message.offline"
        })
        .await;
    assert_signed(&pushed);
    let data = &pushed.json()["data"];
    assert_eq!(data["recipients"], json!([bob.id]));
    assert_eq!(data["message_id"], first_id);
    assert_eq!(data["preview"], "are you there?");
    let created = receiver
        .wait_for("message.created", |event| {
            event["type"] == "message.created" && event["data"]["message"]["id"] == first_id
        })
        .await;
    assert_eq!(created.json()["data"]["message"], first["message"]);

    // Once bob is connected, a message to him is no push; every event was delivered.
    let mut bobs = connect(&app.address, &bob).await;
    bobs.request("sync", json!({"cursors": {}})).await.unwrap();
    let second = alices
        .request("message:send", send(&bob, "welcome back", "m-2"))
        .await
        .unwrap();
    let second_id = second["message"]["id"].clone();
    receiver
        .wait_for("the second message.created", |event| {
            event["data"]["message"]["id"] == second_id
        })
        .await;
    // An event for the second message's offline recipients would have been stored with
    // or before its `message.created`: once the outbox is empty it would be here.
    eventually("the outbox to empty", WITHIN, || async {
        let rows = webhook_event::Entity::find().count(&app.db).await.ok()?;
        (rows == 0).then_some(())
    })
    .await
    .unwrap();
    let pushes: Vec<Value> = receiver
        .all()
        .iter()
        .map(Delivery::json)
        .filter(|event| event["type"] == "message.offline")
        .map(|event| event["data"]["message_id"].clone())
        .collect();
    assert_eq!(pushes, [first_id]);

    // A deleted account is told, so that integrations forget it.
    let deleted = app
        .client
        .delete(format!("{}/api/v1/me", app.address))
        .bearer_auth(&bob.token)
        .json(&json!({"password": confab_testkit::PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), reqwest::StatusCode::NO_CONTENT);
    let gone = receiver
        .wait_for("user.deleted", |event| event["type"] == "user.deleted")
        .await;
    assert_signed(&gone);
    assert_eq!(gone.json()["data"], json!({"user": {"id": bob.id}}));
}

#[actix_web::test]
async fn a_failing_receiver_gets_the_event_again_until_it_answers() {
    let receiver = Receiver::on_free_port(2);
    let app = TestApp::spawn_with(Backend::Sqlite, |settings| {
        with_webhooks(settings, &receiver.url)
    })
    .await;
    let carol = user(&app, "carol").await;
    let delivered = receiver
        .wait_for("user.registered", |event| {
            event["data"]["user"]["id"] == carol.id.as_str()
        })
        .await;
    eventually("the third attempt to succeed", WITHIN, || async {
        let rows = webhook_event::Entity::find().count(&app.db).await.ok()?;
        (rows == 0).then_some(())
    })
    .await
    .unwrap();
    let attempts = receiver.all();
    assert_eq!(attempts.len(), 3, "two refusals, then the delivery");
    assert!(
        attempts
            .iter()
            .all(|attempt| attempt.event_id == delivered.event_id && attempt.body == delivered.body),
        "every attempt is the same event"
    );
    receiver.server.stop(true).await;
}

#[actix_web::test]
async fn an_event_stored_before_a_restart_is_delivered_after_it() {
    // Nothing listens on the receiver's port yet: the event waits in the outbox.
    let listener_port = confab_testkit::free_port().unwrap();
    let url = format!("http://127.0.0.1:{listener_port}/hook");
    let env = [
        ("CONFAB_WEBHOOK_URLS", format!("[\"{url}\"]")),
        ("CONFAB_WEBHOOK_SECRET", SECRET.to_owned()),
        ("CONFAB_WEBHOOK_RETRY_BASE_MS", "100".to_owned()),
    ];
    let mut node = NodeProcess::start(CONFAB, &env).await.unwrap();
    let dave = confab_testkit::register(&node.base_url(), "dave")
        .await
        .unwrap();
    let db = database_of(&node).await;
    let stored = eventually("the event to be tried and kept", WITHIN, || async {
        let rows = webhook_event::Entity::find().all(&db).await.ok()?;
        rows.into_iter().find(|row| row.attempts > 0)
    })
    .await
    .unwrap();

    node.restart().await.unwrap();
    let receiver = Receiver::start(TcpListener::bind(("127.0.0.1", listener_port)).unwrap(), 0);
    // A node killed while it held the row waits out the lease (a minute) first.
    let delivered = eventually("the stored event", Duration::from_secs(90), || async {
        receiver
            .all()
            .into_iter()
            .find(|delivery| delivery.json()["data"]["user"]["id"] == dave.id.as_str())
    })
    .await
    .unwrap();
    assert_eq!(delivered.event_id, stored.event_id, "{}", node.logs());
    assert_signed(&delivered);
    receiver.server.stop(true).await;
}

/// The node's `/metrics` line for `series` (exactly), if it has one.
async fn metric(node: &NodeProcess, series: &str) -> Option<String> {
    let text = reqwest::get(format!("{}/metrics", node.base_url()))
        .await
        .ok()?
        .text()
        .await
        .ok()?;
    text.lines()
        .find(|line| line.starts_with(series) && line[series.len()..].starts_with(' '))
        .map(|line| line[series.len()..].trim().to_owned())
}

#[actix_web::test]
async fn past_the_outbox_bound_new_events_are_dropped_and_counted() {
    // Nothing listens: the first event stays in the outbox, which holds one row.
    let url = format!(
        "http://127.0.0.1:{}/hook",
        confab_testkit::free_port().unwrap()
    );
    let env = [
        ("CONFAB_WEBHOOK_URLS", format!("[\"{url}\"]")),
        ("CONFAB_WEBHOOK_SECRET", SECRET.to_owned()),
        ("CONFAB_WEBHOOK_QUEUE_MAX", "1".to_owned()),
    ];
    let node = NodeProcess::start(CONFAB, &env).await.unwrap();
    confab_testkit::register(&node.base_url(), "first")
        .await
        .unwrap();
    // The dispatcher has counted the outbox full.
    eventually("the outbox to be counted full", WITHIN, || async {
        (metric(&node, "confab_webhook_outbox_rows").await? == "1").then_some(())
    })
    .await
    .unwrap();
    confab_testkit::register(&node.base_url(), "second")
        .await
        .unwrap();
    let dropped = r#"confab_webhook_dropped_total{type="user.registered"}"#;
    eventually("the second event to be dropped", WITHIN, || async {
        (metric(&node, dropped).await? == "1").then_some(())
    })
    .await
    .unwrap();
    let db = database_of(&node).await;
    assert_eq!(webhook_event::Entity::find().count(&db).await.unwrap(), 1);
}

/// A connection to the SQLite database of a node process.
async fn database_of(node: &NodeProcess) -> sea_orm::DatabaseConnection {
    let url = format!(
        "sqlite://{}?mode=rw",
        node.dir().join("confab.db").display()
    );
    Database::connect(url).await.unwrap()
}
