//! Building the node and running it until it is told to stop.
//!
//! `Application::build` connects to the database, applies migrations, loads the token
//! secret and binds the listener (port 0 picks a free one, which tests use).
//! `run_until_stopped` serves until SIGINT or SIGTERM, then drains: `/readyz` turns 503 at
//! once, client transports are closed spread over the drain window, the listener stops
//! and in-flight requests finish, the node gives its lease back and the pool is closed,
//! all before the drain deadline.

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use actix::{Actor, Addr};
use actix_web::dev::{Server, ServerHandle};
use actix_web::middleware::from_fn;
use actix_web::{App, HttpServer, web};
use anyhow::{Context, Result};
use confab_cluster::{Bus, Directory, Keys, LocalBus, LocalDirectory, NatsBus, RedisDirectory};
use confab_entities::migration::Migrator;
use sea_orm::{ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbBackend, sqlx};
use sea_orm_migration::MigratorTrait;
use secrecy::ExposeSecret;
use socket2::{Domain, Socket, Type};
use tokio_util::sync::CancellationToken;

use crate::actors::cursors::{self, CursorWriter};
use crate::actors::node::{Leave, NodeActor, NodeSettings, Settle};
use crate::actors::store::StoreActor;
use crate::auth::Tokens;
use crate::chat::attachments::UploadLimits;
use crate::chat::blocks::Blocks;
use crate::chat::rate::RateLimits;
use crate::chat::{Chat, ChatLimits};
use crate::config::{DatabasePool, Mode, Settings, redact_url};
use crate::engineio::{self, CloseSession, Engine, EngineConfig, ServerOptions, WebSockets};
use crate::pending::Pending;
use crate::sessions::Sessions;
use crate::socket::ChatNamespace;
use crate::socketio::{SocketIo, SocketIoConfig, SocketIoFactory};
use crate::state::AppState;
use crate::storage::Storage;
use crate::webhooks::{WebhookSettings, Webhooks};
use crate::{api, metrics, store, tls};

/// The listener's address cannot be bound (taken, or not this machine's).
#[derive(Debug, thiserror::Error)]
#[error("cannot listen on {address}")]
pub struct BindError {
    /// The address of `CONFAB_LISTEN`.
    pub address: std::net::SocketAddr,
    /// Why.
    #[source]
    pub source: std::io::Error,
}

/// Where clients reach Socket.IO, over both transports.
const SOCKET_IO_PATH: &str = "/socket.io/";

/// How many connections the kernel queues for a listener before the node accepts them
/// (capped by `net.core.somaxconn`). std's `bind` queues 128, which a burst of connects
/// overflows: the kernel then drops SYNs, and each client waits a second, then three,
/// then seven, for its retransmission.
const LISTEN_BACKLOG: i32 = 4096;

/// Binds `address` for a listener of the node.
fn bind(address: std::net::SocketAddr) -> Result<TcpListener, BindError> {
    let listen = || -> std::io::Result<TcpListener> {
        let socket = Socket::new(Domain::for_address(address), Type::STREAM, None)?;
        // As std does on Unix: a restarted node can bind while old connections linger.
        socket.set_reuse_address(true)?;
        socket.bind(&address.into())?;
        socket.listen(LISTEN_BACKLOG)?;
        Ok(socket.into())
    };
    listen().map_err(|source| BindError { address, source })
}

/// Serves `/metrics` alone on `listener` (plain HTTP, one worker), kept off the client
/// listener so that an ingress in front of that never exposes it; returns the server and
/// its port.
fn serve_metrics(listener: TcpListener, data: &web::Data<AppState>) -> Result<(ServerHandle, u16)> {
    let port = listener.local_addr()?.port();
    let data = data.clone();
    let server = HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .configure(api::configure_metrics)
    })
    .disable_signals()
    .workers(1)
    .listen(listener)?
    .run();
    let handle = server.handle();
    actix_web::rt::spawn(server);
    Ok((handle, port))
}

/// A bound, ready-to-run node.
pub struct Application {
    server: Server,
    port: u16,
    /// The server of `/metrics` on its own listener, and its port, when configured.
    metrics: Option<(ServerHandle, u16)>,
    state: AppState,
    node: Addr<NodeActor>,
    socket_io: Arc<Engine<SocketIoFactory>>,
    pending: Pending,
    drain: Drain,
}

/// How a stopping node lets its clients go.
#[derive(Debug, Clone, Copy)]
struct Drain {
    /// Client transports are closed spread over this window, so they do not all
    /// reconnect to the other nodes at the same instant.
    window: Duration,
    /// The node exits by then, whatever is left.
    deadline: Duration,
}

impl std::fmt::Debug for Application {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Application")
            .field("port", &self.port)
            .finish_non_exhaustive()
    }
}

/// Opens the connection pool for `url`, sized and bounded by `pool`.
///
/// `pool.statement_timeout` keeps one stuck statement (a row lock held elsewhere, a slow
/// disk) from holding the message writer, and with it every sender of the node: on
/// PostgreSQL it is the session's `statement_timeout`, on MySQL/MariaDB its
/// `innodb_lock_wait_timeout` (whole seconds, at least one), on SQLite the busy timeout.
pub async fn connect(url: &str, pool: &DatabasePool) -> Result<DatabaseConnection> {
    let timeout = pool.statement_timeout;
    let mut options = ConnectOptions::new(url.to_owned());
    options
        .sqlx_logging(false)
        .connect_timeout(Duration::from_secs(10))
        .map_sqlx_postgres_opts(move |options| {
            options.options([("statement_timeout", format!("{}ms", timeout.as_millis()))])
        })
        .map_sqlx_mysql_pool_opts(move |options| {
            options.after_connect(move |connection, _| {
                let seconds = timeout.as_secs().max(1);
                Box::pin(async move {
                    let set = format!("SET SESSION innodb_lock_wait_timeout = {seconds}");
                    sqlx::Executor::execute(connection, sqlx::AssertSqlSafe(set))
                        .await
                        .map(drop)
                })
            })
        })
        .map_sqlx_sqlite_opts(move |options| options.busy_timeout(timeout));
    options.max_connections(pool.max_connections);
    let db = Database::connect(options)
        .await
        .with_context(|| format!("connecting to the database at {}", redact_url(url)))?;
    if db.get_database_backend() == DbBackend::Sqlite {
        // WAL lets readers proceed while the store writes; the setting lives in the file.
        db.execute_unprepared("PRAGMA journal_mode=WAL").await?;
    }
    Ok(db)
}

/// Applies every pending migration; returns how many there were.
pub async fn migrate(db: &DatabaseConnection) -> Result<usize> {
    let pending = Migrator::get_pending_migrations(db).await?.len();
    Migrator::up(db, None)
        .await
        .context("applying migrations")?;
    Ok(pending)
}

impl Application {
    /// Connects, migrates (unless `run_migrations` is false) and binds the listener.
    pub async fn build(settings: &Settings, run_migrations: bool) -> Result<Self> {
        tls::install_crypto_provider();
        // First, so that a taken port fails before anything else has started.
        let listener = bind(settings.listen)?;
        let metrics_listener = settings.metrics_listen.map(bind).transpose()?;
        let db = connect(&settings.database_url, &settings.database_pool()).await?;
        if run_migrations {
            let applied = migrate(&db).await?;
            tracing::info!(applied, "database schema is up to date");
        }
        let secret = match &settings.jwt_secret {
            Some(secret) => secret.expose_secret().as_bytes().to_vec(),
            None => store::settings::jwt_secret(&db)
                .await
                .context("loading the generated JWT secret")?
                .into_bytes(),
        };
        let tokens = Tokens::new(&secret, Duration::from_secs(settings.token_ttl_secs));
        let keys = Keys::default();
        let (directory, bus) = infrastructure(settings, &keys).await?;
        let pending = Pending::default();
        // The one shutdown signal: everything that must stop or change when the node
        // stops watches it.
        let shutdown = CancellationToken::new();
        let blocks = Arc::new(Blocks::new(Duration::from_secs(settings.block_cache_secs)));
        let node = NodeActor::new(
            NodeSettings {
                node_id: settings.node_id.clone(),
                lease_ttl: Duration::from_secs(settings.node_lease_ttl_secs),
                keys: keys.clone(),
                route_ttl: Duration::from_secs(settings.route_cache_secs),
            },
            directory.clone(),
            bus.clone(),
            pending.clone(),
            blocks.clone(),
        )
        .start();
        // The writers' own pool: one connection for messages, one for read cursors, so
        // that reads never starve them.
        let writer = connect(&settings.database_url, &settings.store_pool()).await?;
        let chat = Chat {
            db: db.clone(),
            store: StoreActor::new(writer.clone(), settings.store_queue_bytes).start(),
            cursors: CursorWriter::new(writer, cursors::MAX_WAITING).start(),
            blocks,
            node: node.clone(),
            limits: Arc::new(ChatLimits {
                max_body_bytes: settings.max_body_bytes,
                max_group_members: settings.max_group_members,
                max_groups_per_user: settings.max_groups_per_user,
                recall_window: (settings.recall_window_secs > 0)
                    .then(|| Duration::from_secs(settings.recall_window_secs)),
                max_reactions_per_message: settings.max_reactions_per_message,
                uploads: UploadLimits {
                    max_bytes: settings.max_upload_bytes,
                    types: settings.upload_types.clone(),
                    quota_bytes: settings.storage_quota_bytes,
                    unreferenced_for: Duration::from_secs(settings.unreferenced_upload_secs),
                },
                ..ChatLimits::default()
            }),
            rate: rate_limits(settings, shutdown.clone()),
            pending: pending.clone(),
            storage: Storage::open(&settings.storage()?)
                .context("opening the attachment storage")?,
            webhooks: webhooks(settings, &db, &shutdown)?,
            sessions: Sessions::new(
                db.clone(),
                tokens,
                Duration::from_secs(settings.session_ttl_secs),
            ),
        };
        actix_web::rt::spawn(chat.sessions.clone().sweep_ended(
            node.clone().recipient(),
            Duration::from_millis(settings.session_sweep_ms),
            shutdown.clone(),
        ));
        actix_web::rt::spawn(chat.clone().reconcile_memberships(
            Duration::from_secs(settings.membership_reconcile_secs),
            shutdown.clone(),
        ));
        actix_web::rt::spawn(chat.clone().sweep_expired(
            Duration::from_millis(settings.expiry_sweep_ms),
            shutdown.clone(),
        ));
        let socketio_metrics = metrics::socketio();
        let socket_io = SocketIo::new(SocketIoConfig {
            connect_timeout: Duration::from_millis(settings.connect_timeout_ms),
            close_without_namespace: true,
            metrics: socketio_metrics.clone(),
            ..SocketIoConfig::default()
        })
        .namespace("/", ChatNamespace::new(chat.clone()))?
        .into_engine(EngineConfig {
            cors_origins: settings.cors_origins.clone(),
            ping_interval: Duration::from_millis(settings.ping_interval_ms),
            ping_timeout: Duration::from_millis(settings.ping_timeout_ms),
            max_buffered_frames: settings.outgoing_buffer_frames,
            max_buffered_bytes: settings.outgoing_buffer_bytes,
            max_sessions: settings.max_sessions,
            max_sessions_per_address: settings.max_sessions_per_address,
            trust_forwarded_for: settings.trust_forwarded_for,
            shutdown: shutdown.clone(),
            metrics: socketio_metrics,
            ..EngineConfig::default()
        });
        let polls = crate::polling::BusPolls::new(bus.clone(), keys, &settings.node_id);
        socket_io.forward_polling(&settings.node_id, Arc::new(polls));
        let mut state = AppState::new(db, directory, bus, chat, metrics::recorder());
        state.shutdown = shutdown;
        state.trust_forwarded_for = settings.trust_forwarded_for;

        let port = listener.local_addr()?.port();
        let data = web::Data::new(state.clone());
        let json_limit = settings.http_json_limit;
        let engine = socket_io.clone();
        let web_client = crate::web::WebClient::new(&settings.web_dir);
        let metrics_here = metrics_listener.is_none();
        let metrics = metrics_listener
            .map(|listener| serve_metrics(listener, &data))
            .transpose()?;
        let app = move || {
            App::new()
                .app_data(data.clone())
                .service(engineio::engine_route(SOCKET_IO_PATH, engine.clone()))
                .wrap(from_fn(metrics::track))
                .configure(|cfg| api::configure(cfg, json_limit, metrics_here))
                .configure(|cfg| web_client.configure(cfg))
        };
        let tls = match (&settings.tls_cert, &settings.tls_key) {
            (Some(cert), Some(key)) => Some(tls::server_config(cert, key)?),
            _ => None,
        };
        let server = engineio::serve(
            listener,
            app,
            WebSockets::new().route(SOCKET_IO_PATH, socket_io.clone()),
            ServerOptions {
                workers: settings.workers,
                shutdown_timeout: settings.shutdown_timeout_secs,
                tls,
            },
        )?;
        tracing::info!(
            node = %settings.node_id,
            address = %settings.listen,
            port,
            tls = settings.tls_cert.is_some(),
            "listening"
        );
        Ok(Self {
            server,
            port,
            metrics,
            state,
            node,
            socket_io,
            pending,
            drain: Drain {
                window: Duration::from_secs(settings.drain_window_secs),
                deadline: Duration::from_secs(settings.drain_deadline_secs),
            },
        })
    }

    /// The port of the listener serving only `/metrics`, when it has its own.
    pub fn metrics_port(&self) -> Option<u16> {
        self.metrics.as_ref().map(|(_, port)| *port)
    }

    /// The port the listener is bound to.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Serves until SIGINT/SIGTERM, then drains (see [`drain`]) and closes the pool.
    pub async fn run_until_stopped(self) -> Result<()> {
        let handle = self.server.handle();
        let state = self.state.clone();
        let socket_io = self.socket_io.clone();
        let (node, pending) = (self.node.clone(), self.pending.clone());
        let plan = self.drain;
        actix_web::rt::spawn(async move {
            let signal = stop_signal().await;
            tracing::info!(signal, "stopping: draining");
            ::metrics::counter!("confab_drain_events_total").increment(1);
            let started = tokio::time::Instant::now();
            state.shutdown.cancel();
            let deadline = started + plan.deadline;
            let drained = async {
                drain(&socket_io, plan.window).await;
                settle(&socket_io, &node, &pending, &state).await;
            };
            if tokio::time::timeout_at(deadline, drained).await.is_err() {
                tracing::warn!("drain deadline reached with sessions or announcements pending");
            }
            // Finish in-flight requests in what is left of the deadline, then force.
            if tokio::time::timeout_at(deadline, handle.stop(true))
                .await
                .is_err()
            {
                handle.stop(false).await;
            }
        });
        self.server.await.context("serving")?;
        if let Some((metrics, _)) = &self.metrics {
            metrics.stop(true).await;
        }
        if self.node.send(Leave).await.is_err() {
            tracing::warn!("the node actor was gone; its lease will expire by itself");
        }
        self.state
            .db
            .close()
            .await
            .context("closing the database pool")?;
        tracing::info!("stopped");
        Ok(())
    }
}

/// How often the drain closes the next share of the client transports.
const DRAIN_TICK: Duration = Duration::from_millis(10);

/// Closes every client transport, spread evenly over `window`. Closing the transport (not
/// a Socket.IO disconnect) makes clients reconnect by themselves, through the load
/// balancer, to a node that is still ready; they then `sync` what they missed.
async fn drain(socket_io: &Engine<SocketIoFactory>, window: Duration) {
    let sessions = socket_io.sessions();
    tracing::info!(
        sessions = sessions.len(),
        ?window,
        "closing client transports"
    );
    // On a clock rather than one sleep per session: a timer cannot sleep less than a
    // millisecond, which would stretch the window for thousands of sessions.
    let total = sessions.len();
    let started = tokio::time::Instant::now();
    let mut tick = tokio::time::interval(DRAIN_TICK);
    let mut sessions = sessions.into_iter();
    let mut closed = 0;
    while closed < total {
        tick.tick().await;
        let due = if window.is_zero() {
            total
        } else {
            let share = started.elapsed().as_secs_f64() / window.as_secs_f64();
            ((share * total as f64).ceil() as usize).clamp(1, total)
        };
        for session in sessions.by_ref().take(due.saturating_sub(closed)) {
            session.do_send(CloseSession);
        }
        closed = closed.max(due);
    }
    // Sessions opened just before the handshakes were refused.
    for session in socket_io.sessions() {
        session.do_send(CloseSession);
    }
}

/// Waits until every session has closed and what their closing set off (presence
/// announcements, relayed to the other nodes) has been handed to the bus.
async fn settle(
    socket_io: &Engine<SocketIoFactory>,
    node: &Addr<NodeActor>,
    pending: &Pending,
    state: &AppState,
) {
    socket_io.all_closed().await;
    pending.settled().await;
    // The announcements went to the node actor: once it has handled them, the relaying
    // they started is pending work too.
    let _ = node.send(Settle).await;
    pending.settled().await;
    if let Err(error) = state.bus.flush().await {
        tracing::warn!(%error, "flushing the bus failed");
    }
}

/// The rate limiters from the settings, with a task that forgets idle buckets.
/// The webhooks, when `webhook_urls` has any.
fn webhooks(
    settings: &Settings,
    db: &DatabaseConnection,
    shutdown: &CancellationToken,
) -> anyhow::Result<Option<Webhooks>> {
    let Some(secret) = settings.webhook_secret.clone() else {
        return Ok(None);
    };
    if settings.webhook_urls.is_empty() {
        return Ok(None);
    }
    let webhooks = Webhooks::start(
        WebhookSettings {
            endpoints: settings.webhook_urls.clone(),
            secret,
            include_body: settings.webhook_include_body,
            retry_base: Duration::from_millis(settings.webhook_retry_base_ms),
            max_attempts: settings.webhook_max_attempts,
            queue_max: settings.webhook_queue_max,
        },
        db.clone(),
        shutdown.clone(),
    )?;
    Ok(Some(webhooks))
}

fn rate_limits(settings: &Settings, shutdown: CancellationToken) -> Arc<RateLimits> {
    let limits = Arc::new(RateLimits::new(settings.limits()));
    let idle = Arc::downgrade(&limits);
    actix_web::rt::spawn(async move {
        let mut every = tokio::time::interval(Duration::from_secs(60));
        while shutdown.run_until_cancelled(every.tick()).await.is_some() {
            match idle.upgrade() {
                Some(limits) => limits.forget_idle(),
                None => break,
            }
        }
    });
    limits
}

/// The directory and the bus: Redis and NATS in cluster mode, in-process standalone.
async fn infrastructure(
    settings: &Settings,
    keys: &Keys,
) -> Result<(Arc<dyn Directory>, Arc<dyn Bus>)> {
    Ok(match settings.mode()? {
        Mode::Standalone => (Arc::new(LocalDirectory::new()), Arc::new(LocalBus::new())),
        Mode::Cluster {
            redis_url,
            nats_url,
        } => {
            tracing::info!(redis = %redact_url(&redis_url), nats = %redact_url(&nats_url), "cluster mode");
            let directory = RedisDirectory::connect_with(
                &redis_url,
                keys.clone(),
                settings.redis_tls_ca_file.as_deref(),
            )
            .await
            .context("setting up the Redis directory")?;
            let bus =
                NatsBus::connect_with(&nats_url, &settings.node_id, &settings.nats_security())
                    .await
                    .context("setting up the NATS bus")?;
            (Arc::new(directory), Arc::new(bus))
        }
    })
}

/// Resolves on the first SIGINT or SIGTERM, naming it.
async fn stop_signal() -> &'static str {
    use tokio::signal::unix::{SignalKind, signal};
    match signal(SignalKind::terminate()) {
        Ok(mut terminate) => tokio::select! {
            _ = terminate.recv() => "SIGTERM",
            _ = tokio::signal::ctrl_c() => "SIGINT",
        },
        Err(error) => {
            tracing::warn!(%error, "cannot listen for SIGTERM; only SIGINT stops the node");
            let _ = tokio::signal::ctrl_c().await;
            "SIGINT"
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::time::Duration;

    use super::*;

    /// A burst of connects the node has not accepted yet is queued by the kernel, not
    /// dropped: with std's backlog of 128, the connects past it would wait for a SYN
    /// retransmission (a second or more) and fail the deadline.
    #[tokio::test]
    async fn a_listener_queues_a_burst_of_connects_before_accepting() {
        let listener = bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let address = listener.local_addr().unwrap();
        let mut connected = Vec::new();
        for _ in 0..300 {
            let connect = tokio::net::TcpStream::connect(address);
            let stream = tokio::time::timeout(Duration::from_millis(500), connect)
                .await
                .expect("a connect past the listen backlog waits for a SYN retransmission")
                .unwrap();
            // Held: a connect closed would free its place in the queue.
            connected.push(stream);
        }
    }
}
