//! Register, login and `/me` over real HTTP, on every database backend.

use confab_testkit::Backend;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TEST_SECRET, TestApp, error_code, on_every_backend, sign_token};

on_every_backend!(
    register_login_and_me_agree_on_the_user,
    a_taken_username_is_a_conflict_whatever_its_case,
    user_search_matches_username_prefixes_literally,
);

async fn register_login_and_me_agree_on_the_user(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let registered = app
        .post(
            "/api/v1/auth/register",
            &json!({"username": "Alice", "password": "correct horse battery", "display_name": "Alice A."}),
        )
        .await;
    assert_eq!(registered.status(), StatusCode::CREATED);
    let registered: Value = registered.json().await.unwrap();
    let user = &registered["user"];
    assert_eq!(user["username"], "alice");
    assert_eq!(user["display_name"], "Alice A.");
    assert!(user.get("password_hash").is_none());

    let login = app
        .post(
            "/api/v1/auth/login",
            &json!({"username": "ALICE", "password": "correct horse battery"}),
        )
        .await;
    assert_eq!(login.status(), StatusCode::OK);
    let login: Value = login.json().await.unwrap();
    assert_eq!(&login["user"], user);

    for token in [&registered["token"], &login["token"]] {
        let me = app.get("/api/v1/me", token.as_str()).await;
        assert_eq!(me.status(), StatusCode::OK);
        let me: Value = me.json().await.unwrap();
        assert_eq!(&me["user"], user);
    }
    let by_id = app
        .get(
            &format!("/api/v1/users/{}", user["id"].as_str().unwrap()),
            login["token"].as_str(),
        )
        .await;
    assert_eq!(by_id.json::<Value>().await.unwrap()["user"], *user);
}

async fn a_taken_username_is_a_conflict_whatever_its_case(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.register("bob").await;
    let again = app
        .post(
            "/api/v1/auth/register",
            &json!({"username": "BOB", "password": "another password"}),
        )
        .await;
    assert_eq!(
        error_code(again, StatusCode::CONFLICT).await,
        "username_taken"
    );
    assert_eq!(app.user_count().await, 1);
}

#[actix_web::test]
async fn wrong_password_and_unknown_user_are_the_same_401() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    app.register("carol").await;
    let wrong_password = app
        .post(
            "/api/v1/auth/login",
            &json!({"username": "carol", "password": "not her password"}),
        )
        .await;
    let unknown_user = app
        .post(
            "/api/v1/auth/login",
            &json!({"username": "nobody", "password": "not her password"}),
        )
        .await;
    assert_eq!(wrong_password.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(unknown_user.status(), StatusCode::UNAUTHORIZED);
    let wrong_password: Value = wrong_password.json().await.unwrap();
    let unknown_user: Value = unknown_user.json().await.unwrap();
    assert_eq!(wrong_password, unknown_user);
    assert_eq!(wrong_password["error"]["code"], "invalid_credentials");
}

#[actix_web::test]
async fn me_refuses_missing_forged_and_expired_tokens() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let registered = app.register("dave").await;
    let user_id = registered["user"]["id"].as_str().unwrap();
    let session_id = registered["session_id"].as_str().unwrap();
    let now = jsonwebtoken::get_current_timestamp();
    let sign = |secret: &str, exp: u64| sign_token(user_id, session_id, secret, exp);
    let cases = [
        (None, "missing_token"),
        (Some("garbage".to_owned()), "invalid_token"),
        (
            Some(sign("a-forged-secret-of-sufficient-length", now + 600)),
            "invalid_token",
        ),
        (Some(sign(TEST_SECRET, now - 10)), "token_expired"),
    ];
    for (token, code) in cases {
        let reply = app.get("/api/v1/me", token.as_deref()).await;
        assert_eq!(error_code(reply, StatusCode::UNAUTHORIZED).await, code);
    }
    // The same claims signed with the node's secret are accepted: the refusals above are
    // about the signature and the expiry, not the claims.
    let genuine = app
        .get("/api/v1/me", Some(&sign(TEST_SECRET, now + 600)))
        .await;
    assert_eq!(genuine.status(), StatusCode::OK);
}

async fn user_search_matches_username_prefixes_literally(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let token = app.register("alice").await["token"]
        .as_str()
        .unwrap()
        .to_owned();
    for name in ["alicia", "bob", "al_x", "alfa"] {
        app.register(name).await;
    }
    let names = |reply: Value| -> Vec<String> {
        reply["users"]
            .as_array()
            .unwrap()
            .iter()
            .map(|user| user["username"].as_str().unwrap().to_owned())
            .collect()
    };
    let found = app.get("/api/v1/users?q=ALI", Some(&token)).await;
    assert_eq!(names(found.json().await.unwrap()), ["alice", "alicia"]);
    // `_` is a letter of usernames, not a wildcard.
    let found = app.get("/api/v1/users?q=al_", Some(&token)).await;
    assert_eq!(names(found.json().await.unwrap()), ["al_x"]);
    let empty = app.get("/api/v1/users?q=", Some(&token)).await;
    assert_eq!(
        error_code(empty, StatusCode::BAD_REQUEST).await,
        "invalid_request"
    );
}

/// Every endpoint the OpenAPI document says needs a token refuses a missing, a forged and
/// an expired one, with the code that says which, and changes nothing.
#[actix_web::test]
async fn every_authenticated_endpoint_refuses_missing_forged_and_expired_tokens() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let registered = app.register("erin").await;
    let user_id = registered["user"]["id"].as_str().unwrap().to_owned();
    let session_id = registered["session_id"].as_str().unwrap().to_owned();
    let now = jsonwebtoken::get_current_timestamp();
    let sign = |secret: &str, exp: u64| sign_token(&user_id, &session_id, secret, exp);
    let tokens = [
        (None, "missing_token"),
        (
            Some(sign("a-forged-secret-of-sufficient-length", now + 600)),
            "invalid_token",
        ),
        (Some(sign(TEST_SECRET, now - 10)), "token_expired"),
    ];
    let document: Value = app.get("/openapi.json", None).await.json().await.unwrap();
    let mut checked = 0;
    for (path, operations) in document["paths"].as_object().unwrap() {
        let concrete = path
            .split('/')
            .map(|part| if part.starts_with('{') { "x" } else { part })
            .collect::<Vec<_>>()
            .join("/");
        for (method, operation) in operations.as_object().unwrap() {
            let public = operation["security"].as_array().is_some_and(Vec::is_empty);
            let Ok(method) = reqwest::Method::from_bytes(method.to_uppercase().as_bytes()) else {
                continue;
            };
            if public || !["GET", "POST", "PUT", "PATCH", "DELETE"].contains(&method.as_str()) {
                continue;
            }
            for (token, code) in &tokens {
                let mut request = app
                    .client
                    .request(method.clone(), format!("{}{concrete}?q=x", app.address))
                    .json(&json!({"name": "n", "user_id": "x", "to": {"user": "x"}, "body": "b", "client_msg_id": "c", "role": "admin"}));
                if let Some(token) = token {
                    request = request.bearer_auth(token);
                }
                let reply = request.send().await.unwrap();
                let got = error_code(reply, StatusCode::UNAUTHORIZED).await;
                assert_eq!(&got, code, "{method} {path}");
                checked += 1;
            }
        }
    }
    assert!(checked >= 60, "only {checked} checks");
    assert_eq!(app.user_count().await, 1);
}
