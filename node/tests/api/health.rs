//! `/healthz`, `/readyz` and `/metrics`.

use confab_testkit::{Backend, eventually};
use reqwest::StatusCode;
use std::time::Duration;

use crate::helpers::{TestApp, error_code};

#[actix_web::test]
async fn a_fresh_node_is_alive_and_ready() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    assert_eq!(app.get("/healthz", None).await.status(), StatusCode::OK);
    assert_eq!(app.get("/readyz", None).await.status(), StatusCode::OK);
}

#[actix_web::test]
async fn metrics_count_requests_by_route_pattern() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    app.get("/api/v1/users/some-id", None).await;
    let metrics = app.get("/metrics", None).await;
    assert_eq!(metrics.status(), StatusCode::OK);
    let text = metrics.text().await.unwrap();
    let line = text
        .lines()
        .find(|line| {
            line.starts_with("confab_http_requests_total")
                && line.contains("route=\"/api/v1/users/{id}\"")
                && line.contains("status=\"401\"")
        })
        .unwrap_or_else(|| panic!("no request counter for the users route in:\n{text}"));
    assert!(!line.ends_with(" 0"), "{line}");
    assert!(
        text.contains("confab_http_request_duration_seconds_bucket"),
        "{text}"
    );
}

#[actix_web::test]
async fn readyz_turns_503_when_the_database_goes_away() {
    let app = TestApp::spawn(Backend::Postgres).await;
    assert_eq!(app.get("/readyz", None).await.status(), StatusCode::OK);
    let TestApp {
        address,
        client,
        db,
        test_db,
        ..
    } = app;
    db.close().await.unwrap();
    // Dropping the test database terminates the node's connections to it.
    drop(test_db);
    let reply = eventually("readyz to fail", Duration::from_secs(20), || {
        let request = client.get(format!("{address}/readyz")).send();
        async move {
            let reply = request.await.ok()?;
            (reply.status() == StatusCode::SERVICE_UNAVAILABLE).then_some(reply)
        }
    })
    .await
    .unwrap();
    assert_eq!(
        error_code(reply, StatusCode::SERVICE_UNAVAILABLE).await,
        "database_unavailable"
    );
    let alive = client
        .get(format!("{address}/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(alive.status(), StatusCode::OK);
}

/// Every path and method of the served OpenAPI document reaches a route of the node, so
/// the document and the router cannot drift apart unnoticed.
#[actix_web::test]
async fn every_documented_endpoint_exists() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let document: serde_json::Value = app.get("/openapi.json", None).await.json().await.unwrap();
    assert!(document["openapi"].as_str().unwrap().starts_with("3."));
    let paths = document["paths"].as_object().unwrap();
    assert!(paths.len() > 20, "{} paths", paths.len());
    for (path, operations) in paths {
        let concrete = path
            .split('/')
            .map(|part| if part.starts_with('{') { "x" } else { part })
            .collect::<Vec<_>>()
            .join("/");
        for method in operations.as_object().unwrap().keys() {
            let Ok(method) = reqwest::Method::from_bytes(method.to_uppercase().as_bytes()) else {
                continue;
            };
            if !["GET", "POST", "PUT", "PATCH", "DELETE"].contains(&method.as_str()) {
                continue;
            }
            let reply = app
                .client
                .request(method.clone(), format!("{}{concrete}?q=x", app.address))
                .send()
                .await
                .unwrap();
            let status = reply.status();
            let body = reply.text().await.unwrap_or_default();
            assert!(
                !(status == StatusCode::NOT_FOUND && body.contains("no such endpoint")),
                "{method} {path} is documented but not served"
            );
        }
    }
}

/// With a metrics listener of its own, `/metrics` is served there only: the client
/// listener (what an ingress exposes) answers 404 for it.
#[actix_web::test]
async fn metrics_on_their_own_listener_are_not_on_the_client_one() {
    let test_db = confab_testkit::TestDb::create(Backend::Sqlite)
        .await
        .unwrap();
    let settings = confab_node::config::Settings {
        listen: "127.0.0.1:0".parse().unwrap(),
        metrics_listen: Some("127.0.0.1:0".parse().unwrap()),
        database_url: test_db.url().to_owned(),
        ..confab_node::config::Settings::default()
    };
    let app = confab_node::startup::Application::build(&settings, true)
        .await
        .unwrap();
    let (port, metrics_port) = (app.port(), app.metrics_port().unwrap());
    actix_web::rt::spawn(app.run_until_stopped());
    let client = crate::helpers::client();
    let get = |port: u16, path: &str| client.get(format!("http://127.0.0.1:{port}{path}")).send();
    let public = get(port, "/metrics").await.unwrap();
    assert_eq!(error_code(public, StatusCode::NOT_FOUND).await, "not_found");
    assert_eq!(get(port, "/readyz").await.unwrap().status(), StatusCode::OK);
    let private = get(metrics_port, "/metrics").await.unwrap();
    assert_eq!(private.status(), StatusCode::OK);
    assert!(private.text().await.unwrap().contains("confab_"));
    let only_metrics = get(metrics_port, "/readyz").await.unwrap();
    assert_eq!(only_metrics.status(), StatusCode::NOT_FOUND);
}
