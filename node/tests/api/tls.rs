//! HTTPS through rustls with a certificate generated in the test.

use confab_testkit::Backend;
use reqwest::StatusCode;

use crate::helpers::TestApp;

#[actix_web::test]
async fn the_listener_speaks_tls_to_clients_that_trust_its_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let generated =
        rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).expect("certificate");
    let cert_pem = generated.cert.pem();
    let cert_path = dir.path().join("cert.pem");
    let key_path = dir.path().join("key.pem");
    std::fs::write(&cert_path, &cert_pem).unwrap();
    std::fs::write(&key_path, generated.signing_key.serialize_pem()).unwrap();

    let app = TestApp::spawn_with(Backend::Sqlite, |settings| {
        settings.tls_cert = Some(cert_path.clone());
        settings.tls_key = Some(key_path.clone());
    })
    .await;
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
