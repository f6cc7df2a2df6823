//! Bad input gets a 4xx with the error shape, and changes nothing.

use confab_testkit::Backend;
use reqwest::StatusCode;
use reqwest::header::CONTENT_TYPE;
use serde_json::json;

use crate::helpers::{TestApp, error_code};

const REGISTER: &str = "/api/v1/auth/register";

#[actix_web::test]
async fn malformed_bodies_are_refused_with_their_own_codes() {
    let app = TestApp::spawn_with(Backend::Sqlite, |settings| {
        settings.http_json_limit = 4096;
    })
    .await;
    let raw = |body: String, content_type: &'static str| {
        app.client
            .post(format!("{}{REGISTER}", app.address))
            .header(CONTENT_TYPE, content_type)
            .body(body)
            .send()
    };
    let cases = [
        (
            raw("{\"username\": ".into(), "application/json").await,
            StatusCode::BAD_REQUEST,
            "malformed_json",
        ),
        (
            raw("{\"username\": \"erin\"}".into(), "application/json").await,
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_request",
        ),
        (
            raw(
                "{\"username\": 5, \"password\": true}".into(),
                "application/json",
            )
            .await,
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_request",
        ),
        (
            raw("[1, 2, 3]".into(), "application/json").await,
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_request",
        ),
        (
            raw(
                format!("{{\"username\": \"{}\"}}", "x".repeat(10_000)),
                "application/json",
            )
            .await,
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
        ),
        (
            raw("username=erin".into(), "application/x-www-form-urlencoded").await,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
        ),
    ];
    for (reply, status, code) in cases {
        assert_eq!(error_code(reply.expect("request"), status).await, code);
    }
    assert_eq!(app.user_count().await, 0);
}

#[actix_web::test]
async fn rule_breaking_accounts_are_refused_and_not_stored() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let cases = [
        (
            json!({"username": "x", "password": "long enough"}),
            "invalid_username",
        ),
        (
            json!({"username": "robert'); DROP TABLE users;--", "password": "long enough"}),
            "invalid_username",
        ),
        (
            json!({"username": "frank", "password": "short"}),
            "invalid_password",
        ),
        (
            json!({"username": "frank", "password": "long enough", "display_name": ""}),
            "invalid_display_name",
        ),
    ];
    for (body, code) in cases {
        let reply = app.post(REGISTER, &body).await;
        assert_eq!(
            error_code(reply, StatusCode::BAD_REQUEST).await,
            code,
            "{body}"
        );
    }
    assert_eq!(app.user_count().await, 0);
}

#[actix_web::test]
async fn unknown_endpoints_are_404_with_the_error_shape() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let reply = app.get("/api/v1/no-such-thing", None).await;
    assert_eq!(error_code(reply, StatusCode::NOT_FOUND).await, "not_found");
}

#[actix_web::test]
async fn a_message_target_of_the_wrong_shape_says_what_is_wrong() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let alice = app.register("alice").await;
    let token = alice["token"].as_str().unwrap();
    let id = alice["user"]["id"].as_str().unwrap();
    for to in [
        json!({"user": id, "group": "g"}),
        json!({}),
        json!({"channel": "c"}),
        json!("someone"),
    ] {
        let reply = app
            .client
            .post(format!("{}/api/v1/messages", app.address))
            .bearer_auth(token)
            .json(&json!({"to": to, "body": "hi", "client_msg_id": "m"}))
            .send()
            .await
            .unwrap();
        assert_eq!(reply.status(), StatusCode::UNPROCESSABLE_ENTITY, "{to}");
        let body: serde_json::Value = reply.json().await.unwrap();
        assert_eq!(body["error"]["code"], "invalid_request", "{to}: {body}");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(!message.contains("expected value"), "{to}: {message}");
    }
}
