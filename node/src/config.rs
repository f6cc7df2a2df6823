//! The node's settings: one typed struct, read from an optional TOML file and then from
//! `CONFAB_*` environment variables (the environment wins), as `API.md` specifies.
//!
//! Every field's doc comment states its default, and `Default` holds it. Secrets (the JWT
//! secret, passwords inside URLs) never appear in `Debug` output or logs.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use figment::Figment;
use figment::providers::{Env, Format, Toml};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use confab_cluster::NatsSecurity;

use crate::chat::rate::{Limits, Rate};
use crate::storage::StorageSettings;

/// The shortest JWT secret accepted: HS256 wants at least 256 bits of key.
pub const MIN_JWT_SECRET_LEN: usize = 32;

/// The largest message body any backend stores whole: MySQL's `MEDIUMTEXT`.
pub const MAX_BODY_BYTES: usize = 16 * 1024 * 1024 - 1;

/// How the node writes its logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line, for log collectors.
    Json,
}

/// Everything a node can be configured with.
#[derive(Clone, Deserialize)]
#[serde(default)]
pub struct Settings {
    /// Address the HTTP/Socket.IO listener binds. Default `127.0.0.1:8080`.
    pub listen: SocketAddr,
    /// Address of a listener serving only `/metrics` (plain HTTP), which then is not served
    /// on `listen`: keep it off the path clients reach. Default unset: `/metrics` is served
    /// on `listen` (the chart sets it, so an ingress never exposes the metrics).
    pub metrics_listen: Option<SocketAddr>,
    /// sea-orm database URL (`sqlite://`, `postgres://`, `mysql://`).
    /// Default `sqlite://confab.db?mode=rwc`.
    pub database_url: String,
    /// Most connections of the node's pool for reads and account changes (the message
    /// writer has its own two, so reads never starve it). Default 10.
    pub database_max_connections: u32,
    /// Longest one database statement may run (or wait for a lock) before it fails, in
    /// milliseconds. Default 10000.
    pub database_statement_timeout_ms: u64,
    /// Bytes of messages that may wait for the message writer (bodies and meta, plus about
    /// 200 bytes each); a message past it is answered `unavailable` at once. Default
    /// 33554432 (32 MiB).
    pub store_queue_bytes: usize,
    /// Redis for the user directory and node leases. Default unset (standalone).
    pub redis_url: Option<String>,
    /// NATS for relaying between nodes. Default unset (standalone).
    pub nats_url: Option<String>,
    /// PEM file of the CA that signed Redis's certificate (`rediss://` URLs); default
    /// unset: the system's roots.
    pub redis_tls_ca_file: Option<PathBuf>,
    /// A token NATS requires. Default unset.
    pub nats_token: Option<SecretString>,
    /// The seed of the NKey user NATS knows this node as. Default unset.
    pub nats_nkey_seed: Option<SecretString>,
    /// PEM file of the CA that signed NATS's certificate; TLS is then required. Default
    /// unset.
    pub nats_tls_ca_file: Option<PathBuf>,
    /// PEM certificate and key of this node, for a NATS server that verifies clients.
    /// Default unset.
    pub nats_tls_cert: Option<PathBuf>,
    /// The key of `nats_tls_cert`. Default unset.
    pub nats_tls_key: Option<PathBuf>,
    /// This node's id in the cluster. Default: the host name.
    pub node_id: String,
    /// HMAC secret for tokens; required in cluster mode. Default unset: in standalone mode a
    /// secret is generated once and kept in the database.
    pub jwt_secret: Option<SecretString>,
    /// PEM certificate chain; with `tls_key`, the listener speaks HTTPS/WSS. Default unset.
    pub tls_cert: Option<PathBuf>,
    /// PEM private key for `tls_cert`. Default unset.
    pub tls_key: Option<PathBuf>,
    /// `text` or `json`. Default `text`.
    pub log_format: LogFormat,
    /// How long an access token stays valid, in seconds (clients refresh it with their
    /// refresh token). Default 900 (15 minutes).
    pub token_ttl_secs: u64,
    /// How long a session lives unused, in seconds: each refresh moves its end this far
    /// ahead. Default 2592000 (30 days).
    pub session_ttl_secs: u64,
    /// Milliseconds between two looks for sessions that ended (revoked on any node, or
    /// expired), whose sockets are then closed. Default 1000.
    pub session_sweep_ms: u64,
    /// Largest JSON request body the HTTP API accepts, in bytes. Default 262144 (256 KiB).
    pub http_json_limit: usize,
    /// How long a stopping node waits for in-flight requests, in seconds. Default 30.
    pub shutdown_timeout_secs: u64,
    /// HTTP worker threads. Default 0: one per CPU core.
    pub workers: usize,
    /// How long this node's lease in the directory lives without a heartbeat, in seconds;
    /// the heartbeat comes every third of it. Default 15.
    pub node_lease_ttl_secs: u64,
    /// Largest message body, in bytes. Default 65536 (64 KiB).
    pub max_body_bytes: usize,
    /// Most members a group may have. Default 1000.
    pub max_group_members: usize,
    /// How long after sending its author may still delete (recall) a message, in seconds;
    /// 0: any time. A group's owner and admins delete any time. Default 172800 (48 h).
    pub recall_window_secs: u64,
    /// Most different emoji one message may carry as reactions. Default 20.
    pub max_reactions_per_message: usize,
    /// Milliseconds between two sweeps for expired (disappearing) messages. Default 1000.
    pub expiry_sweep_ms: u64,
    /// Seconds between two re-reads of the memberships of the users online on this node,
    /// which repair the routes of changes the node missed. Default 30.
    pub membership_reconcile_secs: u64,
    /// How long a node keeps which nodes a user it sent to is online on, in seconds (the
    /// route cache; 0 turns it off). Change notifications keep it correct; this bounds
    /// what a lost notification costs. Default 10.
    pub route_cache_secs: u64,
    /// How long a node keeps whether two users blocked each other, for typing and
    /// receipts, in seconds (0 asks the database every time). Change notices keep it
    /// correct; this bounds what a lost notice costs. Messages never use it. Default 10.
    pub block_cache_secs: u64,
    /// Most groups one user may be in (`too_many_groups` above). Default 500.
    pub max_groups_per_user: usize,
    /// Group creations and member additions one user may make per minute (and at once).
    /// Default 30.
    pub group_changes_per_minute: u32,
    /// URLs that get the webhook events (`POST`, signed JSON; see `webhooks.rs`): a list.
    /// Default empty: no webhooks.
    pub webhook_urls: Vec<String>,
    /// The HMAC-SHA256 key webhook requests are signed with (at least 16 bytes); required
    /// with `webhook_urls`. Default unset.
    pub webhook_secret: Option<SecretString>,
    /// Whether webhook events carry message text (bodies, meta, push previews). Default
    /// true.
    pub webhook_include_body: bool,
    /// The wait before the first retry of a failed webhook delivery, in milliseconds;
    /// each further retry waits twice as long, at most ten minutes. Default 1000.
    pub webhook_retry_base_ms: u64,
    /// Attempts before a webhook event is given up (counted and logged). Default 20.
    pub webhook_max_attempts: u32,
    /// Most webhook deliveries the outbox holds; past it new events are dropped, counted
    /// and logged. Default 100000.
    pub webhook_queue_max: u64,
    /// Origins allowed to open Socket.IO sessions from a browser page of another origin
    /// (CORS): a list, or `["*"]` for any. Default empty: same-origin pages only.
    pub cors_origins: Vec<String>,
    /// Engine.IO heartbeat: milliseconds between two server pings. Default 25000.
    pub ping_interval_ms: u64,
    /// Engine.IO heartbeat: milliseconds to wait for the pong. Default 20000.
    pub ping_timeout_ms: u64,
    /// Frames that may wait for one connection that does not read before it is
    /// disconnected as a slow consumer. Default 1024.
    pub outgoing_buffer_frames: usize,
    /// Bytes that may wait for one connection that does not read before it is
    /// disconnected as a slow consumer. Default 1048576 (1 MiB).
    pub outgoing_buffer_bytes: usize,
    /// When stopping, client transports are closed spread over this many seconds.
    /// Default 10.
    pub drain_window_secs: u64,
    /// When stopping, the node exits within this many seconds whatever is left.
    /// Default 25; keep it under the orchestrator's grace period.
    pub drain_deadline_secs: u64,
    /// Socket.IO events one Engine.IO session may send per second, sustained (a CONNECT
    /// counts as ten). Default 100.
    pub events_per_sec: u32,
    /// Socket.IO events one connection may send at once above that. Default 200.
    pub events_burst: u32,
    /// Socket.IO events one user may send per second, all sessions together. Default 200.
    pub user_events_per_sec: u32,
    /// Socket.IO events one user may send at once above that. Default 400.
    pub user_events_burst: u32,
    /// Mutating HTTP requests (not GET) one user may make per second. Default 10.
    pub http_writes_per_sec: u32,
    /// Mutating HTTP requests one user may make at once above that. Default 50.
    pub http_writes_burst: u32,
    /// Logins and registrations one client address may make per minute. Default 30.
    pub auth_per_minute: u32,
    /// Logins and registrations one client address may make at once. Default 30.
    pub auth_burst: u32,
    /// Logins to one username per minute, from anywhere. Default 10.
    pub logins_per_username_per_minute: u32,
    /// Milliseconds an Engine.IO session may go without a connected Socket.IO namespace
    /// (after its handshake, or after its last DISCONNECT) before it is closed.
    /// Default 45000.
    pub connect_timeout_ms: u64,
    /// Most Engine.IO sessions open at once on this node (a handshake past it is 503).
    /// Default 50000.
    pub max_sessions: usize,
    /// Most Engine.IO sessions open at once from one client address (a handshake past it
    /// is 429). Default 256.
    pub max_sessions_per_address: usize,
    /// Whether the client address is the last entry of `X-Forwarded-For` (set it behind a
    /// proxy or ingress that appends it) rather than the peer address. Default false.
    pub trust_forwarded_for: bool,
    /// Messages one user may send per second, sustained (all connections and HTTP
    /// together). Default 50.
    pub messages_per_sec: u32,
    /// Messages one user may send at once above that. Default 200.
    pub messages_burst: u32,
    /// Directory of the built web client (`scripts/build-web` writes `web/dist`), served at
    /// `/`. Default `web/dist`, relative to the working directory; when it does not exist,
    /// `/` answers a page that says how to build it.
    pub web_dir: PathBuf,
    /// Directory attachments are kept in when no S3 bucket is set (created if missing).
    /// Default `confab-uploads`, relative to the working directory.
    pub storage_dir: PathBuf,
    /// S3 bucket for attachments (every node of a cluster must share one). Default unset:
    /// `storage_dir`.
    pub s3_bucket: Option<String>,
    /// URL of an S3-compatible service (MinIO, Ceph, R2, ...). Default unset: AWS.
    pub s3_endpoint: Option<String>,
    /// The bucket's region. Default `us-east-1`.
    pub s3_region: String,
    /// Access key id for the bucket. Default unset.
    pub s3_access_key_id: Option<String>,
    /// Secret access key for the bucket. Default unset.
    pub s3_secret_access_key: Option<SecretString>,
    /// Largest upload, in bytes. Default 26214400 (25 MiB).
    pub max_upload_bytes: u64,
    /// Types an upload may be, as sniffed from its bytes. Default: JPEG, PNG, GIF, WebP,
    /// PDF, plain text, MP4, MP3, Ogg, Opus, WebM and ZIP.
    pub upload_types: Vec<String>,
    /// Most bytes one user's uploads may take in all. Default 1073741824 (1 GiB).
    pub storage_quota_bytes: u64,
    /// Seconds an upload no message took is kept before it is deleted. Default 86400.
    pub unreferenced_upload_secs: u64,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            metrics_listen: None,
            database_url: "sqlite://confab.db?mode=rwc".to_owned(),
            database_max_connections: 10,
            database_statement_timeout_ms: 10_000,
            store_queue_bytes: 32 * 1024 * 1024,
            redis_url: None,
            nats_url: None,
            redis_tls_ca_file: None,
            nats_token: None,
            nats_nkey_seed: None,
            nats_tls_ca_file: None,
            nats_tls_cert: None,
            nats_tls_key: None,
            node_id: gethostname::gethostname().to_string_lossy().into_owned(),
            jwt_secret: None,
            tls_cert: None,
            tls_key: None,
            log_format: LogFormat::Text,
            token_ttl_secs: 900,
            session_ttl_secs: 30 * 24 * 3600,
            session_sweep_ms: 1000,
            http_json_limit: 256 * 1024,
            shutdown_timeout_secs: 30,
            workers: 0,
            node_lease_ttl_secs: 15,
            max_body_bytes: 64 * 1024,
            max_group_members: 1000,
            recall_window_secs: 48 * 3600,
            max_reactions_per_message: 20,
            expiry_sweep_ms: 1000,
            membership_reconcile_secs: 30,
            route_cache_secs: 10,
            block_cache_secs: 10,
            max_groups_per_user: 500,
            group_changes_per_minute: 30,
            cors_origins: Vec::new(),
            webhook_urls: Vec::new(),
            webhook_secret: None,
            webhook_include_body: true,
            webhook_retry_base_ms: 1000,
            webhook_max_attempts: 20,
            webhook_queue_max: 100_000,
            ping_interval_ms: 25_000,
            ping_timeout_ms: 20_000,
            outgoing_buffer_frames: 1024,
            outgoing_buffer_bytes: 1024 * 1024,
            drain_window_secs: 10,
            drain_deadline_secs: 25,
            events_per_sec: 100,
            events_burst: 200,
            user_events_per_sec: 200,
            user_events_burst: 400,
            http_writes_per_sec: 10,
            http_writes_burst: 50,
            auth_per_minute: 30,
            auth_burst: 30,
            logins_per_username_per_minute: 10,
            connect_timeout_ms: 45_000,
            max_sessions: 50_000,
            max_sessions_per_address: 256,
            trust_forwarded_for: false,
            messages_per_sec: 50,
            messages_burst: 200,
            web_dir: PathBuf::from("web/dist"),
            storage_dir: PathBuf::from("confab-uploads"),
            s3_bucket: None,
            s3_endpoint: None,
            s3_region: "us-east-1".to_owned(),
            s3_access_key_id: None,
            s3_secret_access_key: None,
            max_upload_bytes: 25 * 1024 * 1024,
            upload_types: [
                "image/jpeg",
                "image/png",
                "image/gif",
                "image/webp",
                "application/pdf",
                "text/plain",
                "video/mp4",
                "audio/mpeg",
                "audio/ogg",
                "audio/opus",
                "video/webm",
                "application/zip",
            ]
            .map(str::to_owned)
            .to_vec(),
            storage_quota_bytes: 1024 * 1024 * 1024,
            unreferenced_upload_secs: 24 * 3600,
        }
    }
}

/// How the node's database pools are sized and bounded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DatabasePool {
    /// Most connections (at least one).
    pub max_connections: u32,
    /// Longest one statement may run or wait for a lock.
    pub statement_timeout: Duration,
}

impl Default for DatabasePool {
    fn default() -> Self {
        Settings::default().database_pool()
    }
}

/// Whether the node runs alone or as part of a cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    /// No Redis and no NATS: in-process directory and bus.
    Standalone,
    /// Redis and NATS shared with the other nodes.
    Cluster {
        /// The Redis URL.
        redis_url: String,
        /// The NATS URL.
        nats_url: String,
    },
}

impl Settings {
    /// Reads the settings: defaults, then the TOML file `config` if given, then `CONFAB_*`
    /// environment variables; then checks them.
    pub fn load(config: Option<&Path>) -> Result<Self> {
        let mut figment = Figment::new();
        if let Some(path) = config {
            if !path.is_file() {
                bail!("config file {} does not exist", path.display());
            }
            refuse_unknown_keys(path)?;
            figment = figment.merge(Toml::file_exact(path));
        }
        let settings: Settings = figment
            .merge(Env::prefixed("CONFAB_").ignore(&["config"]))
            .extract()
            .context("reading the configuration")?;
        settings.validate()?;
        Ok(settings)
    }

    /// Checks the rules that span several fields.
    pub fn validate(&self) -> Result<()> {
        self.mode()?;
        if self.nats_tls_cert.is_some() != self.nats_tls_key.is_some() {
            bail!("CONFAB_NATS_TLS_CERT and CONFAB_NATS_TLS_KEY must be set together");
        }
        if self.tls_cert.is_some() != self.tls_key.is_some() {
            bail!("CONFAB_TLS_CERT and CONFAB_TLS_KEY must be set together");
        }
        if let Some(secret) = &self.jwt_secret
            && secret.expose_secret().len() < MIN_JWT_SECRET_LEN
        {
            bail!("CONFAB_JWT_SECRET must be at least {MIN_JWT_SECRET_LEN} bytes long");
        }
        if matches!(self.mode()?, Mode::Cluster { .. }) && self.jwt_secret.is_none() {
            bail!(
                "cluster mode needs CONFAB_JWT_SECRET: every node must sign and check tokens \
                 with the same secret"
            );
        }
        if self.drain_window_secs >= self.drain_deadline_secs {
            bail!("CONFAB_DRAIN_WINDOW_SECS must be shorter than CONFAB_DRAIN_DEADLINE_SECS");
        }
        if self.membership_reconcile_secs == 0 {
            bail!("CONFAB_MEMBERSHIP_RECONCILE_SECS must be at least 1");
        }
        self.validate_webhooks()?;
        self.storage()?;
        if self.token_ttl_secs == 0 || self.session_ttl_secs == 0 || self.session_sweep_ms == 0 {
            bail!(
                "CONFAB_TOKEN_TTL_SECS, CONFAB_SESSION_TTL_SECS and CONFAB_SESSION_SWEEP_MS \
                 must be above 0"
            );
        }
        if self.expiry_sweep_ms == 0 || self.max_reactions_per_message == 0 {
            bail!("CONFAB_EXPIRY_SWEEP_MS and CONFAB_MAX_REACTIONS_PER_MESSAGE must be above 0");
        }
        if self.node_lease_ttl_secs < 3 {
            bail!("CONFAB_NODE_LEASE_TTL_SECS must be at least 3");
        }
        if self.max_body_bytes > MAX_BODY_BYTES {
            bail!(
                "CONFAB_MAX_BODY_BYTES must be at most {MAX_BODY_BYTES}, what every database \
                 stores (MySQL's MEDIUMTEXT)"
            );
        }
        if self.database_max_connections == 0 || self.database_statement_timeout_ms == 0 {
            bail!(
                "CONFAB_DATABASE_MAX_CONNECTIONS and CONFAB_DATABASE_STATEMENT_TIMEOUT_MS must \
                 be above 0"
            );
        }
        if self.node_id.is_empty() {
            bail!("CONFAB_NODE_ID must not be empty");
        }
        Ok(())
    }

    /// How the bus authenticates to NATS and checks it.
    pub fn nats_security(&self) -> NatsSecurity {
        let secret = |value: &Option<SecretString>| {
            value.as_ref().map(|value| value.expose_secret().to_owned())
        };
        NatsSecurity {
            token: secret(&self.nats_token),
            nkey_seed: secret(&self.nats_nkey_seed),
            tls_ca_file: self.nats_tls_ca_file.clone(),
            tls_client: self.nats_tls_cert.clone().zip(self.nats_tls_key.clone()),
        }
    }

    /// The pool for reads and account changes.
    pub fn database_pool(&self) -> DatabasePool {
        DatabasePool {
            max_connections: self.database_max_connections,
            statement_timeout: Duration::from_millis(self.database_statement_timeout_ms),
        }
    }

    /// The writers' own pool: the message writer and the read cursors' writer, each
    /// writing one transaction at a time.
    pub fn store_pool(&self) -> DatabasePool {
        DatabasePool {
            max_connections: 2,
            ..self.database_pool()
        }
    }

    /// Every rate limit.
    pub fn limits(&self) -> Limits {
        Limits {
            session_events: Rate::per_second(self.events_per_sec, self.events_burst),
            user_events: Rate::per_second(self.user_events_per_sec, self.user_events_burst),
            messages: Rate::per_second(self.messages_per_sec, self.messages_burst),
            http_writes: Rate::per_second(self.http_writes_per_sec, self.http_writes_burst),
            auth_per_address: Rate::per_minute(self.auth_per_minute, self.auth_burst),
            logins_per_username: Rate::per_minute(
                self.logins_per_username_per_minute,
                self.logins_per_username_per_minute,
            ),
            group_changes: Rate::per_minute(
                self.group_changes_per_minute,
                self.group_changes_per_minute,
            ),
        }
    }

    /// Standalone when neither Redis nor NATS is configured, cluster when both are.
    pub fn mode(&self) -> Result<Mode> {
        match (&self.redis_url, &self.nats_url) {
            (None, None) => Ok(Mode::Standalone),
            (Some(redis_url), Some(nats_url)) => Ok(Mode::Cluster {
                redis_url: redis_url.clone(),
                nats_url: nats_url.clone(),
            }),
            _ => bail!("cluster mode needs both CONFAB_REDIS_URL and CONFAB_NATS_URL"),
        }
    }
}

/// Fails on a key of the TOML file at `path` that no setting has: a misspelt key silently
/// ignored would leave its setting at the default. (Unknown `CONFAB_*` variables stay
/// allowed: tools and tests set their own under the prefix.)
fn refuse_unknown_keys(path: &Path) -> Result<()> {
    let file: figment::value::Value = Figment::from(Toml::file_exact(path))
        .extract()
        .with_context(|| format!("reading {}", path.display()))?;
    let mut unknown = Vec::new();
    let _: Settings = serde_ignored::deserialize(&file, |key| unknown.push(key.to_string()))
        .with_context(|| format!("reading {}", path.display()))?;
    if !unknown.is_empty() {
        bail!(
            "{}: unknown setting {} (the keys are the CONFAB_* names in lower case, without \
             the prefix)",
            path.display(),
            unknown.join(", ")
        );
    }
    Ok(())
}

impl Settings {
    /// Where attachments are kept: the bucket, or the directory.
    pub fn storage(&self) -> Result<StorageSettings> {
        let Some(bucket) = &self.s3_bucket else {
            return Ok(StorageSettings::Directory(self.storage_dir.clone()));
        };
        let (Some(access_key_id), Some(secret_access_key)) =
            (&self.s3_access_key_id, &self.s3_secret_access_key)
        else {
            bail!("CONFAB_S3_BUCKET needs CONFAB_S3_ACCESS_KEY_ID and CONFAB_S3_SECRET_ACCESS_KEY");
        };
        Ok(StorageSettings::S3 {
            bucket: bucket.clone(),
            endpoint: self.s3_endpoint.clone(),
            region: self.s3_region.clone(),
            access_key_id: access_key_id.clone(),
            secret_access_key: secret_access_key.clone(),
        })
    }

    /// Webhook URLs must be http(s) URLs, and come with a secret to sign with.
    fn validate_webhooks(&self) -> Result<()> {
        if self.webhook_urls.is_empty() {
            return Ok(());
        }
        for url in &self.webhook_urls {
            let parsed = reqwest::Url::parse(url)
                .with_context(|| format!("CONFAB_WEBHOOK_URLS: {} is no URL", redact_url(url)))?;
            if !matches!(parsed.scheme(), "http" | "https") {
                bail!("CONFAB_WEBHOOK_URLS must be http:// or https:// URLs");
            }
        }
        match &self.webhook_secret {
            Some(secret) if secret.expose_secret().len() >= 16 => {}
            _ => bail!("CONFAB_WEBHOOK_URLS needs CONFAB_WEBHOOK_SECRET, at least 16 bytes long"),
        }
        if self.webhook_max_attempts == 0
            || self.webhook_queue_max == 0
            || self.webhook_retry_base_ms == 0
        {
            bail!(
                "CONFAB_WEBHOOK_MAX_ATTEMPTS, CONFAB_WEBHOOK_QUEUE_MAX and \
                 CONFAB_WEBHOOK_RETRY_BASE_MS must be above 0"
            );
        }
        Ok(())
    }
}

/// Hides the password of a `scheme://user:password@host/...` URL.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let Some((userinfo, host)) = rest.rsplit_once('@') else {
        return url.to_owned();
    };
    match userinfo.split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
        None => url.to_owned(),
    }
}

impl fmt::Debug for Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let redacted = |url: &Option<String>| url.as_deref().map(redact_url);
        f.debug_struct("Settings")
            .field("listen", &self.listen)
            .field("metrics_listen", &self.metrics_listen)
            .field("database_url", &redact_url(&self.database_url))
            .field("database_max_connections", &self.database_max_connections)
            .field(
                "database_statement_timeout_ms",
                &self.database_statement_timeout_ms,
            )
            .field("store_queue_bytes", &self.store_queue_bytes)
            .field("redis_url", &redacted(&self.redis_url))
            .field("nats_url", &redacted(&self.nats_url))
            .field("redis_tls_ca_file", &self.redis_tls_ca_file)
            .field("nats_security", &self.nats_security())
            .field("node_id", &self.node_id)
            .field("jwt_secret", &self.jwt_secret.as_ref().map(|_| "***"))
            .field("tls_cert", &self.tls_cert)
            .field("tls_key", &self.tls_key)
            .field("log_format", &self.log_format)
            .field("token_ttl_secs", &self.token_ttl_secs)
            .field("session_ttl_secs", &self.session_ttl_secs)
            .field("session_sweep_ms", &self.session_sweep_ms)
            .field("http_json_limit", &self.http_json_limit)
            .field("shutdown_timeout_secs", &self.shutdown_timeout_secs)
            .field("workers", &self.workers)
            .field("node_lease_ttl_secs", &self.node_lease_ttl_secs)
            .field("max_body_bytes", &self.max_body_bytes)
            .field("max_group_members", &self.max_group_members)
            .field("recall_window_secs", &self.recall_window_secs)
            .field("max_reactions_per_message", &self.max_reactions_per_message)
            .field("expiry_sweep_ms", &self.expiry_sweep_ms)
            .field("membership_reconcile_secs", &self.membership_reconcile_secs)
            .field("route_cache_secs", &self.route_cache_secs)
            .field("block_cache_secs", &self.block_cache_secs)
            .field("max_groups_per_user", &self.max_groups_per_user)
            .field("group_changes_per_minute", &self.group_changes_per_minute)
            .field("cors_origins", &self.cors_origins)
            .field("storage_dir", &self.storage_dir)
            .field("s3_bucket", &self.s3_bucket)
            .field("s3_endpoint", &self.s3_endpoint)
            .field("s3_region", &self.s3_region)
            .field("s3_access_key_id", &self.s3_access_key_id)
            .field(
                "s3_secret_access_key",
                &self.s3_secret_access_key.as_ref().map(|_| "***"),
            )
            .field("max_upload_bytes", &self.max_upload_bytes)
            .field("upload_types", &self.upload_types)
            .field("storage_quota_bytes", &self.storage_quota_bytes)
            .field("unreferenced_upload_secs", &self.unreferenced_upload_secs)
            .field(
                "webhook_urls",
                // Query strings often carry tokens: never shown.
                &self
                    .webhook_urls
                    .iter()
                    .map(|url| redact_url(url.split('?').next().unwrap_or_default()))
                    .collect::<Vec<_>>(),
            )
            .field(
                "webhook_secret",
                &self.webhook_secret.as_ref().map(|_| "***"),
            )
            .field("webhook_include_body", &self.webhook_include_body)
            .field("webhook_retry_base_ms", &self.webhook_retry_base_ms)
            .field("webhook_max_attempts", &self.webhook_max_attempts)
            .field("webhook_queue_max", &self.webhook_queue_max)
            .field("ping_interval_ms", &self.ping_interval_ms)
            .field("ping_timeout_ms", &self.ping_timeout_ms)
            .field("outgoing_buffer_frames", &self.outgoing_buffer_frames)
            .field("outgoing_buffer_bytes", &self.outgoing_buffer_bytes)
            .field("drain_window_secs", &self.drain_window_secs)
            .field("drain_deadline_secs", &self.drain_deadline_secs)
            .field("events_per_sec", &self.events_per_sec)
            .field("events_burst", &self.events_burst)
            .field("user_events_per_sec", &self.user_events_per_sec)
            .field("user_events_burst", &self.user_events_burst)
            .field("http_writes_per_sec", &self.http_writes_per_sec)
            .field("http_writes_burst", &self.http_writes_burst)
            .field("auth_per_minute", &self.auth_per_minute)
            .field("auth_burst", &self.auth_burst)
            .field(
                "logins_per_username_per_minute",
                &self.logins_per_username_per_minute,
            )
            .field("connect_timeout_ms", &self.connect_timeout_ms)
            .field("max_sessions", &self.max_sessions)
            .field("max_sessions_per_address", &self.max_sessions_per_address)
            .field("trust_forwarded_for", &self.trust_forwarded_for)
            .field("messages_per_sec", &self.messages_per_sec)
            .field("messages_burst", &self.messages_burst)
            .field("web_dir", &self.web_dir)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redact_url_hides_only_the_password() {
        assert_eq!(
            redact_url("postgres://app:s3cret@db:5432/chat"),
            "postgres://app:***@db:5432/chat"
        );
        assert_eq!(redact_url("redis://cache:6379"), "redis://cache:6379");
        assert_eq!(
            redact_url("sqlite://confab.db?mode=rwc"),
            "sqlite://confab.db?mode=rwc"
        );
    }

    #[test]
    fn debug_output_never_shows_secrets() {
        let settings = Settings {
            jwt_secret: Some(SecretString::from("x".repeat(40))),
            database_url: "postgres://app:hunter2hunter2@db/chat".into(),
            ..Settings::default()
        };
        let shown = format!("{settings:?}");
        assert!(!shown.contains("xxxx"), "{shown}");
        assert!(!shown.contains("hunter2"), "{shown}");
    }

    #[test]
    fn cluster_mode_needs_both_urls_and_a_secret() {
        let half = Settings {
            redis_url: Some("redis://r".into()),
            ..Settings::default()
        };
        assert!(half.validate().is_err());
        let no_secret = Settings {
            nats_url: Some("nats://n".into()),
            ..half.clone()
        };
        let err = no_secret.validate().unwrap_err().to_string();
        assert!(err.contains("CONFAB_JWT_SECRET"), "{err}");
        let ok = Settings {
            jwt_secret: Some(SecretString::from("k".repeat(MIN_JWT_SECRET_LEN))),
            ..no_secret
        };
        assert!(matches!(ok.mode(), Ok(Mode::Cluster { .. })));
        assert!(ok.validate().is_ok());
    }

    #[test]
    fn short_secret_is_refused() {
        let settings = Settings {
            jwt_secret: Some(SecretString::from("short")),
            ..Settings::default()
        };
        assert!(settings.validate().is_err());
    }
}
