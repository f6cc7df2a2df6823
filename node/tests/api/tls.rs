//! HTTPS through rustls with a certificate generated in the test.

use std::sync::Arc;

use confab_testkit::Backend;
use futures_util::SinkExt;
use reqwest::StatusCode;
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName};
use tokio_rustls::rustls::{ClientConfig, RootCertStore};
use tokio_tungstenite::tungstenite::Message;

use crate::chat::{next_text, raw_connect, user};
use crate::helpers::TestApp;

/// A node serving HTTPS with a certificate for `localhost` generated here, and that
/// certificate (PEM, DER).
async fn tls_node(dir: &std::path::Path) -> (TestApp, String, CertificateDer<'static>) {
    let generated =
        rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).expect("certificate");
    let cert_pem = generated.cert.pem();
    let cert_path = dir.join("cert.pem");
    let key_path = dir.join("key.pem");
    std::fs::write(&cert_path, &cert_pem).unwrap();
    std::fs::write(&key_path, generated.signing_key.serialize_pem()).unwrap();
    let app = TestApp::spawn_with(Backend::Sqlite, |settings| {
        settings.tls_cert = Some(cert_path.clone());
        settings.tls_key = Some(key_path.clone());
    })
    .await;
    (app, cert_pem, generated.cert.der().clone())
}

#[actix_web::test]
async fn the_listener_speaks_tls_to_clients_that_trust_its_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let (app, cert_pem, _) = tls_node(dir.path()).await;
    let url = app.address.replace("http://127.0.0.1", "https://localhost") + "/healthz";

    let trusting = reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(cert_pem.as_bytes()).unwrap()])
        .build()
        .unwrap();
    let reply = trusting.get(&url).send().await.expect("TLS request");
    assert_eq!(reply.status(), StatusCode::OK);

    let untrusting = reqwest::Client::builder()
        .tls_certs_only([])
        .build()
        .unwrap();
    assert!(untrusting.get(&url).send().await.is_err());

    let plain = app
        .client
        .get(app.address.clone() + "/healthz")
        .send()
        .await;
    assert!(
        plain.is_err(),
        "plain HTTP must not be served on a TLS listener"
    );
}

/// A WebSocket over TLS is taken over after its upgrade like a plain one: the session
/// opens, and events and their acks cross it both ways.
#[actix_web::test]
async fn a_socket_io_session_runs_over_wss() {
    let dir = tempfile::tempdir().unwrap();
    let (mut app, cert_pem, cert) = tls_node(dir.path()).await;
    let port = app.address.rsplit(':').next().unwrap().to_owned();
    app.address = format!("https://localhost:{port}");
    app.client = reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(cert_pem.as_bytes()).unwrap()])
        .build()
        .unwrap();
    let alice = user(&app, "alice").await;
    let mut roots = RootCertStore::empty();
    roots.add(cert).unwrap();
    let config = ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let tcp = tokio::net::TcpStream::connect(format!("127.0.0.1:{port}"))
        .await
        .unwrap();
    let tls = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
        .expect("TLS handshake");
    let url = format!("wss://localhost:{port}/socket.io/?EIO=4&transport=websocket");
    let (mut ws, _) = tokio_tungstenite::client_async(url, tls)
        .await
        .expect("WebSocket upgrade over TLS");
    assert!(
        next_text(&mut ws).await.starts_with("0{"),
        "the open packet"
    );
    let connected = raw_connect(&mut ws, &alice).await;
    assert!(connected.starts_with("40{"), "{connected}");
    let sync = r#"420["sync",{"cursors":{}}]"#;
    ws.send(Message::Text(sync.into())).await.unwrap();
    let answer = next_text(&mut ws).await;
    assert!(answer.starts_with(r#"430[{"#), "{answer}");
    assert!(answer.contains(r#""ok":true"#), "{answer}");
}
