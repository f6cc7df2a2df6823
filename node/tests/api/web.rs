//! The web client served at `/` from `web_dir`: content types and cache headers, ETag
//! revalidation, the API, `/socket.io/` and the operational endpoints keeping precedence
//! over files of the same name, path traversal refused (raw requests, so nothing
//! normalises the path on the way), and the page a node shows when the client is not built.

use std::fs;
use std::path::Path;

use confab_testkit::{Backend, NodeProcess};
use reqwest::StatusCode;
use reqwest::header::{CACHE_CONTROL, CONTENT_TYPE, ETAG, IF_NONE_MATCH};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::{TestApp, error_code};

const CONFAB: &str = env!("CARGO_BIN_EXE_confab");
const INDEX: &str =
    "<!doctype html><title>Confab</title><script src=\"assets/app-K3Y5.js\"></script>";
const SECRET: &str = "the secret next to the web dir";

/// A built client in `<root>/dist` and a file next to it that must never be served.
fn write_client(root: &Path) -> std::path::PathBuf {
    let dist = root.join("dist");
    fs::create_dir_all(dist.join("assets")).unwrap();
    fs::write(dist.join("index.html"), INDEX).unwrap();
    fs::write(dist.join("assets/app-K3Y5.js"), "console.log('confab');").unwrap();
    fs::write(dist.join("assets/app-K3Y5.css"), "body { margin: 0 }").unwrap();
    fs::write(
        dist.join("favicon.svg"),
        "<svg xmlns=\"http://www.w3.org/2000/svg\"/>",
    )
    .unwrap();
    // Files named like routes: the routes win.
    fs::write(dist.join("healthz"), "not the health check").unwrap();
    fs::write(dist.join("openapi.json"), "{\"not\": \"the document\"}").unwrap();
    fs::write(dist.join(".env"), SECRET).unwrap();
    fs::write(root.join("secret.txt"), SECRET).unwrap();
    dist
}

async fn app_serving(root: &Path) -> TestApp {
    let dist = write_client(root);
    TestApp::spawn_with(Backend::Sqlite, |settings| settings.web_dir = dist).await
}

fn header(reply: &reqwest::Response, name: reqwest::header::HeaderName) -> &str {
    reply
        .headers()
        .get(&name)
        .unwrap_or_else(|| panic!("no {name} header"))
        .to_str()
        .unwrap()
}

#[actix_web::test]
async fn serves_the_client_with_content_types_and_cache_headers() {
    let root = tempfile::tempdir().unwrap();
    let app = app_serving(root.path()).await;

    for path in ["/", "/index.html"] {
        let reply = app.get(path, None).await;
        assert_eq!(reply.status(), StatusCode::OK, "{path}");
        assert_eq!(header(&reply, CONTENT_TYPE), "text/html; charset=utf-8");
        assert_eq!(header(&reply, CACHE_CONTROL), "no-cache");
        assert_eq!(
            header(&reply, "x-content-type-options".parse().unwrap()),
            "nosniff"
        );
        assert_eq!(reply.text().await.unwrap(), INDEX);
    }

    let script = app.get("/assets/app-K3Y5.js", None).await;
    assert_eq!(script.status(), StatusCode::OK);
    assert_eq!(header(&script, CONTENT_TYPE), "text/javascript");
    assert_eq!(
        header(&script, CACHE_CONTROL),
        "public, max-age=31536000, immutable"
    );
    let style = app.get("/assets/app-K3Y5.css", None).await;
    assert_eq!(header(&style, CONTENT_TYPE), "text/css; charset=utf-8");
    assert_eq!(
        header(&style, CACHE_CONTROL),
        "public, max-age=31536000, immutable"
    );
    let icon = app.get("/favicon.svg", None).await;
    assert_eq!(header(&icon, CONTENT_TYPE), "image/svg+xml");
    assert_eq!(header(&icon, CACHE_CONTROL), "no-cache");

    // Unhashed files revalidate: the same ETag answers 304 without a body.
    let index = app.get("/", None).await;
    let etag = header(&index, ETAG).to_owned();
    let again = app
        .client
        .get(format!("{}/", app.address))
        .header(IF_NONE_MATCH, &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), StatusCode::NOT_MODIFIED);

    let head = app
        .client
        .head(format!("{}/", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(head.status(), StatusCode::OK);
    assert_eq!(header(&head, CONTENT_TYPE), "text/html; charset=utf-8");

    // What is not there is the API's JSON 404, as is any other method.
    let missing = app.get("/assets/app-NOPE.js", None).await;
    assert_eq!(
        error_code(missing, StatusCode::NOT_FOUND).await,
        "not_found"
    );
    let post = app
        .client
        .post(format!("{}/", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(post, StatusCode::NOT_FOUND).await, "not_found");
}

#[actix_web::test]
async fn the_api_socket_io_and_operational_routes_keep_precedence() {
    let root = tempfile::tempdir().unwrap();
    let app = app_serving(root.path()).await;

    let health = app.get("/healthz", None).await;
    assert_eq!(health.status(), StatusCode::OK);
    assert_eq!(
        health.json::<serde_json::Value>().await.unwrap(),
        serde_json::json!({"status": "ok"})
    );
    let openapi: serde_json::Value = app.get("/openapi.json", None).await.json().await.unwrap();
    assert!(openapi["openapi"].is_string(), "{openapi}");
    let me = app.get("/api/v1/me", None).await;
    assert_eq!(
        error_code(me, StatusCode::UNAUTHORIZED).await,
        "missing_token"
    );
    let unknown = app.get("/api/v1/no-such-thing", None).await;
    assert_eq!(
        error_code(unknown, StatusCode::NOT_FOUND).await,
        "not_found"
    );
    let handshake = app.get("/socket.io/?EIO=4&transport=polling", None).await;
    assert_eq!(handshake.status(), StatusCode::OK);
    assert!(handshake.text().await.unwrap().starts_with("0{"));
}

/// Sends `GET <target>` as written, without any client normalising it; returns the status
/// code and the whole reply.
async fn raw_get(address: &str, target: &str) -> (u16, String) {
    let host = address.trim_start_matches("http://");
    let mut stream = TcpStream::connect(host).await.unwrap();
    let request = format!("GET {target} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut reply = String::new();
    stream.read_to_string(&mut reply).await.unwrap();
    let status = reply
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {reply:?}"));
    (status, reply)
}

#[actix_web::test]
async fn path_traversal_is_refused() {
    let root = tempfile::tempdir().unwrap();
    let app = app_serving(root.path()).await;

    for target in [
        "/../secret.txt",
        "/assets/../../secret.txt",
        "/%2e%2e/secret.txt",
        "/%2E%2E%2Fsecret.txt",
        "/assets/..%2f..%2fsecret.txt",
        "/..%5csecret.txt",
        "/.%2e/secret.txt",
        "/.env",
        "/assets/./app-K3Y5.js",
    ] {
        let (status, reply) = raw_get(&app.address, target).await;
        assert_eq!(status, 400, "{target}: {reply}");
        assert!(reply.contains("\"invalid_path\""), "{target}: {reply}");
        assert!(!reply.contains(SECRET), "{target} leaked the file: {reply}");
    }
    // The same file by its plain name is served.
    let (status, reply) = raw_get(&app.address, "/assets/app-K3Y5.js").await;
    assert_eq!(status, 200, "{reply}");
}

#[tokio::test]
async fn a_node_without_a_built_client_says_how_to_build_it() {
    let missing = tempfile::tempdir().unwrap().path().join("dist");
    let node = NodeProcess::start(CONFAB, &[("CONFAB_WEB_DIR", missing.display().to_string())])
        .await
        .unwrap();
    let client = crate::helpers::client();

    let page = client.get(node.base_url()).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    assert_eq!(header(&page, CONTENT_TYPE), "text/html; charset=utf-8");
    assert_eq!(header(&page, CACHE_CONTROL), "no-cache");
    let body = page.text().await.unwrap();
    assert!(body.contains("not built"), "{body}");
    assert!(body.contains("scripts/build-web"), "{body}");

    let asset = client
        .get(format!("{}/assets/app.js", node.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(asset, StatusCode::NOT_FOUND).await, "not_found");
    let health = client
        .get(format!("{}/healthz", node.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), StatusCode::OK);

    let logs = node.logs();
    assert_eq!(
        logs.matches("the web client is not built").count(),
        1,
        "{logs}"
    );
}
