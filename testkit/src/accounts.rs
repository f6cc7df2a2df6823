//! Accounts on a node under test, made through its HTTP API.

use anyhow::{Context, Result, ensure};
use serde_json::{Value, json};

/// The password every test account gets.
pub const PASSWORD: &str = "correct horse battery";

/// A user registered through `POST /api/v1/auth/register`.
#[derive(Debug, Clone)]
pub struct Registered {
    /// The user id.
    pub id: String,
    /// A token for it.
    pub token: String,
}

/// Makes `a` and `b` contacts on the node at `base_url`: `a` asks, `b` accepts. Adding
/// someone to a group needs them to be the adder's contact.
pub async fn befriend(base_url: &str, a: &Registered, b: &Registered) -> Result<()> {
    let client = reqwest::Client::new();
    let asked = client
        .post(format!("{base_url}/api/v1/contacts/requests"))
        .bearer_auth(&a.token)
        .json(&json!({"user_id": b.id}))
        .send()
        .await?;
    let status = asked.status();
    let body: Value = asked.json().await?;
    ensure!(status.is_success(), "contact request: {status} {body}");
    let id = body["request"]["id"]
        .as_str()
        .context("no request id")?
        .to_owned();
    let accepted = client
        .post(format!("{base_url}/api/v1/contacts/requests/{id}/accept"))
        .bearer_auth(&b.token)
        .send()
        .await?;
    let status = accepted.status();
    ensure!(status.is_success(), "accepting: {status}");
    Ok(())
}

/// Registers `username` (with [`PASSWORD`]) on the node at `base_url` (`http://host:port`).
pub async fn register(base_url: &str, username: &str) -> Result<Registered> {
    // reqwest's TLS needs a process-wide crypto provider, even for plain HTTP.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let reply = reqwest::Client::new()
        .post(format!("{base_url}/api/v1/auth/register"))
        .json(&json!({"username": username, "password": PASSWORD}))
        .send()
        .await?;
    let status = reply.status();
    let body: Value = reply.json().await?;
    ensure!(
        status == reqwest::StatusCode::CREATED,
        "registering {username}: {status} {body}"
    );
    Ok(Registered {
        id: body["user"]["id"]
            .as_str()
            .context("no user id")?
            .to_owned(),
        token: body["token"].as_str().context("no token")?.to_owned(),
    })
}
