//! What every scenario needs before it measures anything: the target's URLs, users (by
//! HTTP for `--target chat`, invented for `--target raw`), groups, and connections made
//! from the chosen source addresses.

use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use anyhow::{Context, Result, bail, ensure};
use clap::ValueEnum;
use futures_util::{StreamExt, TryStreamExt, stream};
use reqwest::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::client::SioClient;
use crate::polling::PollingClient;
use crate::record::Recorder;

/// How many registrations (argon2 on the server) run at once.
const REGISTRATIONS_AT_ONCE: usize = 8;
/// Group joins in flight at once while a group is set up.
const JOINS_IN_FLIGHT: usize = 8;
/// The password of every load-test user.
const PASSWORD: &str = "load-test-password";

/// What kind of server is under test.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ValueEnum)]
pub enum Target {
    /// Confab or socketio-redis: accounts and groups over HTTP.
    Chat,
    /// The raw WebSocket ceiling: no HTTP; user ids are invented and are their own tokens,
    /// members join groups with `group:join`.
    Raw,
}

/// Where and how to connect: shared by every part of a run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Setup {
    /// One base URL per node; users are spread round-robin over them.
    pub urls: Vec<String>,
    /// The kind of server.
    pub target: Target,
    /// Keeps this run's usernames apart from earlier runs'.
    pub run: String,
    /// Local addresses client sockets are bound to, round-robin (empty: any).
    pub source_addrs: Vec<IpAddr>,
    /// Message body size in bytes (the send time, a space, padding).
    pub body_bytes: usize,
}

impl Setup {
    /// Checks what a user could get wrong.
    pub fn validate(&self) -> Result<()> {
        ensure!(!self.urls.is_empty(), "at least one --url is needed");
        ensure!(
            !self.run.is_empty()
                && self.run.len() <= 12
                && self
                    .run
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'),
            "--run must be 1 to 12 letters, digits, '-' or '_' (it goes into usernames)"
        );
        ensure!(
            self.body_bytes >= 20,
            "--body-bytes must leave room for the send time (at least 20)"
        );
        Ok(())
    }
}

/// A user of the system under test.
#[derive(Debug, Clone)]
pub struct User {
    /// The user id.
    pub id: String,
    /// A token for it.
    pub token: String,
    /// Which of the URLs this user connects to.
    pub url: usize,
}

/// One process's handle on the target, which scenarios use to make users, groups and
/// connections: an HTTP client and the source-address rotation.
#[derive(Debug, Clone)]
pub struct Harness {
    setup: Arc<Setup>,
    http: reqwest::Client,
    next_source: Arc<AtomicUsize>,
    /// This process's part (usernames and group names carry it).
    part: usize,
}

impl Harness {
    /// A harness for part `part` of a run.
    pub fn new(setup: Setup, part: usize) -> Result<Self> {
        Ok(Self {
            setup: Arc::new(setup),
            http: crate::tls::http_client()?,
            next_source: Arc::default(),
            part,
        })
    }

    /// The run's setup.
    pub fn setup(&self) -> &Setup {
        &self.setup
    }

    /// Makes `count` users named `{role}{part}.{index}.{run}`, the `index`-th on the URL
    /// `url_of(index)`: registered (or logged in again, if the name exists) for `chat`,
    /// invented for `raw`.
    pub async fn users(
        &self,
        role: &str,
        count: usize,
        url_of: impl Fn(usize) -> usize,
    ) -> Result<Vec<User>> {
        let names: Vec<(String, usize)> = (0..count)
            .map(|index| {
                let name = format!("{role}{}.{index}.{}", self.part, self.setup.run);
                (name, url_of(index) % self.setup.urls.len())
            })
            .collect();
        if self.setup.target == Target::Raw {
            return Ok(names
                .into_iter()
                .map(|(name, url)| User {
                    id: name.clone(),
                    token: name,
                    url,
                })
                .collect());
        }
        let accounts: Vec<_> = names
            .into_iter()
            .map(|(name, url)| self.account(name, url))
            .collect();
        stream::iter(accounts)
            .buffered(REGISTRATIONS_AT_ONCE)
            .try_collect()
            .await
    }

    async fn account(&self, name: String, url: usize) -> Result<User> {
        let base = &self.setup.urls[url];
        let body = json!({"username": name, "password": PASSWORD});
        let mut reply = self
            .http
            .post(format!("{base}/api/v1/auth/register"))
            .json(&body)
            .send()
            .await
            .with_context(|| format!("registering {name} at {base}"))?;
        if reply.status() == StatusCode::CONFLICT {
            reply = self
                .http
                .post(format!("{base}/api/v1/auth/login"))
                .json(&body)
                .send()
                .await
                .with_context(|| format!("logging {name} in at {base}"))?;
        }
        let reply = success(reply, || format!("registering {name} at {base}")).await?;
        Ok(User {
            id: reply["user"]["id"]
                .as_str()
                .context("no user.id in the registration reply")?
                .to_owned(),
            token: reply["token"]
                .as_str()
                .context("no token in the registration reply")?
                .to_owned(),
            url,
        })
    }

    /// Creates a group owned by `members[0]` with all of `members`; for `raw` only
    /// invents its id (members join once connected, see [`Self::join`]). On Confab the
    /// group is public and the others join it themselves: only contacts may be added by
    /// someone else, and simulated users are nobody's contacts.
    pub async fn group(&self, index: usize, members: &[User]) -> Result<String> {
        let name = format!("g{}.{index}.{}", self.part, self.setup.run);
        if self.setup.target == Target::Raw {
            return Ok(name);
        }
        let owner = members.first().context("a group needs members")?;
        let base = &self.setup.urls[owner.url];
        let reply = self
            .http
            .post(format!("{base}/api/v1/groups"))
            .bearer_auth(&owner.token)
            .json(&json!({"name": name, "public": true}))
            .send()
            .await
            .with_context(|| format!("creating group {name}"))?;
        let reply = success(reply, || format!("creating group {name}")).await?;
        let id = reply["group"]["id"]
            .as_str()
            .context("no group.id in the reply")?
            .to_owned();
        // Each join owns what it needs, so that the stream of them stays Send.
        let joins: Vec<_> = members[1..]
            .iter()
            .map(|member| {
                let url = format!("{}/api/v1/groups/{id}/join", self.setup.urls[member.url]);
                let request = self.http.post(url).bearer_auth(&member.token).send();
                let what = format!("{} joining group {name}", member.id);
                async move {
                    let reply = request.await.context("joining a group")?;
                    success(reply, || what.clone()).await
                }
            })
            .collect();
        let joined: Vec<Result<Value>> = stream::iter(joins)
            .buffer_unordered(JOINS_IN_FLIGHT)
            .collect()
            .await;
        joined.into_iter().collect::<Result<Vec<_>>>()?;
        Ok(id)
    }

    /// For `raw`, makes a connected member join `group`; nothing for `chat` (membership
    /// came with the group).
    pub async fn join(&self, client: &mut SioClient, group: &str) -> Result<()> {
        if self.setup.target == Target::Chat {
            return Ok(());
        }
        let ack = client
            .request("group:join", json!({ "group": group }))
            .await?;
        ensure!(ack["ok"] == true, "group:join {group} refused: {ack}");
        Ok(())
    }

    /// Connects `user` like a chat client does before it starts talking: then, on a chat
    /// target, syncs once, which Confab answers only when the connection receives live
    /// deliveries (so the first messages of a run are not sent into a gap).
    pub async fn connect_ready(&self, user: &User, recorder: &Recorder) -> Result<SioClient> {
        let mut client = self.connect(user, recorder).await?;
        if self.setup.target == Target::Chat {
            let ack = client.request("sync", json!({ "limit": 1 })).await?;
            ensure!(ack["ok"] == true, "sync refused: {ack}");
        }
        Ok(client)
    }

    /// Connects `user` from the next source address, recording the connect latency.
    pub async fn connect(&self, user: &User, recorder: &Recorder) -> Result<SioClient> {
        let started = Instant::now();
        let client = SioClient::connect_from(
            &self.setup.urls[user.url],
            self.next_source(),
            json!({ "token": user.token }),
        )
        .await;
        self.connected(user, recorder, started, client)
    }

    /// Connects `user` over long-polling like [`Self::connect_ready`] (syncing once),
    /// recording the connect latency, sync included.
    pub async fn connect_polling(&self, user: &User, recorder: &Recorder) -> Result<PollingClient> {
        ensure!(
            self.setup.target == Target::Chat,
            "the raw-ws peer has no long-polling"
        );
        let started = Instant::now();
        let client = PollingClient::connect(
            &self.setup.urls[user.url],
            self.next_source(),
            json!({ "token": user.token }),
        )
        .await;
        self.connected(user, recorder, started, client)
    }

    /// The local address the next connection is bound to, round-robin (any when none).
    fn next_source(&self) -> Option<IpAddr> {
        match self.setup.source_addrs.len() {
            0 => None,
            count => Some(
                self.setup.source_addrs[self.next_source.fetch_add(1, Ordering::Relaxed) % count],
            ),
        }
    }

    /// Records a connect that started at `started`, naming `user` if it failed.
    fn connected<T>(
        &self,
        user: &User,
        recorder: &Recorder,
        started: Instant,
        client: Result<T>,
    ) -> Result<T> {
        recorder.connect(started.elapsed(), client.is_ok());
        client.with_context(|| {
            format!(
                "connecting user {} to {}",
                user.id, self.setup.urls[user.url]
            )
        })
    }
}

/// The JSON body of a successful reply; otherwise an error saying `what` failed, with the
/// status and body.
async fn success(reply: reqwest::Response, what: impl Fn() -> String) -> Result<Value> {
    let status = reply.status();
    let body: Value = reply.json().await.unwrap_or(Value::Null);
    if !status.is_success() {
        bail!("{}: {status} {body}", what());
    }
    Ok(body)
}
