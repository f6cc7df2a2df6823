//! The bus over NATS (core NATS, no JetStream), through `async-nats`.
//!
//! The client connects in the background and reconnects forever (backoff up to 4 s, the
//! library's default); subscriptions are re-established on every reconnection, so a
//! [`Subscription`] outlives any number of server restarts. Publishing while disconnected
//! queues in the client (bounded); a publish that cannot even be queued within
//! [`NatsBus::PUBLISH_TIMEOUT`] fails instead of blocking its caller.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use async_nats::client::Request;
use async_nats::connection::State;
use async_nats::{
    Client, ConnectOptions, Event, HeaderMap, HeaderName, HeaderValue, RequestErrorKind, ServerAddr,
};
use async_trait::async_trait;
use bytes::Bytes;
use futures_util::StreamExt;

use super::{Bus, BusMessage, ConnectionState, Headers, Subscription};
use crate::error::BusError;
use crate::security::NatsSecurity;

/// How long a readiness round trip may take.
const PING_TIMEOUT: Duration = Duration::from_secs(2);
/// How long one connection attempt may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// How often the client pings the server, to notice a dead connection that TCP does not
/// report.
const PING_INTERVAL: Duration = Duration::from_secs(10);

/// The client options `security` asks for, with the user and password of the first of
/// `servers` that has them (async-nats does not read them from the address itself).
fn secured(security: &NatsSecurity, servers: &[ServerAddr]) -> Result<ConnectOptions, BusError> {
    let password = servers
        .iter()
        .find(|server| server.has_user_pass())
        .and_then(|server| Some((server.username()?.to_owned(), server.password()?.to_owned())));
    let mut options = match (&security.token, &security.nkey_seed, password) {
        (None, None, None) => ConnectOptions::new(),
        (Some(token), None, None) => ConnectOptions::with_token(token.clone()),
        (None, Some(seed), None) => ConnectOptions::with_nkey(seed.clone()),
        (None, None, Some((user, password))) => {
            ConnectOptions::with_user_and_password(user, password)
        }
        _ => {
            return Err(BusError::Security {
                reason: "give one of a user and password, a token or an NKey seed".to_owned(),
            });
        }
    };
    if let Some(ca_file) = &security.tls_ca_file {
        if !ca_file.is_file() {
            return Err(BusError::Security {
                reason: format!("no CA file at {}", ca_file.display()),
            });
        }
        options = options
            .add_root_certificates(ca_file.clone())
            .require_tls(true);
    }
    if let Some((cert, key)) = &security.tls_client {
        options = options.add_client_certificate(cert.clone(), key.clone());
    }
    Ok(options)
}

/// The [`Bus`] over a NATS server or cluster.
#[derive(Clone)]
pub struct NatsBus {
    client: Client,
}

impl fmt::Debug for NatsBus {
    // The client's options may hold credentials: show the state only.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NatsBus")
            .field("state", &self.state())
            .finish_non_exhaustive()
    }
}

impl NatsBus {
    /// How long a publish may wait for room in the client's outgoing queue.
    pub const PUBLISH_TIMEOUT: Duration = Duration::from_secs(5);

    /// Starts a client for `urls` and returns at once; the first connection, and every
    /// reconnection, happens in the background. Readiness is [`Bus::ping`].
    ///
    /// `urls` is one or more comma-separated server addresses, `nats://[user:pass@]host:port`
    /// or `tls://host:port` (TLS through rustls); `client_name` shows in the server's
    /// connection list (use the node id).
    pub async fn connect(urls: &str, client_name: &str) -> Result<Self, BusError> {
        Self::connect_with(urls, client_name, &NatsSecurity::default()).await
    }

    /// [`NatsBus::connect`], authenticating and checking the server as `security` says
    /// (see [`NatsSecurity`]; a user and password go in the URL).
    pub async fn connect_with(
        urls: &str,
        client_name: &str,
        security: &NatsSecurity,
    ) -> Result<Self, BusError> {
        let servers = urls
            .split(',')
            .map(str::trim)
            .filter(|url| !url.is_empty())
            .map(ServerAddr::from_str)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|error| BusError::InvalidUrl {
                reason: error.to_string(),
            })?;
        if servers.is_empty() {
            return Err(BusError::InvalidUrl {
                reason: "no server address given".to_owned(),
            });
        }
        let client = secured(security, &servers)?
            .name(client_name)
            .retry_on_initial_connect()
            .max_reconnects(None)
            .connection_timeout(CONNECT_TIMEOUT)
            .ping_interval(PING_INTERVAL)
            // Every request states its own timeout.
            .request_timeout(None)
            .event_callback(|event| async move { log_event(&event) })
            .connect(servers)
            .await?;
        Ok(Self { client })
    }

    /// Publishes what is queued and closes the connection (after a drain).
    pub async fn close(&self) -> Result<(), BusError> {
        self.client.flush().await?;
        // Draining only fails when the connection task is already gone: closed either way.
        let _ = self.client.drain().await;
        Ok(())
    }
}

fn log_event(event: &Event) {
    match event {
        Event::Connected => tracing::info!("connected to nats"),
        Event::Disconnected => tracing::warn!("disconnected from nats; reconnecting"),
        other => tracing::warn!(event = %other, "nats event"),
    }
}

/// `headers` as NATS headers, or `None` when there are none (a plain `PUB` is smaller).
fn to_nats_headers(headers: &Headers) -> Result<Option<HeaderMap>, BusError> {
    if headers.is_empty() {
        return Ok(None);
    }
    let mut map = HeaderMap::new();
    for (name, value) in headers.iter() {
        let invalid = || BusError::InvalidHeader {
            name: name.to_owned(),
        };
        let header_name = HeaderName::from_str(name).map_err(|_| invalid())?;
        let header_value = HeaderValue::from_str(value).map_err(|_| invalid())?;
        map.insert(header_name, header_value);
    }
    Ok(Some(map))
}

fn from_nats(message: async_nats::Message) -> BusMessage {
    let headers = message
        .headers
        .map(|headers| {
            headers
                .iter()
                .filter_map(|(name, values)| {
                    values
                        .last()
                        .map(|value| (name.to_string(), value.to_string()))
                })
                .collect()
        })
        .unwrap_or_default();
    BusMessage {
        subject: message.subject.to_string(),
        payload: message.payload,
        headers,
        reply: message.reply.map(|reply| reply.to_string()),
    }
}

/// A request error in this crate's terms.
fn request_error(error: async_nats::RequestError, subject: &str, after: Duration) -> BusError {
    match error.kind() {
        RequestErrorKind::TimedOut => BusError::Timeout {
            operation: "request",
            subject: subject.to_owned(),
            after,
        },
        RequestErrorKind::NoResponders => BusError::NoResponders {
            subject: subject.to_owned(),
        },
        _ => BusError::Request(error),
    }
}

#[async_trait]
impl Bus for NatsBus {
    async fn publish(
        &self,
        subject: &str,
        payload: Bytes,
        headers: Headers,
    ) -> Result<(), BusError> {
        let subject_owned = subject.to_owned();
        let publish = async {
            match to_nats_headers(&headers)? {
                Some(headers) => {
                    self.client
                        .publish_with_headers(subject_owned, headers, payload)
                        .await?
                }
                None => self.client.publish(subject_owned, payload).await?,
            }
            Ok(())
        };
        tokio::time::timeout(Self::PUBLISH_TIMEOUT, publish)
            .await
            .unwrap_or_else(|_| {
                Err(BusError::Timeout {
                    operation: "publish",
                    subject: subject.to_owned(),
                    after: Self::PUBLISH_TIMEOUT,
                })
            })
    }

    async fn subscribe(&self, subject: &str) -> Result<Subscription, BusError> {
        let subscriber = self.client.subscribe(subject.to_owned()).await?;
        Ok(Subscription::new(subject, subscriber.map(from_nats)))
    }

    async fn request(
        &self,
        subject: &str,
        payload: Bytes,
        headers: Headers,
        timeout: Duration,
    ) -> Result<Bytes, BusError> {
        let mut request = Request::new().payload(payload).timeout(Some(timeout));
        if let Some(headers) = to_nats_headers(&headers)? {
            request = request.headers(headers);
        }
        self.client
            .send_request(subject.to_owned(), request)
            .await
            .map(|answer| answer.payload)
            .map_err(|error| request_error(error, subject, timeout))
    }

    async fn respond(
        &self,
        reply_to: &str,
        payload: Bytes,
        headers: Headers,
    ) -> Result<(), BusError> {
        self.publish(reply_to, payload, headers).await
    }

    async fn flush(&self) -> Result<(), BusError> {
        Ok(self.client.flush().await?)
    }

    async fn ping(&self) -> Result<(), BusError> {
        if self.state() != ConnectionState::Connected {
            return Err(BusError::Disconnected);
        }
        // A request to a fresh inbox that nobody answers: the server itself replies "no
        // responders", after it processed everything this client sent before.
        let subject = self.client.new_inbox();
        let request = Request::new().timeout(Some(PING_TIMEOUT));
        match self.client.send_request(subject.clone(), request).await {
            Ok(_) => Ok(()),
            Err(error) => match request_error(error, &subject, PING_TIMEOUT) {
                BusError::NoResponders { .. } => Ok(()),
                BusError::Timeout { subject, after, .. } => Err(BusError::Timeout {
                    operation: "ping",
                    subject,
                    after,
                }),
                other => Err(other),
            },
        }
    }

    fn state(&self) -> ConnectionState {
        match self.client.connection_state() {
            State::Connected => ConnectionState::Connected,
            State::Pending => ConnectionState::Connecting,
            State::Disconnected => ConnectionState::Disconnected,
        }
    }
}
