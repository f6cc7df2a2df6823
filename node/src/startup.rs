//! Building the node and running it until it is told to stop.
//!
//! `Application::build` connects to the database, applies migrations, loads the token
//! secret and binds the listener (port 0 picks a free one, which tests use).
//! `run_until_stopped` serves until SIGINT or SIGTERM, then stops gracefully: `/readyz`
//! turns 503 at once, the listener stops accepting, in-flight requests finish (up to the
//! shutdown timeout) and the database pool is closed.

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use actix::{Actor, Addr};
use actix_web::dev::Server;
use actix_web::middleware::from_fn;
use actix_web::{App, HttpServer, web};
use anyhow::{Context, Result};
use confab_cluster::{Bus, Directory, Keys, LocalBus, LocalDirectory, NatsBus, RedisDirectory};
use confab_entities::migration::Migrator;
use sea_orm::{ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbBackend};
use sea_orm_migration::MigratorTrait;
use secrecy::ExposeSecret;

use crate::actors::node::{Leave, NodeActor};
use crate::auth::Tokens;
use crate::config::{Mode, Settings, redact_url};
use crate::state::AppState;
use crate::{api, metrics, store, tls};

/// A bound, ready-to-run node.
pub struct Application {
    server: Server,
    port: u16,
    state: AppState,
    node: Addr<NodeActor>,
}

impl std::fmt::Debug for Application {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Application")
            .field("port", &self.port)
            .finish_non_exhaustive()
    }
}

/// Opens the connection pool for `url`.
pub async fn connect(url: &str) -> Result<DatabaseConnection> {
    let mut options = ConnectOptions::new(url.to_owned());
    options
        .sqlx_logging(false)
        .connect_timeout(Duration::from_secs(10));
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
        let db = connect(&settings.database_url).await?;
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
        let (directory, bus) = infrastructure(settings).await?;
        let node = NodeActor::new(
            settings.node_id.clone(),
            directory.clone(),
            Duration::from_secs(settings.node_lease_ttl_secs),
        )
        .start();
        let state = AppState::new(db, tokens, directory, bus, metrics::recorder());

        let listener = TcpListener::bind(settings.listen)
            .with_context(|| format!("binding {}", settings.listen))?;
        let port = listener.local_addr()?.port();
        let data = web::Data::new(state.clone());
        let json_limit = settings.http_json_limit;
        let mut server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .wrap(from_fn(metrics::track))
                .configure(|cfg| api::configure(cfg, json_limit))
        })
        .disable_signals()
        .shutdown_timeout(settings.shutdown_timeout_secs);
        if settings.workers > 0 {
            server = server.workers(settings.workers);
        }
        let server = match (&settings.tls_cert, &settings.tls_key) {
            (Some(cert), Some(key)) => {
                server.listen_rustls_0_23(listener, tls::server_config(cert, key)?)?
            }
            _ => server.listen(listener)?,
        }
        .run();
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
            state,
            node,
        })
    }

    /// The port the listener is bound to.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Serves until SIGINT/SIGTERM, then stops gracefully and closes the pool.
    pub async fn run_until_stopped(self) -> Result<()> {
        let handle = self.server.handle();
        let state = self.state.clone();
        actix_web::rt::spawn(async move {
            let signal = stop_signal().await;
            tracing::info!(signal, "stopping: finishing in-flight requests");
            state.start_draining();
            handle.stop(true).await;
        });
        self.server.await.context("serving")?;
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

/// The directory and the bus: Redis and NATS in cluster mode, in-process standalone.
async fn infrastructure(settings: &Settings) -> Result<(Arc<dyn Directory>, Arc<dyn Bus>)> {
    Ok(match settings.mode()? {
        Mode::Standalone => (Arc::new(LocalDirectory::new()), Arc::new(LocalBus::new())),
        Mode::Cluster {
            redis_url,
            nats_url,
        } => {
            tracing::info!(redis = %redact_url(&redis_url), nats = %redact_url(&nats_url), "cluster mode");
            let directory = RedisDirectory::connect(&redis_url, Keys::default())
                .await
                .context("setting up the Redis directory")?;
            let bus = NatsBus::connect(&nats_url, &settings.node_id)
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
