//! A fresh, empty database per test, on each backend Confab supports.
//!
//! SQLite lives in a temporary directory. PostgreSQL and MySQL/MariaDB get a database with a
//! random name on the server named by `CONFAB_TEST_POSTGRES_URL` / `CONFAB_TEST_MYSQL_URL`
//! (defaults match what `scripts/test` sets up), dropped again when the handle is dropped.

use std::fmt;

use anyhow::{Context, Result};
use rand::Rng;
use sea_orm::{ConnectionTrait, Database, DatabaseConnection};
use tempfile::TempDir;

/// The server URL (no database) used for PostgreSQL tests unless overridden.
const DEFAULT_POSTGRES_URL: &str = "postgres://confab:confab@127.0.0.1:5432";
/// The server URL (no database) used for MySQL/MariaDB tests unless overridden.
const DEFAULT_MYSQL_URL: &str = "mysql://confab:confab@127.0.0.1:3306";

/// The database engines Confab runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// SQLite in a local file.
    Sqlite,
    /// PostgreSQL.
    Postgres,
    /// MySQL or MariaDB.
    MySql,
}

impl Backend {
    /// Every backend, for tests that must pass on all of them.
    pub const ALL: [Backend; 3] = [Backend::Sqlite, Backend::Postgres, Backend::MySql];
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
            Backend::MySql => "mysql",
        })
    }
}

/// A database created for one test.
#[derive(Debug)]
pub struct TestDb {
    backend: Backend,
    url: String,
    /// Where the database was created, to drop it again (server backends only).
    server: Option<(String, String)>,
    /// Keeps the SQLite file's directory alive.
    _dir: Option<TempDir>,
}

impl TestDb {
    /// Creates an empty database on `backend`.
    pub async fn create(backend: Backend) -> Result<Self> {
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir()?;
                let url = format!("sqlite://{}?mode=rwc", dir.path().join("test.db").display());
                Ok(Self {
                    backend,
                    url,
                    server: None,
                    _dir: Some(dir),
                })
            }
            Backend::Postgres | Backend::MySql => Self::create_on_server(backend).await,
        }
    }

    async fn create_on_server(backend: Backend) -> Result<Self> {
        let (var, default, admin_db) = match backend {
            Backend::Postgres => ("CONFAB_TEST_POSTGRES_URL", DEFAULT_POSTGRES_URL, "postgres"),
            _ => ("CONFAB_TEST_MYSQL_URL", DEFAULT_MYSQL_URL, "mysql"),
        };
        let server = std::env::var(var).unwrap_or_else(|_| default.to_owned());
        let server = server.trim_end_matches('/').to_owned();
        let name = format!("confab_test_{:016x}", rand::rng().random::<u64>());
        let admin = Database::connect(format!("{server}/{admin_db}"))
            .await
            .with_context(|| format!("connecting to the {backend} test server {var}"))?;
        admin
            .execute_unprepared(&format!("CREATE DATABASE {name}"))
            .await
            .with_context(|| format!("creating database {name}"))?;
        admin.close().await?;
        Ok(Self {
            backend,
            url: format!("{server}/{name}"),
            server: Some((format!("{server}/{admin_db}"), name)),
            _dir: None,
        })
    }

    /// The backend this database runs on.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The sea-orm URL of the database.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Opens a connection pool to the database.
    pub async fn connect(&self) -> Result<DatabaseConnection> {
        Database::connect(&self.url)
            .await
            .with_context(|| format!("connecting to the {} test database", self.backend))
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let Some((admin_url, name)) = self.server.take() else {
            return;
        };
        let drop_sql = match self.backend {
            Backend::Postgres => format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
            _ => format!("DROP DATABASE IF EXISTS {name}"),
        };
        // Drop runs inside or outside a runtime; a thread with its own runtime works in both.
        let dropped = std::thread::spawn(move || -> Result<()> {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            runtime.block_on(async {
                let admin = Database::connect(admin_url).await?;
                admin.execute_unprepared(&drop_sql).await?;
                admin.close().await?;
                Ok(())
            })
        })
        .join();
        if !matches!(dropped, Ok(Ok(()))) {
            eprintln!("warning: could not drop test database {name}");
        }
    }
}
