//! Attachments through a node, stored in a local directory and in a real S3-compatible
//! server (`moto_server`, started here): uploads typed by their bytes and bounded, images
//! measured and given a thumbnail, downloads with `Range` for the conversation's members
//! only, files going with their message, and uploads no message took swept.

use std::io::Cursor;
use std::time::Duration;

use confab_testkit::{Backend, S3Server, eventually};
use reqwest::StatusCode;
use secrecy::SecretString;
use serde_json::{Value, json};

use crate::chat::{User, connect, send, user};
use crate::helpers::{TestApp, on_every_backend};

const WITHIN: Duration = Duration::from_secs(20);

/// Where a test node keeps attachments.
enum Store {
    Directory,
    S3(S3Server),
}

impl Store {
    /// A fresh S3 server with one bucket.
    async fn s3() -> Self {
        let server = S3Server::start().unwrap();
        let created = reqwest::Client::new()
            .put(format!("{}/uploads", server.url()))
            .send()
            .await
            .unwrap();
        assert!(created.status().is_success(), "{created:?}");
        Self::S3(server)
    }

    /// A node on SQLite keeping attachments here, with `adjust` applied.
    async fn node(&self, adjust: impl FnOnce(&mut confab_node::config::Settings)) -> TestApp {
        self.node_on(Backend::Sqlite, adjust).await
    }

    /// A node on `backend` keeping attachments here, with `adjust` applied.
    async fn node_on(
        &self,
        backend: Backend,
        adjust: impl FnOnce(&mut confab_node::config::Settings),
    ) -> TestApp {
        TestApp::spawn_with(backend, |settings| {
            if let Self::S3(server) = self {
                settings.s3_bucket = Some("uploads".into());
                settings.s3_endpoint = Some(server.url());
                settings.s3_access_key_id = Some("test".into());
                settings.s3_secret_access_key = Some(SecretString::from("test"));
            }
            adjust(settings);
        })
        .await
    }

    /// Waits until the attachment `id` is neither stored nor served to its owner.
    async fn wait_gone(&self, app: &TestApp, owner: &User, id: &str, what: &str) {
        eventually(what, WITHIN, || async {
            (!self.holds(app, id).await).then_some(())
        })
        .await
        .unwrap();
        let status = download(app, owner, id, None).await.status();
        assert_eq!(status, StatusCode::NOT_FOUND);
    }

    /// Whether the attachment's file is still stored.
    async fn holds(&self, app: &TestApp, id: &str) -> bool {
        match self {
            Self::Directory => app.storage.path().join("attachments").join(id).exists(),
            Self::S3(server) => reqwest::get(format!("{}/uploads/attachments/{id}", server.url()))
                .await
                .unwrap()
                .status()
                .is_success(),
        }
    }
}

/// A 640×480 PNG.
pub(crate) fn png() -> Vec<u8> {
    let image = image::RgbImage::from_fn(640, 480, |x, y| image::Rgb([x as u8, y as u8, 90]));
    let mut bytes = Vec::new();
    image
        .write_to(&mut Cursor::new(&mut bytes), image::ImageFormat::Png)
        .unwrap();
    bytes
}

async fn upload(app: &TestApp, owner: &User, name: &str, bytes: Vec<u8>) -> reqwest::Response {
    app.client
        .post(format!("{}/api/v1/uploads?name={name}", app.address))
        .bearer_auth(&owner.token)
        .body(bytes)
        .send()
        .await
        .unwrap()
}

pub(crate) async fn uploaded(app: &TestApp, owner: &User, name: &str, bytes: Vec<u8>) -> Value {
    let reply = upload(app, owner, name, bytes).await;
    assert_eq!(reply.status(), StatusCode::CREATED);
    reply.json::<Value>().await.unwrap()["attachment"].clone()
}

async fn download(
    app: &TestApp,
    reader: &User,
    path: &str,
    range: Option<&str>,
) -> reqwest::Response {
    let mut request = app
        .client
        .get(format!("{}/api/v1/attachments/{path}", app.address))
        .bearer_auth(&reader.token);
    if let Some(range) = range {
        request = request.header("range", range);
    }
    request.send().await.unwrap()
}

#[actix_web::test]
async fn files_in_a_directory_go_to_the_conversation_and_with_their_message() {
    files_go_to_the_conversation_and_with_their_message(Store::Directory).await;
}

#[actix_web::test]
async fn files_in_s3_go_to_the_conversation_and_with_their_message() {
    files_go_to_the_conversation_and_with_their_message(Store::s3().await).await;
}

async fn files_go_to_the_conversation_and_with_their_message(store: Store) {
    let app = store.node(|_| {}).await;
    let (alice, bob, carol) = (
        user(&app, "alice").await,
        user(&app, "bob").await,
        user(&app, "carol").await,
    );
    let image = png();
    let photo = uploaded(&app, &alice, "photo.png", image.clone()).await;
    assert_eq!(photo["content_type"], "image/png");
    assert_eq!(
        (&photo["width"], &photo["height"]),
        (&json!(640), &json!(480))
    );
    assert_eq!(photo["thumbnail"], true);
    assert_eq!(photo["size"], image.len());
    let id = photo["id"].as_str().unwrap().to_owned();
    // More than two of object_store's 5 MiB parts: a multipart upload.
    let big: Vec<u8> = "twelve mebibytes of text\n"
        .repeat(12 * 1024 * 1024 / 25)
        .into_bytes();
    let notes = uploaded(&app, &alice, "notes.txt", big.clone()).await;
    assert_eq!(notes["content_type"], "text/plain");

    // Before any message, only its owner reads it.
    assert_eq!(
        download(&app, &bob, &id, None).await.status(),
        StatusCode::NOT_FOUND
    );
    let mut alices = connect(&app.address, &alice).await;
    // Past the bound of 10 files per message, whatever they are.
    let mut crowded = send(&bob, "", "m-9");
    crowded["attachments"] = json!(vec![id.clone(); 11]);
    let refused = alices.request("message:send", crowded).await.unwrap();
    assert_eq!(refused["error"]["code"], "too_large", "{refused}");
    // A send the store refuses (nobody to send to) leaves the files unsent.
    let nobody = json!({
        "to": {"user": "01900000-0000-7000-8000-000000000000"}, "body": "",
        "client_msg_id": "m-0", "attachments": [id],
    });
    let refused = alices.request("message:send", nobody).await.unwrap();
    assert_eq!(refused["error"]["code"], "not_found", "{refused}");
    let mut message = send(&bob, "", "m-1");
    message["attachments"] = json!([id, notes["id"]]);
    let sent = alices.request("message:send", message).await.unwrap();
    assert_eq!(sent["ok"], true, "{sent}");
    assert_eq!(sent["message"]["attachments"], json!([photo, notes]));

    let whole = download(&app, &bob, &id, None).await;
    assert_eq!(whole.status(), StatusCode::OK);
    assert_eq!(whole.headers()["content-type"], "image/png");
    assert_eq!(whole.bytes().await.unwrap(), image);
    let part = download(&app, &bob, &id, Some("bytes=8-15")).await;
    assert_eq!(part.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(
        part.headers()["content-range"],
        format!("bytes 8-15/{}", image.len()).as_str()
    );
    assert_eq!(part.bytes().await.unwrap(), image[8..16]);
    let beyond = download(&app, &bob, &id, Some("bytes=99999999-")).await;
    assert_eq!(beyond.status(), StatusCode::RANGE_NOT_SATISFIABLE);
    let text = download(&app, &bob, notes["id"].as_str().unwrap(), None).await;
    assert_eq!(text.bytes().await.unwrap().len(), big.len());
    let thumbnail = download(&app, &bob, &format!("{id}/thumbnail"), None).await;
    assert_eq!(thumbnail.headers()["content-type"], "image/jpeg");
    let small = image::load_from_memory(&thumbnail.bytes().await.unwrap()).unwrap();
    assert_eq!((small.width(), small.height()), (320, 240));

    // Nobody else reads it, or sends it again; neither may its owner elsewhere.
    assert_eq!(
        download(&app, &carol, &id, None).await.status(),
        StatusCode::NOT_FOUND
    );
    let mut carols = connect(&app.address, &carol).await;
    let mut theft = send(&bob, "mine now", "c-1");
    theft["attachments"] = json!([id]);
    let refused = carols.request("message:send", theft).await.unwrap();
    assert_eq!(refused["error"]["code"], "invalid_request", "{refused}");
    // An upload goes with one message: not elsewhere, not again.
    for (to, client_msg_id) in [(&carol, "m-2"), (&bob, "m-3")] {
        let mut again = send(to, "look", client_msg_id);
        again["attachments"] = json!([id]);
        let refused = alices.request("message:send", again).await.unwrap();
        assert_eq!(refused["error"]["code"], "invalid_request", "{refused}");
    }

    // Deleting the message deletes its files.
    let at = json!({"conversation": sent["message"]["conversation"], "seq": 1});
    let deleted = alices.request("message:delete", at).await.unwrap();
    assert_eq!(deleted["ok"], true, "{deleted}");
    assert_eq!(
        download(&app, &bob, &id, None).await.status(),
        StatusCode::NOT_FOUND
    );
    assert!(!store.holds(&app, &id).await, "the file is still stored");
}

on_every_backend!(uploads_are_typed_by_their_bytes_and_bounded_by_size_and_quota);

async fn uploads_are_typed_by_their_bytes_and_bounded_by_size_and_quota(backend: Backend) {
    let store = Store::Directory;
    let app = store
        .node_on(backend, |settings| {
            settings.max_upload_bytes = 100_000;
            settings.storage_quota_bytes = 150_000;
        })
        .await;
    let alice = user(&app, "alice").await;
    // An executable named like a picture is still an executable.
    let elf = b"\x7fELF\x02\x01\x01\0\0\0\0\0\0\0\0\0".to_vec();
    let refused = upload(&app, &alice, "cat.png", elf).await;
    assert_eq!(refused.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["error"]["code"], "unsupported_type");

    let too_big = upload(&app, &alice, "big.txt", vec![b'a'; 100_001]).await;
    assert_eq!(too_big.status(), StatusCode::PAYLOAD_TOO_LARGE);
    uploaded(&app, &alice, "first.txt", vec![b'a'; 90_000]).await;
    let over_quota = upload(&app, &alice, "second.txt", vec![b'b'; 90_000]).await;
    assert_eq!(over_quota.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let body: Value = over_quota.json().await.unwrap();
    assert_eq!(body["error"]["code"], "quota_exceeded");
    let bad_name = upload(&app, &alice, "..%2Fetc", b"text".to_vec()).await;
    assert_eq!(bad_name.status(), StatusCode::BAD_REQUEST);
    // Only the one accepted upload was kept.
    let kept = std::fs::read_dir(app.storage.path().join("attachments"))
        .unwrap()
        .count();
    assert_eq!(kept, 1);
    let anonymous = app
        .client
        .post(format!("{}/api/v1/uploads?name=x.txt", app.address))
        .body("hello")
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
}

#[actix_web::test]
async fn an_upload_no_message_takes_is_swept() {
    let store = Store::s3().await;
    let app = store
        .node(|settings| {
            settings.unreferenced_upload_secs = 1;
            settings.expiry_sweep_ms = 100;
        })
        .await;
    let alice = user(&app, "alice").await;
    let unused = uploaded(&app, &alice, "unused.png", png()).await;
    let id = unused["id"].as_str().unwrap();
    assert!(store.holds(&app, id).await);
    store
        .wait_gone(&app, &alice, id, "the unused upload to go")
        .await;
}

#[actix_web::test]
async fn the_files_of_an_expired_message_go_with_it() {
    let store = Store::Directory;
    let app = store.node(|settings| settings.expiry_sweep_ms = 100).await;
    let (alice, bob) = (user(&app, "alice").await, user(&app, "bob").await);
    let mut alices = connect(&app.address, &alice).await;
    let conversation = crate::helpers::direct_conversation(&alice.id, &bob.id);
    let expiry = json!({"conversation": conversation, "seconds": 1});
    let set = alices
        .request("conversation:set_expiry", expiry)
        .await
        .unwrap();
    assert_eq!(set["ok"], true, "{set}");
    let photo = uploaded(&app, &alice, "fleeting.png", png()).await;
    let id = photo["id"].as_str().unwrap();
    let mut message = send(&bob, "gone soon", "m-1");
    message["attachments"] = json!([id]);
    let sent = alices.request("message:send", message).await.unwrap();
    assert_eq!(sent["ok"], true, "{sent}");
    store
        .wait_gone(&app, &alice, id, "the expired message's file to go")
        .await;
}

#[actix_web::test]
async fn a_dissolved_groups_files_go_with_it() {
    let store = Store::Directory;
    let app = store.node(|_| {}).await;
    let (alice, bob) = (user(&app, "alice").await, user(&app, "bob").await);
    let group = crate::chat::group_of(&app, &alice, &[&bob]).await;
    let photo = uploaded(&app, &alice, "team.png", png()).await;
    let id = photo["id"].as_str().unwrap();
    let mut alices = connect(&app.address, &alice).await;
    let message = json!({
        "to": {"group": group}, "body": "our team", "client_msg_id": "g-1", "attachments": [id],
    });
    let sent = alices.request("message:send", message).await.unwrap();
    assert_eq!(sent["ok"], true, "{sent}");
    assert_eq!(
        download(&app, &bob, id, None).await.status(),
        StatusCode::OK
    );
    let dissolved = alices
        .request("group:delete", json!({"group": group}))
        .await
        .unwrap();
    assert_eq!(dissolved["ok"], true, "{dissolved}");
    assert!(!store.holds(&app, id).await, "the file outlived its group");
    assert_eq!(
        download(&app, &alice, id, None).await.status(),
        StatusCode::NOT_FOUND
    );
}
